/* SPDX-License-Identifier: MIT */
/* vmmig_source_set_tls() / vmmig_dest_set_tls(): load the credentials. */
#include <errno.h>

#include "dest/dest.h"
#include "source/source.h"
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
		vlog(log, VMMIG_LOG_ERROR, "%s",
		     err[0] ? err : vmmig_strerror(ret));
		return ret;
	}
	tls_creds_free(*slot);
	*slot = cr;
	return 0;
#else
	(void)slot, (void)cfg, (void)server;
	vlog(log, VMMIG_LOG_ERROR, "tls: libvmmig was built without GnuTLS");
	return -ENOTSUP;
#endif
}

VMMIG_API int vmmig_source_set_tls(struct vmmig_source *src,
				   const struct vmmig_tls_config *cfg)
{
	if (!src)
		return -EINVAL;
	if (src->started)
		return -EBUSY;
	return set_tls(&src->sh.tls, cfg, false, &src->log);
}

VMMIG_API int vmmig_dest_set_tls(struct vmmig_dest *dst,
				 const struct vmmig_tls_config *cfg)
{
	if (!dst)
		return -EINVAL;
	if (dst->started)
		return -EBUSY;
	return set_tls(&dst->sh.tls, cfg, true, &dst->log);
}
