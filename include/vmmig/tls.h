/* SPDX-License-Identifier: MIT */
/*
 * libvmmig — TLS on every channel of a migration (GnuTLS).
 *
 * With TLS set, each channel (every data channel, the urgent channel and the
 * return path they carry) runs a TLS session over the transport before the
 * first record: the handshake, the session UUID and all records then travel
 * inside the authenticated, encrypted channel. It works over any transport
 * (the built-in io_uring TCP and Unix ones, the in-process pair, an
 * embedder's): the library encrypts into its own buffers and hands the
 * transport ciphertext. Without TLS set nothing changes.
 *
 * Two ways to authenticate, as QEMU's tls-creds-psk and tls-creds-x509:
 *   - PSK: both sides hold the same key file (QEMU's keys.psk format: one
 *     "IDENTITY:HEXKEY" line per identity). The source presents
 *     @psk_identity; the destination looks it up in its file.
 *   - x509, mutual: @x509_dir holds ca-cert.pem plus server-cert.pem and
 *     server-key.pem (destination) or client-cert.pem and client-key.pem
 *     (source). The destination demands a client certificate signed by its
 *     CA; the source checks the destination's certificate against its CA
 *     and against @hostname, or else the host part of a "tcp:HOST:PORT"
 *     address it dialled (a name or an IP address).
 *
 * The library must have been built with GnuTLS (meson option tls);
 * otherwise the set calls return -ENOTSUP.
 */
#ifndef VMMIG_TLS_H
#define VMMIG_TLS_H

#include <vmmig/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Set struct_size = sizeof(struct vmmig_tls_config); fields are only ever
 * appended. Exactly one of @x509_dir and @psk_file. Strings are copied and
 * files read by the set call: they need not outlive it.
 */
struct vmmig_tls_config {
	uint32_t struct_size;
	const char *x509_dir;     /* QEMU tls-creds-x509 directory layout */
	const char *psk_file;     /* QEMU keys.psk: IDENTITY:HEXKEY lines */
	const char *psk_identity; /* source: the identity to use; default
				   * "vmmig" (the destination takes any
				   * identity its file has) */
	const char *priority;     /* GnuTLS priority string; NULL: "NORMAL"
				   * (plus the PSK key exchanges for PSK) */
	const char *hostname;     /* source, x509: name the destination's
				   * certificate must carry; NULL: the host
				   * dialled ("tcp:" addresses only) */
};

struct vmmig_source;
struct vmmig_dest;

/**
 * vmmig_source_set_tls() - run every channel of the source over TLS.
 * @src: the source session
 * @cfg: client credentials (struct_size set), or NULL to turn TLS off again
 *
 * The source authenticates as a client with @cfg. Credentials are loaded
 * now, so a missing or malformed file fails here.
 *
 * Thread: the configuring thread, before vmmig_source_start().
 * Callbacks: none now; with TLS on, each channel's handshake runs on a
 * short-lived thread of its own during the connection, through the
 * transport's send() and recv().
 * Return: 0; -EINVAL (no or both credential kinds, bad struct_size, a
 * malformed key file, no key for the identity, a bad priority string);
 * -ENOENT / -EACCES (a file); -EBUSY (already started); -ENOMEM; -ENOTSUP
 * (built without GnuTLS).
 */
VMMIG_API int vmmig_source_set_tls(struct vmmig_source *src,
				   const struct vmmig_tls_config *cfg);

/**
 * vmmig_dest_set_tls() - accept only TLS channels authenticated with these credentials.
 * @dst: the destination session
 * @cfg: server credentials (struct_size set), or NULL to turn TLS off again
 *
 * A connection that fails the TLS handshake (plaintext, wrong key, a
 * certificate from another CA) is dropped and counted in
 * vmmig_stats.rejected_connections; the destination goes on waiting for its
 * source (see VMMIG_OPT_HANDSHAKE_TIMEOUT_MS).
 *
 * Thread: the configuring thread, before vmmig_dest_start().
 * Callbacks: none now; with TLS on, each accepted connection's handshake
 * runs on the session thread, through the transport's send() and recv().
 * Return: as vmmig_source_set_tls().
 */
VMMIG_API int vmmig_dest_set_tls(struct vmmig_dest *dst,
				 const struct vmmig_tls_config *cfg);

#ifdef __cplusplus
}
#endif
#endif /* VMMIG_TLS_H */
