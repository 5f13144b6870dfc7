/* SPDX-License-Identifier: MIT */
/*
 * libvmmig — transports: reliable, ordered byte streams between the hosts.
 *
 * A migration uses several channels (connections) at once: with
 * VMMIG_OPT_CHANNELS = N, N page channels plus one urgent channel (post-copy
 * pages a vCPU waits for), so N + 1 connect() calls on the source and N + 1
 * accept() calls on the destination per migration (and as many again after
 * a post-copy reconnection). Each channel is full duplex: the source
 * streams records to the destination, and the destination answers on the
 * same channel (the "return path": acks, errors, later post-copy page
 * requests). For sockets connected beforehand there is no need for an own
 * transport: vmmig_source_start_fds() / vmmig_dest_start_fds() take them.
 *
 * A transport is a versioned ops table; the library allocates the private
 * state of each channel (chan_size bytes) and listener (listener_size bytes),
 * zeroed. Built-ins: io_uring over TCP, io_uring over Unix stream sockets, and
 * an in-process pair for tests. An embedder may supply its own.
 * The rules every pluggable interface follows (versions, return values,
 * wrappers): <vmmig/common.h>.
 *
 * Threading: one thread sends on a channel while another receives on it;
 * shutdown() may be called from any thread at any time and must make blocked
 * and future send()/recv()/recv_some() on that channel return an error
 * promptly. Which threads of a session call what:
 *   source: connect(), close() and the handshake's send()/recv() on the
 *     migration thread (with TLS, each channel's TLS handshake and HELLO
 *     on a short-lived thread of its own); then send() on the channel's
 *     sender thread (send_queue()/send_wait() there, version 3, without
 *     TLS) and the migration thread, on the urgent channel
 *     (post-copy) the return-path thread; recv()/recv_some() on the
 *     return-path thread (channel 0).
 *   destination: listen()/listener_addr() on the thread calling
 *     vmmig_dest_listen(); accept() on the session thread; recv() and
 *     recv_some() on each channel's receiver thread (the handshake's on
 *     the session thread); send() on the receivers, the session thread and
 *     the fault thread; listener_shutdown() from vmmig_dest_cancel() or a
 *     failure; listener_close() in vmmig_dest_free().
 * Sends on one channel never overlap (the library serialises them).
 */
#ifndef VMMIG_TRANSPORT_H
#define VMMIG_TRANSPORT_H

#include <sys/uio.h>
#include <vmmig/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Version 2 added recv_some, version 3 send_queue and send_wait, each at the
 * end of the table. Version-1 and -2 tables are still accepted; the library
 * reads a member added later only when the table's version says it is
 * there.
 */
#define VMMIG_TRANSPORT_OPS_VERSION 3

struct vmmig_transport_ops {
	uint32_t version;      /* VMMIG_TRANSPORT_OPS_VERSION */
	const char *name;      /* e.g. "tcp" */
	size_t chan_size;      /* private bytes per channel */
	size_t listener_size;  /* private bytes per listener */

	/* Source side: open one channel to @addr (transport-specific syntax,
	 * e.g. "127.0.0.1:4444" for tcp, a path for unix). */
	int (*connect)(void *chan, const char *addr, int timeout_ms);
	/* Destination side: bind and listen on @addr. */
	int (*listen)(void *listener, const char *addr);
	/* Optional: the address actually bound (e.g. after port 0), in the
	 * syntax connect() takes. */
	int (*listener_addr)(void *listener, char *buf, size_t len);
	/* Wait up to @timeout_ms (-1: forever) for one channel; -ETIMEDOUT. */
	int (*accept)(void *listener, void *chan, int timeout_ms);
	/* Make a blocked accept() return -ECANCELED. Thread-safe. Optional. */
	void (*listener_shutdown)(void *listener);
	void (*listener_close)(void *listener);

	/* Send every byte of @iov or fail: 0 or -errno. @iovcnt may reach 65
	 * (a page record: its head, then pages where they lie in guest
	 * memory, which the running guest may write meanwhile: send the bytes
	 * as they are when read, once; the library re-sends such pages). */
	int (*send)(void *chan, const struct iovec *iov, int iovcnt);
	/* Fill every byte of @iov or fail: 0, -ECONNRESET when the peer closed
	 * (also on a clean EOF: the protocol never ends a stream mid-wait),
	 * -ECANCELED after shutdown(), or another -errno. */
	int (*recv)(void *chan, const struct iovec *iov, int iovcnt);
	/* Abort the channel; thread-safe and idempotent. */
	void (*shutdown)(void *chan);
	void (*close)(void *chan);

	/* Version >= 2, optional (NULL: not supported). Receive at least
	 * @min (>= 1) and at most @max (<= INT_MAX) bytes into @buf, as the
	 * bytes come: wait only until @min are there. Return the count
	 * (@min..@max), or the same errors as recv(). The library uses it
	 * to read ahead on channels of small records (post-copy requests
	 * and urgent pages), where one receive per record instead of
	 * several is what counts; never on the bulk page stream. Called by
	 * the receiving thread only, interleaved with recv() on the same
	 * channel. */
	int (*recv_some)(void *chan, void *buf, size_t min, size_t max);

	/* Version >= 3, optional (both or neither; NULL: the library sends
	 * with send() only). Pipelined sending: send_queue() hands @iov to
	 * the channel and may return before the bytes left, so that the
	 * caller builds the next record meanwhile. Queued bytes go out in
	 * the order they were queued, before anything a later send() or
	 * send_queue() passes. The memory @iov points to (not the iovec
	 * array itself) stays valid, and the library's own buffers in it
	 * unchanged, until a send_wait() has returned with at most as many
	 * sends still in flight as were queued after this one (guest pages
	 * in it may change, as for send()). Return 0, or the error of this
	 * or of an earlier queued send (the channel is then broken: nothing
	 * queued later is sent).
	 * send_wait() waits until at most @left queued sends are still in
	 * flight; 0 or the first error of a queued send. send_wait(chan, 0)
	 * returns only when the channel no longer reads any queued memory,
	 * also after an error or a shutdown(). send() waits for the queued
	 * sends first. close() does too. Same thread rules as send(). */
	int (*send_queue)(void *chan, const struct iovec *iov, int iovcnt);
	int (*send_wait)(void *chan, unsigned left);
};

/**
 * vmmig_transport_tcp() - the built-in io_uring transport over TCP.
 *
 * Addresses are "HOST:PORT" (IPv4, or [IPv6]:PORT); port 0 in listen()
 * picks a free port (listener_addr() tells which). The table has
 * send_queue() and send_wait(): the library pipelines page records over it.
 *
 * Thread: any thread, any time.
 * Callbacks: none (the table's functions run when a session uses it: see
 * vmmig_source_start() and vmmig_dest_start()).
 * Return: a constant ops table, never NULL.
 */
VMMIG_API const struct vmmig_transport_ops *vmmig_transport_tcp(void);
/**
 * vmmig_transport_unix() - the built-in io_uring transport over Unix stream sockets.
 *
 * Addresses are filesystem paths. Like the TCP table, it has send_queue()
 * and send_wait().
 *
 * Thread: any thread, any time.
 * Callbacks: none (the table's functions run when a session uses it: see
 * vmmig_source_start() and vmmig_dest_start()).
 * Return: a constant ops table, never NULL.
 */
VMMIG_API const struct vmmig_transport_ops *vmmig_transport_unix(void);
/**
 * vmmig_transport_inproc() - the built-in in-process transport, for tests.
 *
 * The address is a name in a process-wide registry: connect() pairs with
 * the listener of that name in the same process.
 *
 * Thread: any thread, any time.
 * Callbacks: none (the table's functions run when a session uses it: see
 * vmmig_source_start() and vmmig_dest_start()).
 * Return: a constant ops table, never NULL.
 */
VMMIG_API const struct vmmig_transport_ops *vmmig_transport_inproc(void);

/**
 * vmmig_transport_parse_uri() - split a uri into a built-in transport and its address.
 * @uri: "tcp:127.0.0.1:4444", "unix:/run/x.sock" or "inproc:name"
 * @ops: receives the transport
 * @addr: receives the address part; points into @uri
 *
 * Thread: any thread, any time.
 * Callbacks: none.
 * Return: 0; -EINVAL (NULL argument, unknown scheme, empty address).
 */
VMMIG_API int vmmig_transport_parse_uri(const char *uri,
					const struct vmmig_transport_ops **ops,
					const char **addr);

#ifdef __cplusplus
}
#endif
#endif /* VMMIG_TRANSPORT_H */
