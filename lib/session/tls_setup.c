/* SPDX-License-Identifier: MIT */
/* vmmig_source_set_tls() / vmmig_dest_set_tls(): load the credentials
 * into the session. */
#include <errno.h>

#include "session.h"
#include "tls/tls.h"

/* Replace *@slot with credentials for @cfg (NULL: none). */
static int set_tls(struct tls_creds **slot, const struct vmmig_tls_config *cfg,
		   bool server, const struct logger *log)
{
#ifdef VMMIG_HAVE_TLS
	struct tls_creds *cr = NULL;
	char err[320] = "";
	int ret = 0;

	if (cfg)
		ret = tls_creds_new(cfg, server, &cr, err, sizeof(err));
	if (ret) {
		log_msg(log, VMMIG_LOG_ERROR, "%s",
			err[0] ? err : vmmig_strerror(ret));
		return ret;
	}
	tls_creds_free(*slot);
	*slot = cr;
	return 0;
#else
	(void)slot, (void)cfg, (void)server;
	log_msg(log, VMMIG_LOG_ERROR, "tls: libvmmig was built without GnuTLS");
	return -ENOTSUP;
#endif
}

int sess_set_tls(struct session *s, const struct vmmig_tls_config *cfg,
		 bool server)
{
	int ret = sess_configurable(s);

	return ret ? ret : set_tls(&s->sh.tls, cfg, server, &s->log);
}
