/* SPDX-License-Identifier: MIT */
/* --tls-psk / --tls-x509 and friends as a struct vmmig_tls_config. */
#include <string.h>

#include "cli.h"

bool tls__config(const struct opts *o, struct vmmig_tls_config *c)
{
	memset(c, 0, sizeof(*c));
	if (!o->tls_psk && !o->tls_x509)
		return false;
	c->struct_size = sizeof(*c);
	c->psk_file = o->tls_psk;
	c->psk_identity = o->tls_psk_identity;
	c->x509_dir = o->tls_x509;
	c->hostname = o->tls_hostname;
	c->priority = o->tls_priority;
	return true;
}
