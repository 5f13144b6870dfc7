/* SPDX-License-Identifier: MIT */
/*
 * One TLS session over one transport channel. GnuTLS never touches a
 * socket: its push function appends ciphertext to our send buffer, which
 * goes to the transport's send() once per chan send (or when full), and its
 * pull function serves from a receive buffer that one transport receive
 * fills with as much as has arrived. So a 1 MiB batch of pages costs a few
 * transport operations, not one per 16 KiB TLS record, and io_uring moves
 * the ciphertext exactly as it moves plaintext without TLS.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls_priv.h"

/* Ciphertext buffered each way: a whole PAGES record (64 pages) and its
 * TLS framing go out in one transport send. */
#define TLS_BUF (512u << 10)
#define TLS_REC 16384u        /* TLS's largest record plaintext */

struct tls_chan {
	gnutls_session_t s;
	const struct vmmig_transport_ops *ops;
	void *priv;            /* the transport's channel */
	bool established;      /* handshake done: buffer what we send */
	int first;             /* first byte the peer sent; -1: none yet */
	size_t rec;            /* plaintext per record */
	int tx_err, rx_err;    /* transport error behind a push/pull failure */
	uint8_t *tx;           /* ciphertext not handed to the transport */
	size_t tx_len;
	uint8_t *stage;        /* small sends gathered into one record */
	size_t stage_len;
	uint8_t *rx;           /* ciphertext received, not yet consumed */
	size_t rx_off, rx_len;
	char rx_why[160];      /* TLS's reason for a failed receive */
	char cipher[48];       /* version and cipher agreed on */
};

static int flush_tx(struct tls_chan *t)
{
	struct iovec iov = { t->tx, t->tx_len };
	int ret;

	if (!t->tx_len)
		return 0;
	ret = t->ops->send(t->priv, &iov, 1);
	t->tx_len = 0;
	return ret;
}

/*
 * Errors go back to GnuTLS through errno (its default errno function reads
 * the calling thread's), never gnutls_transport_set_errno(): that one is
 * per session, and the sending and receiving threads share the session.
 */
static ssize_t push(gnutls_transport_ptr_t p, const giovec_t *iov, int iovcnt)
{
	struct tls_chan *t = p;
	size_t total = 0;
	int ret = 0;

	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (t->tx_len + total > TLS_BUF)
		ret = flush_tx(t);
	/* The handshake waits for answers: nothing may linger in the buffer. */
	if (!ret && (!t->established || total > TLS_BUF)) {
		ret = t->ops->send(t->priv, (const struct iovec *)iov, iovcnt);
	} else if (!ret) {
		for (int i = 0; i < iovcnt; i++) {
			memcpy(t->tx + t->tx_len, iov[i].iov_base,
			       iov[i].iov_len);
			t->tx_len += iov[i].iov_len;
		}
	}
	if (ret) {
		t->tx_err = ret;
		errno = EIO;
		return -1;
	}
	return (ssize_t)total;
}

static int refill(struct tls_chan *t, size_t want)
{
	int ret;

	t->rx_off = t->rx_len = 0;
	if (t->ops->version >= 2 && t->ops->recv_some) {
		ret = t->ops->recv_some(t->priv, t->rx, 1, TLS_BUF);
		if (ret < 0)
			return ret;
		t->rx_len = (size_t)ret;
	} else {
		/* A transport that can only fill a whole buffer gets GnuTLS's
		 * own requests, which never ask past the record being read. */
		struct iovec iov = { t->rx, want < TLS_BUF ? want : TLS_BUF };

		ret = t->ops->recv(t->priv, &iov, 1);
		if (ret < 0)
			return ret;
		t->rx_len = iov.iov_len;
	}
	if (t->first < 0 && t->rx_len)
		t->first = t->rx[0];
	return 0;
}

static ssize_t pull(gnutls_transport_ptr_t p, void *data, size_t len)
{
	struct tls_chan *t = p;
	size_t n;

	if (t->rx_off == t->rx_len) {
		int ret = refill(t, len);

		if (ret) {
			t->rx_err = ret;
			errno = EIO;
			return -1;
		}
	}
	n = t->rx_len - t->rx_off;
	if (n > len)
		n = len;
	memcpy(data, t->rx + t->rx_off, n);
	t->rx_off += n;
	return (ssize_t)n;
}

/* Data is always "ready": pull() blocks, and the core bounds the wait by
 * shutting the transport channel down. */
static int pull_timeout(gnutls_transport_ptr_t p, unsigned ms)
{
	(void)p, (void)ms;
	return 1;
}

int tls_chan_new(struct tls_creds *cr, const struct vmmig_transport_ops *ops,
		 void *priv, const char *peer_name, struct tls_chan **out)
{
	struct tls_chan *t;
	int ret;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->ops = ops;
	t->priv = priv;
	t->first = -1;
	t->tx = malloc(TLS_BUF);
	t->rx = malloc(TLS_BUF);
	t->stage = malloc(TLS_REC);
	/* No session tickets: nothing resumes, and a ticket would be a
	 * message the receiving thread has to answer. */
	if (!t->tx || !t->rx || !t->stage ||
	    gnutls_init(&t->s, (cr->server ? GNUTLS_SERVER : GNUTLS_CLIENT) |
				       GNUTLS_NO_TICKETS)) {
		tls_chan_free(t);
		return -ENOMEM;
	}
	gnutls_session_set_ptr(t->s, cr);
	ret = gnutls_priority_set(t->s, cr->prio);
	if (!ret && cr->x509)
		ret = gnutls_credentials_set(t->s, GNUTLS_CRD_CERTIFICATE,
					     cr->cert);
	else if (!ret)
		ret = gnutls_credentials_set(t->s, GNUTLS_CRD_PSK,
					     cr->server ? (void *)cr->psk_srv
							: (void *)cr->psk_cli);
	if (!ret && cr->x509) {
		/* Mutual: the server demands a client certificate; both
		 * sides check the peer's against the CA, the client also
		 * against the name it expects. */
		if (cr->server)
			gnutls_certificate_server_set_request(t->s,
							      GNUTLS_CERT_REQUIRE);
		else if (peer_name)
			ret = gnutls_server_name_set(t->s, GNUTLS_NAME_DNS,
						     peer_name,
						     strlen(peer_name));
		gnutls_session_set_verify_cert(t->s, peer_name, 0);
	}
	if (ret) {
		tls_chan_free(t);
		return -EINVAL;
	}
	gnutls_transport_set_ptr(t->s, t);
	gnutls_transport_set_vec_push_function(t->s, push);
	gnutls_transport_set_pull_function(t->s, pull);
	gnutls_transport_set_pull_timeout_function(t->s, pull_timeout);
	gnutls_handshake_set_timeout(t->s, GNUTLS_INDEFINITE_TIMEOUT);
	*out = t;
	return 0;
}

static bool tls_content_type(int byte)
{
	/* change_cipher_spec, alert, src_handshake, application_data */
	return byte >= 20 && byte <= 23;
}

static int handshake_error(struct tls_chan *t, int ret, bool *plain,
			   char *err, size_t errlen)
{
	const struct tls_creds *cr = gnutls_session_get_ptr(t->s);
	/* With PSK a wrong key surfaces as a bad binder or Finished. */
	const char *hint = cr->x509 ? "" : " (not the same pre-shared key "
					   "on both sides?)";
	gnutls_datum_t out = { 0 };
	int inner = t->rx_err ? t->rx_err : t->tx_err;

	if (t->first >= 0 && !tls_content_type(t->first)) {
		*plain = true;
		snprintf(err, errlen, "peer does not speak TLS (a plaintext "
			 "migration stream?)");
		return -EPROTO;
	}
	if (ret == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR &&
	    !gnutls_certificate_verification_status_print(
		    gnutls_session_get_verify_cert_status(t->s),
		    GNUTLS_CRT_X509, &out, 0)) {
		snprintf(err, errlen, "TLS peer certificate rejected: %s",
			 (const char *)out.data);
		gnutls_free(out.data);
		return -EACCES;
	}
	if (inner) {
		char eb[64];

		snprintf(err, errlen, "connection lost during the TLS "
			 "handshake: %s", strerror_r(-inner, eb, sizeof(eb)));
		return inner;
	}
	if (ret == GNUTLS_E_FATAL_ALERT_RECEIVED)
		snprintf(err, errlen, "TLS handshake refused by the peer: %s%s",
			 gnutls_alert_get_name(gnutls_alert_get(t->s)), hint);
	else
		snprintf(err, errlen, "TLS handshake failed: %s%s",
			 gnutls_strerror(ret), hint);
	return -EACCES;
}

int tls_chan_handshake(struct tls_chan *t, bool *plain, char *err,
		       size_t errlen)
{
	int ret;

	*plain = false;
	do
		ret = gnutls_handshake(t->s);
	while (ret < 0 && !gnutls_error_is_fatal(ret));
	if (ret < 0) {
		int code = handshake_error(t, ret, plain, err, errlen);

		/* Tell a TLS peer why, best effort (a plaintext one would
		 * read it as garbage: the caller answers that one). */
		if (!*plain && !t->rx_err && !t->tx_err)
			gnutls_alert_send_appropriate(t->s, ret);
		return code;
	}
	t->rec = gnutls_record_get_max_size(t->s);
	if (!t->rec || t->rec > TLS_REC)
		t->rec = TLS_REC;
	t->established = true;
	snprintf(t->cipher, sizeof(t->cipher), "%s %s",
		 gnutls_protocol_get_name(gnutls_protocol_get_version(t->s)),
		 gnutls_cipher_get_name(gnutls_cipher_get(t->s)));
	return 0;
}

const char *tls_chan_cipher(const struct tls_chan *t)
{
	return t->cipher;
}

static int map_err(ssize_t ret, int inner)
{
	if (inner)
		return inner;
	if (ret == 0 || ret == GNUTLS_E_PREMATURE_TERMINATION)
		return -ECONNRESET; /* the peer closed */
	return -EPROTO; /* a record that failed to decrypt, a bad alert ... */
}

/* One record of @len <= t->rec bytes. */
static int send_record(struct tls_chan *t, const void *buf, size_t len)
{
	ssize_t ret;

	do
		ret = gnutls_record_send(t->s, buf, len);
	while (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED);
	if (ret < 0)
		return map_err(ret, t->tx_err);
	return (size_t)ret == len ? 0 : -EIO;
}

/*
 * The entries from @*i on that are adjacent in memory, as one span: pages
 * of a batch usually are (a region's consecutive pages), and a span of
 * 16 KiB or more is encrypted where it lies instead of being gathered.
 */
static size_t next_span(const struct iovec *iov, int iovcnt, int *i,
			uint8_t **p)
{
	size_t len = iov[*i].iov_len;

	*p = iov[*i].iov_base;
	for ((*i)++; *i < iovcnt && len &&
		     (uintptr_t)iov[*i].iov_base == (uintptr_t)*p + len;
	     (*i)++)
		len += iov[*i].iov_len;
	return len;
}

int tls_chan_send(struct tls_chan *t, const struct iovec *iov, int iovcnt)
{
	int ret = 0;

	for (int i = 0; i < iovcnt && !ret;) {
		uint8_t *p;
		size_t left = next_span(iov, iovcnt, &i, &p);

		while (left && !ret) {
			size_t n = t->rec;

			if (t->stage_len || left < t->rec) {
				/* Headers and small records share one. */
				n = t->rec - t->stage_len;
				if (n > left)
					n = left;
				memcpy(t->stage + t->stage_len, p, n);
				t->stage_len += n;
				if (t->stage_len == t->rec) {
					ret = send_record(t, t->stage, t->rec);
					t->stage_len = 0;
				}
			} else {
				ret = send_record(t, p, n); /* no copy */
			}
			p += n;
			left -= n;
		}
	}
	if (!ret && t->stage_len)
		ret = send_record(t, t->stage, t->stage_len);
	t->stage_len = 0;
	if (!ret)
		ret = flush_tx(t);
	t->tx_len = 0; /* after an error: the channel is dead anyway */
	return ret;
}

static int recv_error(struct tls_chan *t, ssize_t ret)
{
	if (t->rx_err || ret == 0 || ret == GNUTLS_E_PREMATURE_TERMINATION)
		return map_err(ret, t->rx_err);
	if (ret == GNUTLS_E_FATAL_ALERT_RECEIVED) {
		/* TLS 1.3: a server that refuses the client's certificate
		 * says so after the client finished its handshake. */
		snprintf(t->rx_why, sizeof(t->rx_why), "TLS refused by the "
			 "peer: %s", gnutls_alert_get_name(gnutls_alert_get(t->s)));
		return -EACCES;
	}
	snprintf(t->rx_why, sizeof(t->rx_why), "TLS: %s",
		 gnutls_strerror((int)ret));
	return -EPROTO;
}

const char *tls_chan_error(const struct tls_chan *t)
{
	return t->rx_why[0] ? t->rx_why : NULL;
}

/* At least @min, at most @max bytes of plaintext into @buf: the count. */
static int recv_into(struct tls_chan *t, uint8_t *buf, size_t min,
		     size_t max)
{
	size_t got = 0;

	while (got < min) {
		ssize_t ret = gnutls_record_recv(t->s, buf + got, max - got);

		if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED)
			continue;
		if (ret <= 0)
			return recv_error(t, ret);
		got += (size_t)ret;
	}
	return (int)got;
}

int tls_chan_recv(struct tls_chan *t, const struct iovec *iov, int iovcnt)
{
	for (int i = 0; i < iovcnt;) {
		uint8_t *p;
		size_t left = next_span(iov, iovcnt, &i, &p);

		/* recv_into() returns an int: take at most 1 GiB per call. */
		while (left) {
			size_t n = left < (1u << 30) ? left : (1u << 30);
			int ret = recv_into(t, p, n, n);

			if (ret < 0)
				return ret;
			p += n;
			left -= n;
		}
	}
	return 0;
}

int tls_chan_recv_some(struct tls_chan *t, void *buf, size_t min, size_t max)
{
	if (!buf || min < 1 || min > max || max > INT32_MAX)
		return -EINVAL;
	return recv_into(t, buf, min, max);
}

void tls_chan_free(struct tls_chan *t)
{
	if (!t)
		return;
	if (t->s)
		gnutls_deinit(t->s);
	free(t->tx);
	free(t->rx);
	free(t->stage);
	free(t);
}
