/* SPDX-License-Identifier: MIT */
/*
 * A destination's listener: a transport's listener state, allocated here
 * (listener_size bytes, zeroed), reached only through these wrappers,
 * which check its state and the optional ops, as chan.c does for channels.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "chan.h"

int chan_listener_open(struct listener *l,
		       const struct vmmig_transport_ops *ops, const char *addr)
{
	int ret;

	if (l->open)
		return -EBUSY;
	ret = chan_ops_check(ops, TRANSPORT_LISTENS);
	if (ret)
		return ret;
	l->priv = calloc(1, ops->listener_size ? ops->listener_size : 1);
	if (!l->priv)
		return -ENOMEM;
	ret = chan_ops_ret(ops->listen(l->priv, addr));
	if (ret) {
		free(l->priv);
		l->priv = NULL;
		return ret;
	}
	l->ops = ops;
	l->open = true;
	return 0;
}

int chan_listener_addr(struct listener *l, const char *addr, char *buf,
		       size_t len)
{
	if (!l->open)
		return -EINVAL;
	/* Without chan_listener_addr() the address asked for is the one bound. */
	if (!l->ops->listener_addr)
		return snprintf(buf, len, "%s", addr) < 0 ? -EINVAL : 0;
	return chan_ops_ret(l->ops->listener_addr(l->priv, buf, len));
}

void chan_listener_shutdown(struct listener *l)
{
	if (l->open && l->ops->listener_shutdown)
		l->ops->listener_shutdown(l->priv);
}

void chan_listener_close(struct listener *l)
{
	if (l->open)
		l->ops->listener_close(l->priv);
	free(l->priv);
	l->priv = NULL;
	l->open = false;
}
