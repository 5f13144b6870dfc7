/* SPDX-License-Identifier: MIT */
/*
 * TLS over any transport channel (GnuTLS), private to the library.
 *
 * A tls_chan sits between the core's channel and the transport's: GnuTLS's
 * push and pull functions go to the transport's send/recv(_some) through
 * buffers of our own, so the transport (io_uring included) moves only
 * ciphertext, and one transport operation carries many TLS records.
 *
 * Threading as the transport's: one thread sends while another receives;
 * the handshake runs before either.
 */
#ifndef VMMIG_LIB_TLS_H
#define VMMIG_LIB_TLS_H

#include <stdbool.h>
#include <errno.h>
#include <stddef.h>
#include <sys/uio.h>

#include <vmmig/tls.h>
#include <vmmig/transport.h>

struct tls_creds;  /* loaded credentials + priorities, shared by channels */
struct tls_chan;   /* one TLS session over one transport channel */

#ifdef VMMIG_HAVE_TLS

/* Load @cfg for the client (source) or server (destination) side. On
 * failure @err says why. Return 0, -EINVAL, -ENOENT, -EACCES, -ENOMEM. */
int tls_creds_new(const struct vmmig_tls_config *cfg, bool server,
		  struct tls_creds **out, char *err, size_t errlen);
void tls_creds_free(struct tls_creds *cr);
/* x509 client: the configured name to check, or NULL (the host dialled). */
const char *tls_creds_hostname(const struct tls_creds *cr);
bool tls_creds_x509(const struct tls_creds *cr);

/* Wrap a connected transport channel (borrowed: @ops/@priv stay the
 * caller's). @peer_name: what the server's certificate must name (client,
 * x509), else NULL. Return 0, -ENOMEM, -EINVAL. */
int tls_chan_new(struct tls_creds *cr, const struct vmmig_transport_ops *ops,
		 void *priv, const char *peer_name, struct tls_chan **out);
/*
 * Run the src_handshake (blocking; the caller bounds it by shutting the
 * transport channel down). Return 0; -EACCES: authentication failed;
 * -EPROTO: the peer does not speak TLS (then *@plain tells whether it
 * sent something that is not TLS, e.g. a plaintext migration stream);
 * or the transport's error. @err says why.
 */
int tls_chan_handshake(struct tls_chan *t, bool *plain, char *err,
		       size_t errlen);
/* As the transport ops of the same names (see vmmig/transport.h). */
int tls_chan_send(struct tls_chan *t, const struct iovec *iov, int iovcnt);
int tls_chan_recv(struct tls_chan *t, const struct iovec *iov, int iovcnt);
int tls_chan_recv_some(struct tls_chan *t, void *buf, size_t min,
		       size_t max);
/* Why the last receive failed, if TLS itself refused (an alert from the
 * peer, a record that did not decrypt); NULL otherwise. Receiving thread. */
const char *tls_chan_error(const struct tls_chan *t);
/* What the handshake agreed on, e.g. "TLS1.3 AES-128-GCM" (the log says
 * it, a test checks the default). After tls_chan_handshake(). */
const char *tls_chan_cipher(const struct tls_chan *t);
/* Accepts NULL. Does not close the transport channel. */
void tls_chan_free(struct tls_chan *t);

#else /* built without GnuTLS: nothing can create either object */

static inline void tls_creds_free(struct tls_creds *cr) { (void)cr; }
static inline const char *tls_creds_hostname(const struct tls_creds *cr)
{
	(void)cr;
	return NULL;
}
static inline bool tls_creds_x509(const struct tls_creds *cr)
{
	(void)cr;
	return false;
}
static inline int tls_chan_new(struct tls_creds *cr,
			       const struct vmmig_transport_ops *ops,
			       void *priv, const char *peer_name,
			       struct tls_chan **out)
{
	(void)cr, (void)ops, (void)priv, (void)peer_name, (void)out;
	return -ENOTSUP;
}
static inline int tls_chan_handshake(struct tls_chan *t, bool *plain,
				     char *err, size_t errlen)
{
	(void)t, (void)plain, (void)err, (void)errlen;
	return -ENOTSUP;
}
static inline int tls_chan_send(struct tls_chan *t, const struct iovec *iov,
				int iovcnt)
{
	(void)t, (void)iov, (void)iovcnt;
	return -ENOTSUP;
}
static inline int tls_chan_recv(struct tls_chan *t, const struct iovec *iov,
				int iovcnt)
{
	(void)t, (void)iov, (void)iovcnt;
	return -ENOTSUP;
}
static inline int tls_chan_recv_some(struct tls_chan *t, void *buf,
				     size_t min, size_t max)
{
	(void)t, (void)buf, (void)min, (void)max;
	return -ENOTSUP;
}
static inline const char *tls_chan_error(const struct tls_chan *t)
{
	(void)t;
	return NULL;
}
static inline const char *tls_chan_cipher(const struct tls_chan *t)
{
	(void)t;
	return "";
}
static inline void tls_chan_free(struct tls_chan *t) { (void)t; }

#endif
#endif
