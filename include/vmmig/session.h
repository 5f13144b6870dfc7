/* SPDX-License-Identifier: MIT */
/*
 * libvmmig — migration sessions: the source and the destination side.
 *
 * The hypervisor keeps owning the VM; a session owns one migration. It runs
 * in library threads after *_start(); the embedder waits, polls stats, or
 * cancels from any thread.
 *
 * Thread-safety: configuration calls (add_region, set_*) are for the thread
 * that created the session, before *_start(). *_get_stats(), *_owner(),
 * *_cancel(), *_error() and vmmig_source_add_hint() may be called from any
 * thread at any time. Each call's doc block (and its man page) says which
 * thread may call it, which of the embedder's callbacks it makes run and
 * on which thread, and what it returns. docs/architecture.md draws the
 * threads of each side.
 */
#ifndef VMMIG_SESSION_H
#define VMMIG_SESSION_H

#include <vmmig/common.h>
#include <vmmig/policy.h>
#include <vmmig/stats.h>
#include <vmmig/tracker.h>
#include <vmmig/transport.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Options: every tunable is an enum value, a setter and a range query.
 * Each option belongs to the side(s) that read it (vmmig_option_side()):
 * setting it on the other side's session is refused with -EINVAL, and
 * *_error() then says why. */

enum vmmig_option {
	/* source: switch over under this; default 300 */
	VMMIG_OPT_DOWNTIME_LIMIT_MS = 0,
	VMMIG_OPT_MAX_ROUNDS,        /* source: switch over at this round;
				      * default 30 */
	VMMIG_OPT_BANDWIDTH_LIMIT,   /* source: bytes/s over all page channels
				      * (not the urgent one); 0 = none */
	VMMIG_OPT_CHANNELS,          /* source: N, the page channels, default 2
				      * (measured: 2 move 1 GiB faster than 1
				      * on the 2-core host of issue 10, where
				      * 4 were no faster than 2 under load;
				      * QEMU's multifd default is 2 as well).
				      * A migration opens N + 1 connections:
				      * the N page channels (memory striped
				      * over them) and one more, the urgent
				      * channel, which carries the pages a
				      * post-copy vCPU waits for. A transport
				      * therefore sees N + 1 connect() calls
				      * on the source and N + 1 accept() calls
				      * on the destination (which learns N from
				      * the handshake). Stats report N
				      * (channels). vmmig_source_start_fds()
				      * sets N from its fd count. */
	VMMIG_OPT_COMPRESSION,       /* source: enum vmmig_compression;
				      * default zstd. With zstd each channel
				      * compresses the share of its pages
				      * that makes the migration faster,
				      * measured as it sends: all of them
				      * while the link is slower than zstd
				      * can gain and stays full, next to
				      * none while the CPU or a fast path is
				      * the limit or the host has no CPU to
				      * spare. Pages that look random are
				      * sent raw, and so are the urgent
				      * post-copy pages a vCPU waits for.
				      * Its decisions are logged at
				      * VMMIG_LOG_DEBUG ("zstd chN: ...").
				      * The default by measurement: on
				      * incompressible memory or a fast path
				      * it costs under 1 % of the source's
				      * CPU, on a 1 Gbit/s link it sends the
				      * compressible mix in 0.7x the time
				      * (bench/vs-qemu/README.md) */
	VMMIG_OPT_ZSTD_LEVEL,        /* source: default 1 */
	VMMIG_OPT_DELTA_CACHE_BYTES, /* source: cache of sent pages for delta
				      * encoding; 0 = off. Smaller than the
				      * guest, it keeps the pages re-sent most
				      * recently (LRU) */
	VMMIG_OPT_IO_TIMEOUT_MS,     /* both: a silent peer fails the migration
				      * after this long; default 10000 */
	VMMIG_OPT_VERIFY,            /* source: 1 checks all memory end to
				      * end: the destination hashes each page
				      * as it lands, the source hashes its
				      * memory after the switchover (its guest
				      * is stopped for good); both compare.
				      * No downtime; a mismatch is reported on
				      * both sides after the guest started
				      * there (wait() -EIO, verified 0) */
	VMMIG_OPT_RECOVERY_TIMEOUT_MS, /* both: after a post-copy switch, how
				      * long both sides try to reconnect when
				      * the link breaks; recovery then fails
				      * within this time plus at most one IO
				      * timeout (an attempt under way). 0:
				      * fail at once (the guest stays paused:
				      * missing pages raise SIGBUS) */
	VMMIG_OPT_RECV_DIRECT,       /* destination: 1 (default) receives raw
				      * pages straight into guest memory; 0
				      * receives into a reused buffer and
				      * copies, which is faster where the
				      * kernel's first access to guest memory
				      * is slow (e.g. shadow-paging nested
				      * hypervisors: 0.5 vs 2.3 GB/s measured
				      * on one). Default 1 by measurement:
				      * one copy less, and on the PVM hosts
				      * here (issue 10, bench/README.md) both
				      * run at the same rate with the
				      * destination prefaulted, direct with
				      * less destination CPU */
	VMMIG_OPT_POPULATE,          /* destination: 1 populates guest memory
				      * (MADV_POPULATE_WRITE) from a background
				      * thread during the migration, so first
				      * touches are paid in bulk, not in the
				      * receive path; all memory then becomes
				      * resident. Default 0 */
	VMMIG_OPT_FAULT_CPU,         /* both, post-copy: the CPU for the threads a
				      * fault waits on (destination: fault
				      * thread and urgent receiver; source:
				      * return-path thread), so that handing
				      * a fault on is a local wake-up; best
				      * with the vCPUs that fault nearby.
				      * -1 (default): not pinned */
	VMMIG_OPT_CONNECT_RETRY_MS,  /* source: how long to keep trying a
				      * connection nobody accepts (refused,
				      * no socket file: the destination may
				      * still be starting). 0 (default): such
				      * an error fails the migration at once */
	VMMIG_OPT_HANDSHAKE_TIMEOUT_MS, /* destination: a connection that has
				      * not completed TLS and HELLO this long
				      * after it was accepted is dropped (and
				      * the destination accepts the next);
				      * default 5000 */
	VMMIG_OPT_ACCEPT_TIMEOUT_MS, /* destination: the migration fails if
				      * the expected source has not completed
				      * its handshake this long after
				      * vmmig_dest_start(); 0 (default): wait
				      * until cancelled */
	VMMIG_OPT__COUNT
};

enum vmmig_compression {
	VMMIG_COMPRESS_NONE = 0,
	VMMIG_COMPRESS_ZSTD = 1,
};

/**
 * vmmig_option_range() - the valid values of an option and its default.
 * @opt: an enum vmmig_option value
 * @min: receives the smallest valid value (inclusive); may be NULL
 * @max: receives the largest valid value (inclusive); may be NULL
 * @def: receives the default; may be NULL
 *
 * Thread: any thread, any time (reads a constant table).
 * Callbacks: none.
 * Return: 0, or -EINVAL for an unknown option.
 */
VMMIG_API int vmmig_option_range(int opt, int64_t *min, int64_t *max,
				 int64_t *def);
/**
 * vmmig_option_name() - the option's snake_case name.
 * @opt: an enum vmmig_option value
 *
 * The name is the one the stats JSON and the log use (e.g.
 * "downtime_limit_ms").
 *
 * Thread: any thread, any time.
 * Callbacks: none.
 * Return: a constant string, or NULL for an unknown option.
 */
VMMIG_API const char *vmmig_option_name(int opt);

/* Which session an option applies to: bits of vmmig_option_side(). */
#define VMMIG_SIDE_SOURCE 1
#define VMMIG_SIDE_DEST 2
/**
 * vmmig_option_side() - which sessions read an option.
 * @opt: an enum vmmig_option value
 *
 * Setting an option on a session of the other side is refused with -EINVAL
 * (vmmig_source_set_option(), vmmig_dest_set_option()).
 *
 * Thread: any thread, any time.
 * Callbacks: none.
 * Return: VMMIG_SIDE_SOURCE, VMMIG_SIDE_DEST or both bits; -EINVAL for an
 * unknown option.
 */
VMMIG_API int vmmig_option_side(int opt);

/* ------------------------------------------------------------------ */
/* Who owns the guest
 *
 * At every moment at most one side runs the guest. The switchover is a
 * two-phase commit (libvirt's Perform/Finish/Confirm; docs/wire-format.md
 * 6.5): the destination loads the state and answers READY; the source then
 * gives the guest up for good (COMMIT) and never resumes it afterwards; the
 * destination calls start() only after COMMIT arrived and confirms with
 * STARTED. A message lost at any point leaves at most one runner:
 *
 * - before the source sent COMMIT, the source owns the guest: a failure
 *   resumes it there, and the destination never starts it;
 * - once the destination got COMMIT it owns the guest (also if its start()
 *   failed, or the migration fails later, e.g. a post-copy that lost its
 *   source);
 * - in between, a side that cannot know what the other did reports
 *   VMMIG_OWNER_UNKNOWN: the source sent COMMIT but saw no STARTED, or the
 *   destination sent READY but saw no COMMIT. That side does not run the
 *   guest; an orchestrator must ask the other side (its owner call) and
 *   decide. Both sides UNKNOWN means nobody runs it: the destination never
 *   got COMMIT (it never started), so the source's paused guest is the one
 *   to resume.
 */
enum vmmig_owner {
	VMMIG_OWNER_SOURCE = 0,  /* the source's guest is the one: resuming
				  * it is safe (the library did, after a
				  * failure that followed its pause) */
	VMMIG_OWNER_DEST = 1,    /* the destination's: it started it (or was
				  * told to); the source never resumes it */
	VMMIG_OWNER_UNKNOWN = 2, /* this side cannot tell: it does not run
				  * the guest; an orchestrator decides */
};

/* ------------------------------------------------------------------ */
/* Source side */

struct vmmig_source;
/* Handed to save_state(); add blobs with vmmig_state_put(). */
struct vmmig_state_sink;

#define VMMIG_SOURCE_OPS_VERSION 1

/* Every callback runs on the session's migration thread (the thread
 * vmmig_source_start() creates), one at a time. A callback must not call
 * vmmig_source_wait() or vmmig_source_free() of its session. A negative
 * return fails the migration with that error. */
struct vmmig_source_ops {
	uint32_t version; /* VMMIG_SOURCE_OPS_VERSION */
	/* Stop the vCPUs (and devices): at the stop-and-copy or the
	 * post-copy switch. Required. */
	int (*pause)(void *opaque);
	/* Resume after a failure or cancel that happened after pause() and
	 * before COMMIT (never after: the destination may run the guest). */
	int (*resume)(void *opaque);
	/* Called while paused: serialise CPU and device state as opaque blobs
	 * with vmmig_state_put(). Optional. */
	int (*save_state)(void *opaque, struct vmmig_state_sink *sink);
	/* Auto-converge, between pre-copy rounds: take @percent of the
	 * guest's CPU time away (0 = unthrottled; also called with 0 after a
	 * failed migration that throttled). Optional: without it a policy's
	 * THROTTLE answer (e.g. the precopy policy's auto-converge) is not
	 * applied — the source logs a warning once, notes it in
	 * stats.path_reason and runs the next round unthrottled. */
	int (*throttle)(void *opaque, unsigned percent);
};

/**
 * vmmig_state_put() - append one CPU or device state blob.
 * @sink: the sink handed to save_state()
 * @id: an embedder-defined id, handed back to the destination's load_state()
 * @data: the blob; copied, need not outlive the call
 * @len: its size in bytes (0 allowed)
 *
 * Blobs reach the destination's load_state() in the order they were put.
 *
 * Thread: only from inside the save_state() callback that received @sink,
 * on the thread running it (the source's migration thread).
 * Callbacks: none.
 * Return: 0; -EINVAL (NULL @sink, or NULL @data with @len > 0); -ENOMEM;
 * -E2BIG (over 1 GiB).
 */
VMMIG_API int vmmig_state_put(struct vmmig_state_sink *sink, uint32_t id,
			      const void *data, size_t len);

/**
 * vmmig_source_new() - create a source session.
 * @out: receives the session
 *
 * The session gets a fresh random UUID (vmmig_source_set_uuid() replaces
 * it). The embedder then registers regions, sets its callbacks and options
 * and calls vmmig_source_start().
 *
 * Thread: any thread; the session then belongs to that thread for its
 * configuration.
 * Callbacks: none.
 * Return: 0 and *@out; -EINVAL (NULL @out); -ENOMEM.
 */
VMMIG_API int vmmig_source_new(struct vmmig_source **out);
/**
 * vmmig_source_free() - free a source session, cancelling it if it runs.
 * @src: the session, or NULL (no-op)
 *
 * A running migration is cancelled and waited for first, as
 * vmmig_source_cancel() then vmmig_source_wait(). The tracker, policy and
 * transport the embedder lent are not freed. Texts returned by
 * vmmig_source_error() become invalid.
 *
 * Thread: any thread but the library's (not from inside a callback), once
 * no other call on @src is in progress or will be made.
 * Callbacks: when it cancels a running migration, what vmmig_source_cancel()
 * triggers runs before it returns: resume() and throttle(0) on the migration
 * thread, the tracker's stop(), and the log callback.
 * Return: nothing.
 */
VMMIG_API void vmmig_source_free(struct vmmig_source *src);

/**
 * vmmig_source_set_uuid() - set the migration's UUID.
 * @src: the session
 * @uuid: VMMIG_UUID_SIZE bytes, copied
 *
 * The default is the random UUID made by vmmig_source_new(). A
 * destination may insist on one (vmmig_dest_set_uuid()); a post-copy
 * reconnection carries the same one.
 *
 * Thread: the thread that configures the session, before it starts
 * (configuration calls are not synchronised with each other).
 * Callbacks: none.
 * Return: 0; -EINVAL (NULL argument); -EBUSY (already started).
 */
VMMIG_API int vmmig_source_set_uuid(struct vmmig_source *src,
				    const uint8_t uuid[VMMIG_UUID_SIZE]);
/**
 * vmmig_source_get_uuid() - copy the migration's UUID.
 * @src: the session (NULL: nothing is copied)
 * @uuid: receives VMMIG_UUID_SIZE bytes
 *
 * Thread: any thread; the UUID only changes by vmmig_source_set_uuid()
 * before the start, so it is stable while the migration runs.
 * Callbacks: none.
 * Return: nothing.
 */
VMMIG_API void vmmig_source_get_uuid(const struct vmmig_source *src,
				     uint8_t uuid[VMMIG_UUID_SIZE]);
/**
 * vmmig_source_add_region() - register a region of guest memory.
 * @src: the session
 * @id: the embedder's region id; the destination registers the same ids and sizes
 * @gpa: guest-physical address of the region
 * @host: its mapping in this process, page aligned; borrowed: it must stay
 *        mapped for the session's life
 * @size: bytes, a non-zero multiple of VMMIG_PAGE_SIZE
 *
 * The source only ever reads this memory.
 *
 * Thread: the thread that configures the session, before it starts
 * (configuration calls are not synchronised with each other).
 * Callbacks: none.
 * Return: 0; -EINVAL (alignment, zero size, duplicate id, overlap); -EBUSY
 * (already started); -ENOMEM.
 */
VMMIG_API int vmmig_source_add_region(struct vmmig_source *src, uint32_t id,
				      uint64_t gpa, void *host, uint64_t size);
/**
 * vmmig_source_set_ops() - set the hypervisor's callbacks.
 * @src: the session
 * @ops: the callbacks (version VMMIG_SOURCE_OPS_VERSION, pause() required);
 *       borrowed, must outlive the session
 * @opaque: handed to every callback
 *
 * The callbacks run later, on the session's migration thread: pause() when
 * the policy switches over (stop-and-copy or post-copy), save_state() while
 * paused, resume() after a failure or cancel that followed pause() and came
 * before COMMIT, throttle() between pre-copy rounds when the policy asks for
 * it and throttle(0) at the end of a failed migration.
 *
 * Thread: the thread that configures the session, before it starts
 * (configuration calls are not synchronised with each other).
 * Callbacks: none (it only records them).
 * Return: 0; -EINVAL (NULL, wrong version, no pause()); -EBUSY (started).
 */
VMMIG_API int vmmig_source_set_ops(struct vmmig_source *src,
				   const struct vmmig_source_ops *ops,
				   void *opaque);
/**
 * vmmig_source_set_tracker() - set the dirty tracker.
 * @src: the session
 * @t: the tracker; borrowed, must outlive the session and not be used by
 *     another session meanwhile
 *
 * Without one the session uses a manual tracker nobody can reach: only the
 * full first pass is sent, which is right only for a guest that does not
 * run during the migration.
 *
 * Thread: the thread that configures the session, before it starts
 * (configuration calls are not synchronised with each other).
 * Callbacks: none now; once started, the migration thread calls the
 * tracker's start(), sync(), clear() and stop().
 * Return: 0; -EINVAL (NULL); -EBUSY (started).
 */
VMMIG_API int vmmig_source_set_tracker(struct vmmig_source *src,
				       struct vmmig_tracker *t);
/**
 * vmmig_source_set_policy() - set the path-selection policy.
 * @src: the session
 * @p: the policy; borrowed, must outlive the session
 *
 * The default is the built-in precopy policy without auto-converge.
 *
 * Thread: the thread that configures the session, before it starts
 * (configuration calls are not synchronised with each other).
 * Callbacks: none now; once started, the migration thread calls the
 * policy's first_pass() and decide().
 * Return: 0; -EINVAL (NULL); -EBUSY (started).
 */
VMMIG_API int vmmig_source_set_policy(struct vmmig_source *src,
				      struct vmmig_policy *p);
/**
 * vmmig_source_set_option() - set a source option.
 * @src: the session
 * @opt: an enum vmmig_option value read by the source (vmmig_option_side())
 * @value: within vmmig_option_range()
 *
 * A refusal's reason is logged and becomes vmmig_source_error()'s text
 * until the migration fails or another call is refused.
 *
 * Thread: the configuring thread, before the start; VMMIG_OPT_BANDWIDTH_LIMIT
 * also while the migration runs, from any one thread at a time.
 * Callbacks: the log callback, on the calling thread, for a refusal.
 * Return: 0; -EINVAL (NULL session, unknown or destination-only option);
 * -ERANGE (out of range); -EBUSY (started, for any other option).
 */
VMMIG_API int vmmig_source_set_option(struct vmmig_source *src, int opt,
				      int64_t value);
/**
 * vmmig_source_get_option() - read a source option's current value.
 * @src: the session
 * @opt: an enum vmmig_option value
 * @value: receives the value
 *
 * Thread: any thread; values are fixed once started, except
 * VMMIG_OPT_BANDWIDTH_LIMIT, which a concurrent vmmig_source_set_option()
 * may change.
 * Callbacks: none.
 * Return: 0; -EINVAL (NULL argument, unknown option).
 */
VMMIG_API int vmmig_source_get_option(const struct vmmig_source *src, int opt,
				      int64_t *value);
/**
 * vmmig_source_set_log() - route the session's log lines to a callback.
 * @src: the session
 * @fn: the log sink, or NULL for no log (the default)
 * @opaque: handed to @fn
 * @max_level: the most verbose VMMIG_LOG_* level passed on
 *
 * Thread: the thread that configures the session, before it starts
 * (configuration calls are not synchronised with each other).
 * Callbacks: none now; later @fn is called one line at a time from any of
 * the library's threads of this session (and from the calling thread of a
 * refused configuration call), so it must be thread-safe.
 * Return: 0; -EINVAL (NULL session).
 */
VMMIG_API int vmmig_source_set_log(struct vmmig_source *src, vmmig_log_fn fn,
				   void *opaque, int max_level);

/**
 * vmmig_source_start() - connect to the destination and migrate in the background.
 * @src: a configured session (regions and ops set)
 * @uri: "tcp:HOST:PORT", "unix:PATH" or "inproc:NAME"
 *
 * Starts the migration thread and returns; connection and later errors
 * come from vmmig_source_wait(). A tracker and a policy that were not set
 * default as vmmig_source_set_tracker() and vmmig_source_set_policy() say.
 *
 * Thread: the configuring thread, once.
 * Callbacks: on the migration thread: pause(), save_state(), resume(),
 * throttle() (see vmmig_source_set_ops()); the tracker's start(), sync(),
 * clear(), stop(); the policy's first_pass() and decide(). The transport's
 * connect() and close() run on the migration thread, and its send() and
 * recv() for the handshake (with TLS, each channel's TLS handshake and
 * HELLO on a short-lived thread of its own); then send() (send_queue() and
 * send_wait() where the table has them, without TLS) on the channel's
 * sender thread and the migration thread, on the urgent channel (after a
 * post-copy switch) the return-path thread; recv() on the return-path
 * thread (channel 0); shutdown() on any thread, including one that calls
 * vmmig_source_cancel(). The log callback from any of these threads.
 * Return: 0 once the thread runs; -EINVAL (bad uri, no regions, no ops);
 * -EBUSY (already started); -ENOMEM, or -errno from creating the thread.
 */
VMMIG_API int vmmig_source_start(struct vmmig_source *src, const char *uri);
/**
 * vmmig_source_start_transport() - vmmig_source_start() over an embedder's transport.
 * @src: a configured session
 * @t: the transport (version 1 to 3, with connect(), send(), recv(),
 *     shutdown() and close()); borrowed, must outlive the session
 * @addr: the address, in @t's syntax, handed to its connect()
 *
 * Thread: the configuring thread, once.
 * Callbacks: on the migration thread: pause(), save_state(), resume(),
 * throttle() (see vmmig_source_set_ops()); the tracker's start(), sync(),
 * clear(), stop(); the policy's first_pass() and decide(). The transport's
 * connect() and close() run on the migration thread, and its send() and
 * recv() for the handshake (with TLS, each channel's TLS handshake and
 * HELLO on a short-lived thread of its own); then send() (send_queue() and
 * send_wait() where the table has them, without TLS) on the channel's
 * sender thread and the migration thread, on the urgent channel (after a
 * post-copy switch) the return-path thread; recv() on the return-path
 * thread (channel 0); shutdown() on any thread, including one that calls
 * vmmig_source_cancel(). The log callback from any of these threads.
 * Return: as vmmig_source_start(); -EINVAL also for an invalid ops table.
 */
VMMIG_API int vmmig_source_start_transport(struct vmmig_source *src,
					   const struct vmmig_transport_ops *t,
					   const char *addr);
/**
 * vmmig_source_start_fds() - vmmig_source_start() over sockets the embedder connected.
 * @src: a configured session
 * @fds: one connected stream socket (TCP or Unix) per connection; fds[i]
 *       is channel i
 * @nfds: 2..16: @nfds - 1 page channels plus the urgent channel
 *
 * For connections made through a broker, an SSH tunnel, a socketpair(), ...
 * with the built-in io_uring transport. Sets VMMIG_OPT_CHANNELS to
 * @nfds - 1. The destination takes the other ends with
 * vmmig_dest_start_fds(), in any order. Each fd is made blocking and
 * close-on-exec. Ownership: on success the session owns the fds and closes
 * them (in vmmig_source_free() at the latest); on error they stay the
 * caller's. A post-copy link break cannot be recovered (there is nothing to
 * reconnect to: each attempt fails at once with -ENOTCONN), so the migration
 * fails when the recovery timeout is over; set VMMIG_OPT_RECOVERY_TIMEOUT_MS
 * to 0 to fail at the break.
 *
 * Thread: the configuring thread, once.
 * Callbacks: on the migration thread: pause(), save_state(), resume(),
 * throttle() (see vmmig_source_set_ops()); the tracker's start(), sync(),
 * clear(), stop(); the policy's first_pass() and decide(). The transport's
 * connect() and close() run on the migration thread, and its send() and
 * recv() for the handshake (with TLS, each channel's TLS handshake and
 * HELLO on a short-lived thread of its own); then send() (send_queue() and
 * send_wait() where the table has them, without TLS) on the channel's
 * sender thread and the migration thread, on the urgent channel (after a
 * post-copy switch) the return-path thread; recv() on the return-path
 * thread (channel 0); shutdown() on any thread, including one that calls
 * vmmig_source_cancel(). The log callback from any of these threads.
 * Return: 0; -EINVAL (count, fd given twice, no regions or ops; the reason
 * is in vmmig_source_error()); -EBADF; -ENOTSOCK; -EPROTOTYPE (not a stream
 * socket); -ENOTCONN (not connected); -EBUSY (already started).
 */
VMMIG_API int vmmig_source_start_fds(struct vmmig_source *src,
				     const int *fds, unsigned nfds);
/**
 * vmmig_source_wait() - wait for the migration to end.
 * @src: a started session
 *
 * After a failure vmmig_source_owner() says where the guest is: SOURCE (the
 * guest runs here again, its memory untouched), DEST, or UNKNOWN (COMMIT was
 * sent, no confirmation came: the guest stays paused here).
 *
 * Thread: one thread at a time, not one of the library's (never from a
 * callback); normally the configuring thread.
 * Callbacks: none of its own; it waits while the migration thread runs
 * them.
 * Return: 0 when the destination started the guest (it lives there now; the
 * source guest stays paused); -EINVAL (NULL or not started); else the
 * migration's error: -ECANCELED, -EPROTO (the destination rejected the
 * stream), -ECONNRESET, -ETIMEDOUT, -EIO (memory verification failed: the
 * guest runs there with memory that differs), or what a callback, the
 * tracker, the policy or the transport returned.
 */
VMMIG_API int vmmig_source_wait(struct vmmig_source *src);
/**
 * vmmig_source_owner() - who owns the guest, as far as this side knows.
 * @src: the session
 *
 * See enum vmmig_owner. Final once vmmig_source_wait() returned.
 *
 * Thread: any thread, any time.
 * Callbacks: none.
 * Return: an enum vmmig_owner value; -EINVAL for NULL.
 */
VMMIG_API int vmmig_source_owner(struct vmmig_source *src);
/**
 * vmmig_source_add_hint() - cache-restore: declare pages the destination can read from storage.
 * @src: the session
 * @region_id: the region's embedder id
 * @offset: page-aligned offset into the region
 * @len: page-aligned length
 * @object_id: the storage object holding the same bytes
 * @object_offset: where in that object the range starts
 *
 * The pages of [@offset, @offset + @len) hold the same bytes as storage
 * object @object_id at @object_offset (e.g. clean database cache pages read
 * from shared storage). Such pages are not sent: a hint with the hash of
 * their current contents is, and the destination reads them from the
 * storage itself. A hinted page the guest writes afterwards is sent like any
 * dirty page, and that copy wins.
 *
 * Thread: any thread, any time, also while migrating.
 * Callbacks: none.
 * Return: 0; -EINVAL (unknown region, range not aligned or outside it);
 * -ENOMEM.
 */
VMMIG_API int vmmig_source_add_hint(struct vmmig_source *src,
				    uint32_t region_id, uint64_t offset,
				    uint64_t len, uint64_t object_id,
				    uint64_t object_offset);
/**
 * vmmig_source_remove_hint() - withdraw hints over a range.
 * @src: the session
 * @region_id: the region's embedder id
 * @offset: page-aligned offset into the region
 * @len: page-aligned length
 *
 * For pages that no longer equal their storage copy by a path the tracker
 * does not see (e.g. the database dirtied them). Their contents are sent
 * instead.
 *
 * Thread: any thread, any time, also while migrating.
 * Callbacks: none.
 * Return: 0; -EINVAL (unknown region, bad range); -ENOMEM.
 */
VMMIG_API int vmmig_source_remove_hint(struct vmmig_source *src,
				       uint32_t region_id, uint64_t offset,
				       uint64_t len);

/**
 * vmmig_source_cancel() - cancel the migration, asynchronously.
 * @src: a started session
 *
 * The destination is told; vmmig_source_wait() then returns -ECANCELED
 * (unless the migration completed first) and the guest, if paused, is
 * resumed here. Refused once COMMIT went out: the destination may run the
 * guest already.
 *
 * Thread: any thread, any time after the start.
 * Callbacks: the transport's send() (the ERROR record, best effort) and
 * shutdown() on the calling thread; then, on the migration thread, resume()
 * (if the guest was paused) and throttle(0) (if it was throttled), the
 * tracker's stop() and the log callback.
 * Return: 0; -EINVAL (NULL or not started); -EBUSY (COMMIT already sent).
 */
VMMIG_API int vmmig_source_cancel(struct vmmig_source *src);
/**
 * vmmig_source_get_stats() - a snapshot of the migration's statistics.
 * @src: the session
 * @st: receives the snapshot; the caller sets st->struct_size first
 *
 * Only st->struct_size bytes are written, so a caller built against an older
 * stats.h gets the fields it knows.
 *
 * Thread: any thread, any time.
 * Callbacks: none.
 * Return: 0; -EINVAL (NULL, or a struct_size too small for struct_size).
 */
VMMIG_API int vmmig_source_get_stats(struct vmmig_source *src,
				     struct vmmig_stats *st);
/**
 * vmmig_source_error() - the text of the migration's error.
 * @src: the session
 *
 * The first error of the migration (or the destination's own words for
 * it); before any, the reason the last refused configuration call was
 * refused. The text is a copy: the pointer stays valid and its text
 * unchanged until vmmig_source_free(), whatever the migration does
 * meanwhile; a later call returns another pointer when the error changed
 * (e.g. a post-copy link break that recovery repaired, then another).
 * After 64 different texts in one session it returns vmmig_strerror()'s
 * text for the error instead.
 *
 * Thread: any thread, any time.
 * Callbacks: none.
 * Return: the text, or NULL when there is no error (and for NULL @src).
 */
VMMIG_API const char *vmmig_source_error(struct vmmig_source *src);

/* ------------------------------------------------------------------ */
/* Destination side */

struct vmmig_dest;

#define VMMIG_DEST_OPS_VERSION 1

/* Both callbacks run on one library thread, one after the other: the
 * session thread (the thread vmmig_dest_start() creates) after a pre-copy,
 * channel 0's receiver thread at a post-copy switch. A callback must not
 * call vmmig_dest_wait() or vmmig_dest_free() of its session. */
struct vmmig_dest_ops {
	uint32_t version; /* VMMIG_DEST_OPS_VERSION */
	/* One call per blob the source put, in order, after the last page
	 * arrived (post-copy: at the switch) and before start(). A negative
	 * return fails the migration (the source keeps the guest).
	 * Optional. */
	int (*load_state)(void *opaque, uint32_t id, const void *data,
			  size_t len);
	/* Run the guest here. Called only after the source gave the guest up
	 * for good (COMMIT arrived). After a post-copy switch pages may still
	 * be missing: a vCPU touching one waits until it arrives. Required. */
	int (*start)(void *opaque);
};

/**
 * vmmig_dest_new() - create a destination session.
 * @out: receives the session
 *
 * The embedder then adds regions, sets ops, listens and starts it.
 *
 * Thread: any thread; the session then belongs to that thread for its
 * configuration.
 * Callbacks: none.
 * Return: 0 and *@out; -EINVAL (NULL @out); -ENOMEM.
 */
VMMIG_API int vmmig_dest_new(struct vmmig_dest **out);
/**
 * vmmig_dest_free() - free a destination session, cancelling it if it runs.
 * @dst: the session, or NULL (no-op)
 *
 * A running migration is cancelled and waited for first; then the
 * listener is closed. Pages a failed post-copy never received stay
 * poisoned afterwards (see vmmig_dest_wait()). Texts returned by
 * vmmig_dest_error() become invalid.
 *
 * Thread: any thread but the library's (not from inside a callback), once
 * no other call on @dst is in progress or will be made.
 * Callbacks: when it cancels a running migration, what vmmig_dest_cancel()
 * triggers (the transport's send(), shutdown() and listener_shutdown() on
 * the calling thread; close() of each channel, the page source's stop() and
 * the log callback on the session thread); then the transport's
 * listener_close() on the calling thread.
 * Return: nothing.
 */
VMMIG_API void vmmig_dest_free(struct vmmig_dest *dst);
/**
 * vmmig_dest_set_uuid() - accept only the source with this UUID.
 * @dst: the session
 * @uuid: VMMIG_UUID_SIZE bytes, copied
 *
 * By default the destination adopts the UUID of the first source that
 * completes a handshake. A connection with another UUID is dropped and
 * counted in rejected_connections.
 *
 * Thread: the thread that configures the session, before it starts
 * (configuration calls are not synchronised with each other).
 * Callbacks: none.
 * Return: 0; -EINVAL (NULL argument); -EBUSY (started).
 */
VMMIG_API int vmmig_dest_set_uuid(struct vmmig_dest *dst,
				  const uint8_t uuid[VMMIG_UUID_SIZE]);
/**
 * vmmig_dest_get_uuid() - the migration's UUID, set or adopted.
 * @dst: the session
 * @uuid: receives VMMIG_UUID_SIZE bytes
 *
 * Thread: the configuring thread; while the migration runs the session
 * thread may adopt the UUID, so another thread reads it safely only after
 * vmmig_dest_wait() returned.
 * Callbacks: none.
 * Return: 0; -EINVAL (NULL argument); -ENOENT (none set or adopted yet).
 */
VMMIG_API int vmmig_dest_get_uuid(const struct vmmig_dest *dst,
				  uint8_t uuid[VMMIG_UUID_SIZE]);
/**
 * vmmig_dest_add_region() - register a region of guest memory.
 * @dst: the session
 * @id: the region id, as on the source
 * @gpa: guest-physical address
 * @host: its mapping in this process, page aligned; borrowed, must stay
 *        mapped for the session's life (and, after a failed post-copy,
 *        stays poisoned where pages are missing)
 * @size: bytes, as on the source
 *
 * Ids and sizes must match the source's (checked at the handshake); only
 * host addresses may differ. The library writes this memory (pages as they
 * arrive; after a post-copy switch through userfaultfd, which needs
 * anonymous private or shmem memory).
 *
 * Thread: the thread that configures the session, before it starts
 * (configuration calls are not synchronised with each other).
 * Callbacks: none.
 * Return: 0; -EINVAL (alignment, zero size, duplicate id, overlap); -EBUSY
 * (started); -ENOMEM.
 */
VMMIG_API int vmmig_dest_add_region(struct vmmig_dest *dst, uint32_t id,
				    uint64_t gpa, void *host, uint64_t size);
/**
 * vmmig_dest_set_ops() - set the hypervisor's callbacks.
 * @dst: the session
 * @ops: the callbacks (version VMMIG_DEST_OPS_VERSION, start() required);
 *       borrowed, must outlive the session
 * @opaque: handed to every callback
 *
 * load_state() runs once per blob, in order, when everything up to the
 * state has arrived (before this side answers READY); start() runs only
 * once the source's COMMIT arrived. Both run on the session thread after a
 * pre-copy (stop-and-copy), on channel 0's receiver thread at a post-copy
 * switch (postcopy, hybrid, adaptive paths 2 and 3).
 *
 * Thread: the thread that configures the session, before it starts
 * (configuration calls are not synchronised with each other).
 * Callbacks: none (it only records them).
 * Return: 0; -EINVAL (NULL, wrong version, no start()); -EBUSY (started).
 */
VMMIG_API int vmmig_dest_set_ops(struct vmmig_dest *dst,
				 const struct vmmig_dest_ops *ops, void *opaque);
/**
 * vmmig_dest_set_option() - set a destination option.
 * @dst: the session
 * @opt: an enum vmmig_option value read by the destination (vmmig_option_side())
 * @value: within vmmig_option_range()
 *
 * A refusal's reason is logged and becomes vmmig_dest_error()'s text.
 *
 * Thread: the thread that configures the session, before it starts
 * (configuration calls are not synchronised with each other).
 * Callbacks: the log callback, on the calling thread, for a refusal.
 * Return: 0; -EINVAL (NULL session, unknown or source-only option); -ERANGE
 * (out of range); -EBUSY (started).
 */
VMMIG_API int vmmig_dest_set_option(struct vmmig_dest *dst, int opt,
				    int64_t value);
struct vmmig_page_source;
/**
 * vmmig_dest_set_page_source() - where the pages the source hinted are read from.
 * @dst: the session
 * @ps: e.g. vmmig_page_source_new_storage(); borrowed, must outlive the
 *      session, not started: the session starts and stops it
 *
 * Each restored page is checked against its hint's hash; a page that cannot
 * be restored (unknown object, hash mismatch, I/O error) is fetched over the
 * network instead. Without a page source every hinted page is fetched over
 * the network.
 *
 * Thread: the thread that configures the session, before it starts
 * (configuration calls are not synchronised with each other).
 * Callbacks: none now; vmmig_dest_start() calls the page source's start(),
 * its restore thread submit(), and the session thread stop(); its done()
 * calls come from its own threads.
 * Return: 0; -EINVAL (NULL); -EBUSY (started).
 */
VMMIG_API int vmmig_dest_set_page_source(struct vmmig_dest *dst,
					 struct vmmig_page_source *ps);
/**
 * vmmig_dest_set_log() - route the session's log lines to a callback.
 * @dst: the session
 * @fn: the log sink, or NULL for no log (the default)
 * @opaque: handed to @fn
 * @max_level: the most verbose VMMIG_LOG_* level passed on
 *
 * Thread: the thread that configures the session, before it starts
 * (configuration calls are not synchronised with each other).
 * Callbacks: none now; later @fn is called one line at a time from any of
 * this session's threads, so it must be thread-safe.
 * Return: 0; -EINVAL (NULL session).
 */
VMMIG_API int vmmig_dest_set_log(struct vmmig_dest *dst, vmmig_log_fn fn,
				 void *opaque, int max_level);
/**
 * vmmig_dest_listen() - bind and listen now, so that the caller can learn the address.
 * @dst: the session
 * @uri: "tcp:HOST:PORT" (port 0: any), "unix:PATH" or "inproc:NAME"
 * @bound: receives the bound uri (e.g. "tcp:127.0.0.1:40123"); may be NULL
 * @bound_len: size of @bound
 *
 * Connections are accepted only after vmmig_dest_start().
 *
 * Thread: the thread that configures the session, before it starts
 * (configuration calls are not synchronised with each other).
 * Callbacks: the transport's listen() and listener_addr() on the calling
 * thread.
 * Return: 0; -EINVAL (NULL, unknown scheme); -EBUSY (already listening or
 * started); -ENOSPC (@bound too small); -ENOMEM; or the transport's listen()
 * error (e.g. -EADDRINUSE).
 */
VMMIG_API int vmmig_dest_listen(struct vmmig_dest *dst, const char *uri,
				char *bound, size_t bound_len);
/**
 * vmmig_dest_listen_transport() - vmmig_dest_listen() over an embedder's transport.
 * @dst: the session
 * @t: the transport (version 1 to 3 with listen(), accept(),
 *     listener_close(), send(), recv(), shutdown(), close()); borrowed, must
 *     outlive the session
 * @addr: the address in @t's syntax
 * @bound: receives the bound address (listener_addr(), else @addr); may be NULL
 * @bound_len: size of @bound
 *
 * Thread: the thread that configures the session, before it starts
 * (configuration calls are not synchronised with each other).
 * Callbacks: the transport's listen() and listener_addr() on the calling
 * thread.
 * Return: 0; -EINVAL (NULL, bad ops table); -EBUSY (already listening or
 * started); -ENOMEM; or the transport's error.
 */
VMMIG_API int vmmig_dest_listen_transport(struct vmmig_dest *dst,
					  const struct vmmig_transport_ops *t,
					  const char *addr, char *bound,
					  size_t bound_len);
/**
 * vmmig_dest_start() - accept the source's channels and receive, in the background.
 * @dst: a session that listens, with regions and ops
 *
 * Starts the session thread and returns; errors of the migration come from
 * vmmig_dest_wait(). Connections that are not the expected source (TLS
 * refused, another UUID, garbage, silence) are dropped and the destination
 * goes on accepting.
 *
 * Thread: the configuring thread, once.
 * Callbacks: the page source's start() on the calling thread. Later:
 * load_state() and start() on the session thread after a pre-copy, on
 * channel 0's receiver thread at a post-copy switch; the page source's
 * submit() on the restore thread, its stop() on the session thread; the
 * transport's accept() on the session thread, recv() on each channel's
 * receiver thread, send() on the receivers, the session thread and the
 * fault thread (channel 0), shutdown() and listener_shutdown() from any
 * thread (a handshake deadline, vmmig_dest_cancel()); the log callback from
 * any of them.
 * Return: 0; -EINVAL (NULL, not listening, no regions or ops); -EBUSY
 * (started); -ENOMEM; the page source's start() error; -errno from creating
 * the thread.
 */
VMMIG_API int vmmig_dest_start(struct vmmig_dest *dst);
/**
 * vmmig_dest_start_fds() - listen and start in one call, over connected sockets.
 * @dst: a session with regions and ops, not listening
 * @fds: the destination's ends of the sockets the source passed to
 *       vmmig_source_start_fds(), in any order (each channel says its index)
 * @nfds: their count, as on the source
 *
 * Instead of vmmig_dest_listen() + vmmig_dest_start(). Same checks and
 * ownership rules as vmmig_source_start_fds(): on success the session owns
 * the fds, on error they stay the caller's.
 *
 * Thread: the configuring thread, once.
 * Callbacks: the page source's start() on the calling thread. Later:
 * load_state() and start() on the session thread after a pre-copy, on
 * channel 0's receiver thread at a post-copy switch; the page source's
 * submit() on the restore thread, its stop() on the session thread; the
 * transport's accept() on the session thread, recv() on each channel's
 * receiver thread, send() on the receivers, the session thread and the
 * fault thread (channel 0), shutdown() and listener_shutdown() from any
 * thread (a handshake deadline, vmmig_dest_cancel()); the log callback from
 * any of them.
 * Return: as vmmig_source_start_fds(); -EBUSY if already listening or
 * started.
 */
VMMIG_API int vmmig_dest_start_fds(struct vmmig_dest *dst, const int *fds,
				   unsigned nfds);
/**
 * vmmig_dest_wait() - wait for the incoming migration to end.
 * @dst: a started session
 *
 * vmmig_dest_owner() then says whether the guest is this side's (DEST: it
 * was started here, e.g. a post-copy that lost its source, or a failed
 * verification), the source's (SOURCE: never started here), or UNKNOWN
 * (READY was sent, COMMIT never came: not started here). After a failed
 * post-copy, pages that never arrived are poisoned: reading one raises
 * SIGBUS (kernels without UFFDIO_POISON: they are made inaccessible,
 * SIGSEGV), never zeros; stats count them in postcopy_pages_lost. That
 * holds after vmmig_dest_free() too.
 *
 * Thread: one thread at a time, not one of the library's (never from a
 * callback); normally the configuring thread.
 * Callbacks: none of its own.
 * Return: 0 once the guest was started here (and, with verification, its
 * memory matched the source's); -EINVAL (NULL or not started); else the
 * migration's error: -ECANCELED, -EPROTO, -ECONNRESET, -ETIMEDOUT, -EIO
 * (verification failed), or what a callback or the transport returned.
 */
VMMIG_API int vmmig_dest_wait(struct vmmig_dest *dst);
/**
 * vmmig_dest_owner() - who owns the guest, as far as this side knows.
 * @dst: the session
 *
 * See enum vmmig_owner. Final once vmmig_dest_wait() returned.
 *
 * Thread: any thread, any time.
 * Callbacks: none.
 * Return: an enum vmmig_owner value; -EINVAL for NULL.
 */
VMMIG_API int vmmig_dest_owner(struct vmmig_dest *dst);
/**
 * vmmig_dest_cancel() - stop the incoming migration, asynchronously.
 * @dst: a started session
 *
 * The source learns it (ERROR), and vmmig_dest_wait() returns -ECANCELED.
 * Before COMMIT the source keeps its guest; after a post-copy switch the
 * guest here loses its missing pages (they are poisoned).
 *
 * Thread: any thread, any time after the start.
 * Callbacks: the transport's send() (the ERROR record, best effort),
 * shutdown() and listener_shutdown() on the calling thread; then, on the
 * session thread, the page source's stop() and the log callback.
 * Return: 0; -EINVAL (NULL or not started).
 */
VMMIG_API int vmmig_dest_cancel(struct vmmig_dest *dst);
/**
 * vmmig_dest_get_stats() - a snapshot of the incoming migration's statistics.
 * @dst: the session
 * @st: receives the snapshot; the caller sets st->struct_size first
 *
 * Pages received by kind, restores from storage, post-copy faults and
 * their latency, rejected connections. Only st->struct_size bytes are
 * written.
 *
 * Thread: any thread, any time.
 * Callbacks: none.
 * Return: 0; -EINVAL (NULL, or a struct_size too small for struct_size).
 */
VMMIG_API int vmmig_dest_get_stats(struct vmmig_dest *dst,
				   struct vmmig_stats *st);
/**
 * vmmig_dest_error() - the text of the incoming migration's error.
 * @dst: the session
 *
 * As vmmig_source_error(): the first error (or the source's words for
 * it), else the reason the last configuration call was refused; a copy
 * that stays valid and unchanged until vmmig_dest_free().
 *
 * Thread: any thread, any time.
 * Callbacks: none.
 * Return: the text, or NULL when there is no error (and for NULL @dst).
 */
VMMIG_API const char *vmmig_dest_error(struct vmmig_dest *dst);

#ifdef __cplusplus
}
#endif
#endif /* VMMIG_SESSION_H */
