/* SPDX-License-Identifier: MIT */
/* Checking a transport's ops table; picking a built-in transport from a
 * "scheme:address" URI. */
#include <errno.h>
#include <string.h>

#include <vmmig/transport.h>

#include "chan.h"

int chan_ops_check(const struct vmmig_transport_ops *t, int uses)
{
	/* Version-1 tables (no recv_some) are still accepted. */
	if (!t || t->version < 1 || t->version > VMMIG_TRANSPORT_OPS_VERSION ||
	    !t->send || !t->recv || !t->shutdown || !t->close)
		return -EINVAL;
	if ((uses & TRANSPORT_CONNECTS) && !t->connect)
		return -EINVAL;
	if ((uses & TRANSPORT_LISTENS) &&
	    (!t->listen || !t->accept || !t->listener_close))
		return -EINVAL;
	return 0;
}

int vmmig_transport_parse_uri(const char *uri,
			      const struct vmmig_transport_ops **ops,
			      const char **addr)
{
	static const struct {
		const char *scheme;
		const struct vmmig_transport_ops *(*get)(void);
	} table[] = {
		{ "tcp:", vmmig_transport_tcp },
		{ "unix:", vmmig_transport_unix },
		{ "inproc:", vmmig_transport_inproc },
	};

	if (!uri || !ops || !addr)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		size_t n = strlen(table[i].scheme);

		if (strncmp(uri, table[i].scheme, n))
			continue;
		if (!uri[n])
			return -EINVAL; /* empty address */
		*ops = table[i].get();
		*addr = uri + n;
		return 0;
	}
	return -EINVAL;
}
