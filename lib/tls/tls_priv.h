/* SPDX-License-Identifier: MIT */
/* What tls_creds.c and tls_chan.c share (lib/tls only). */
#ifndef VMMIG_LIB_TLS_PRIV_H
#define VMMIG_LIB_TLS_PRIV_H

#include <gnutls/gnutls.h>

#include "tls.h"

struct tls_creds {
	bool server;
	bool x509;
	gnutls_priority_t prio;
	gnutls_certificate_credentials_t cert;   /* x509 */
	gnutls_psk_client_credentials_t psk_cli; /* PSK, source */
	gnutls_psk_server_credentials_t psk_srv; /* PSK, destination */
	struct psk_key *keys;                    /* destination's key file */
	unsigned nkeys;
	char *hostname;                          /* configured name or NULL */
};

/* One line of a keys.psk file. */
struct psk_key {
	char *identity;
	unsigned char *key;
	size_t len;
};

#endif
