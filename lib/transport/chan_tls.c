/* SPDX-License-Identifier: MIT */
/*
 * TLS on a core channel: after the transport connected or accepted it, run
 * the handshake; from then on chan_send/chan_recv go through the TLS
 * session (lib/tls), which hands the transport ciphertext only.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "base/failure.h"
#include "chan.h"
#include "wire/wire.h"
#include "tls/tls.h"

/* The host part of a "HOST:PORT" or "[V6]:PORT" tcp address, or NULL. */
static const char *dialled_host(const struct vmmig_transport_ops *ops,
				const char *addr, char *buf, size_t len)
{
	const char *end;
	size_t n;

	if (ops != vmmig_transport_tcp() || !addr)
		return NULL;
	if (*addr == '[') {
		addr++;
		end = strchr(addr, ']');
	} else {
		end = strrchr(addr, ':');
	}
	if (!end || end == addr || (size_t)(end - addr) >= len)
		return NULL;
	n = (size_t)(end - addr);
	memcpy(buf, addr, n);
	buf[n] = '\0';
	return buf;
}

/* Handshake on a connected channel, bounded by @timeout_ms (-1: none). */
static int secure(struct chan *c, const char *peer_name, int timeout_ms,
		  bool *plain)
{
	struct chan_guard g;
	int ret;

	*plain = false;
	ret = tls_chan_new(c->sh->tls, c->ops, c->priv, peer_name, &c->tls);
	if (ret) {
		snprintf(c->err, sizeof(c->err), "setting up TLS: %s",
			 vmmig_strerror(ret));
		return ret;
	}
	ret = chan_guard_arm(&g, c, timeout_ms);
	if (ret)
		return ret;
	ret = tls_chan_handshake(c->tls, plain, c->err, sizeof(c->err));
	if (chan_guard_disarm(&g)) {
		snprintf(c->err, sizeof(c->err), "TLS handshake not done "
			 "within %d ms", timeout_ms);
		ret = -ETIMEDOUT;
	}
	if (ret) {
		tls_chan_free(c->tls);
		c->tls = NULL;
	}
	return ret;
}

int chan_tls_prepare(struct chan *c, const char *addr, int timeout_ms)
{
	const char *name = tls_creds_hostname(c->sh->tls);

	if (!name)
		name = dialled_host(c->ops, addr, c->peer, sizeof(c->peer));
	if (!name && tls_creds_x509(c->sh->tls)) {
		snprintf(c->err, sizeof(c->err), "x509 TLS over transport %s "
			 "needs a name to check the destination's certificate "
			 "against (vmmig_tls_config.hostname)", c->ops->name);
		return -EINVAL;
	}
	if (name != c->peer)
		snprintf(c->peer, sizeof(c->peer), "%s", name ? name : "");
	c->tls_timeout_ms = timeout_ms;
	c->tls_pending = true;
	return 0;
}

int chan_tls_start(struct chan *c)
{
	bool plain;
	int ret;

	if (!c->tls_pending)
		return 0;
	c->tls_pending = false;
	ret = secure(c, tls_creds_x509(c->sh->tls) ? c->peer : NULL,
		     c->tls_timeout_ms, &plain);
	if (ret && !plain && ret == -ECONNRESET)
		snprintf(c->err, sizeof(c->err), "the destination closed the "
			 "connection during the TLS src_handshake (it does not "
			 "accept this key or certificate?)");
	return ret;
}

struct start_arg {
	struct chan *all;
	unsigned n, i;
	atomic_int *first;       /* the channel that failed first, or -1 */
	int (*then)(struct chan *c, unsigned i, void *arg);
	void *arg;
	int ret;
	pthread_t thread;
	bool running;
};

static void *start_main(void *p)
{
	struct start_arg *a = p;
	struct chan *c = &a->all[a->i];

	a->ret = chan_tls_start(c);
	if (!a->ret)
		a->ret = a->then(c, a->i, a->arg);
	/* The first failure is the cause; the others may be its echoes
	 * (channels shut down below). */
	if (a->ret) {
		int none = -1;

		atomic_compare_exchange_strong(a->first, &none, (int)a->i);
	}
	/* A refused handshake: the others may be waiting on a destination
	 * that gave up. (A failed HELLO is left to the caller, which reads
	 * the destination's reason on channel 0.) */
	if (a->ret && !c->tls)
		for (unsigned j = 0; j < a->n; j++)
			if (j != a->i)
				chan_shutdown(&a->all[j]);
	return NULL;
}

int chan_tls_start_all(struct chan *c, unsigned n,
		       int (*then)(struct chan *c, unsigned i, void *arg),
		       void *arg, unsigned *failed)
{
	struct start_arg a[VMMIG_MAX_CHANNELS];
	atomic_int first = -1;

	*failed = 0;
	if (n > VMMIG_MAX_CHANNELS)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		a[i] = (struct start_arg){ .all = c, .n = n, .i = i,
					   .first = &first, .then = then,
					   .arg = arg };
		a[i].running = !pthread_create(&a[i].thread, NULL, start_main,
					       &a[i]);
		if (!a[i].running)
			start_main(&a[i]); /* no thread: in line, in order */
	}
	for (unsigned i = 0; i < n; i++)
		if (a[i].running)
			pthread_join(a[i].thread, NULL);
	if (atomic_load(&first) < 0)
		return 0;
	*failed = (unsigned)atomic_load(&first);
	return a[*failed].ret;
}

int chan_tls_server(struct chan *c)
{
	bool plain;
	int ret = secure(c, NULL, -1, &plain);

	/* A plaintext source reads our answer as a HELLO_ACK: say why. */
	if (ret && plain)
		chan_send_status(c, WIRE_HELLO_ACK, -EACCES, 0,
				 "this destination accepts TLS connections "
				 "only");
	return ret;
}
