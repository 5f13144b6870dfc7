/* SPDX-License-Identifier: MIT */
/*
 * libvmmig — migration sessions: the source and the destination side.
 *
 * The hypervisor keeps owning the VM; a session owns one migration. It runs
 * in library threads after *_start(); the embedder waits, polls stats, or
 * cancels from any thread.
 *
 * Thread-safety: configuration calls (add_region, set_*) are for the thread
 * that created the session, before *_start(). *_get_stats(), *_cancel() and
 * *_error() may be called from any thread at any time.
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
	VMMIG_OPT_CHANNELS,          /* source: N, the page channels, default 1.
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
				      * default none. With zstd each channel
				      * compresses the share of its pages
				      * that makes the migration faster,
				      * measured as it sends: all of them
				      * while the link is slower than zstd
				      * can gain, next to none while the CPU
				      * or a fast path is the limit. Pages
				      * that look random are sent raw */
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
 * vmmig_option_range() - valid values of @opt (inclusive) and its default.
 * Any output pointer may be NULL. Return: 0 or -EINVAL.
 */
VMMIG_API int vmmig_option_range(int opt, int64_t *min, int64_t *max,
				 int64_t *def);
/** vmmig_option_name() - the option's snake_case name (as in the stats
 * JSON and logs), or NULL for an unknown option. Any thread. */
VMMIG_API const char *vmmig_option_name(int opt);

/* Which session an option applies to: bits of vmmig_option_side(). */
#define VMMIG_SIDE_SOURCE 1
#define VMMIG_SIDE_DEST 2
/**
 * vmmig_option_side() - the sessions that read @opt: VMMIG_SIDE_SOURCE,
 * VMMIG_SIDE_DEST or both bits. Any thread. Return: the bits, or -EINVAL
 * for an unknown option.
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

struct vmmig_source_ops {
	uint32_t version; /* VMMIG_SOURCE_OPS_VERSION */
	/* Stop the vCPUs (and devices). Required. */
	int (*pause)(void *opaque);
	/* Resume after a failure or cancel that happened after pause(). */
	int (*resume)(void *opaque);
	/* Called while paused: serialise CPU and device state as opaque blobs
	 * with vmmig_state_put(). Optional. */
	int (*save_state)(void *opaque, struct vmmig_state_sink *sink);
	/* Auto-converge: slow the guest to @percent of its CPU time taken away
	 * (0 = unthrottled). Optional: without it a policy's THROTTLE answer
	 * (e.g. the precopy policy's auto-converge) is not applied — the
	 * source logs a warning once, notes it in stats.path_reason and runs
	 * the next round unthrottled. */
	int (*throttle)(void *opaque, unsigned percent);
};

/**
 * vmmig_state_put() - append one state blob (copied) with embedder-defined
 * @id. Blobs reach the destination's load_state() in the order put.
 * Return: 0, -EINVAL, -ENOMEM, -E2BIG (over 1 GiB).
 */
VMMIG_API int vmmig_state_put(struct vmmig_state_sink *sink, uint32_t id,
			      const void *data, size_t len);

/** vmmig_source_new() - new source session with a fresh random UUID. */
VMMIG_API int vmmig_source_new(struct vmmig_source **out);
/** vmmig_source_free() - cancels and waits if running. Accepts NULL. */
VMMIG_API void vmmig_source_free(struct vmmig_source *src);

/**
 * vmmig_source_set_uuid() - the migration's UUID (default: a random one made
 * by vmmig_source_new()); the destination may insist on it
 * (vmmig_dest_set_uuid()). Before start. Return: 0, -EINVAL, -EBUSY
 * (started).
 */
VMMIG_API int vmmig_source_set_uuid(struct vmmig_source *src,
				    const uint8_t uuid[VMMIG_UUID_SIZE]);
/** vmmig_source_get_uuid() - copy the migration's UUID into @uuid. Any
 * thread. */
VMMIG_API void vmmig_source_get_uuid(const struct vmmig_source *src,
				     uint8_t uuid[VMMIG_UUID_SIZE]);
/**
 * vmmig_source_add_region() - register guest memory. @host is borrowed and
 * must stay mapped for the session's life; @host and @size page aligned.
 * Return: 0, -EINVAL (alignment, zero size, duplicate id, overlap), -EBUSY
 * (already started), -ENOMEM.
 */
VMMIG_API int vmmig_source_add_region(struct vmmig_source *src, uint32_t id,
				      uint64_t gpa, void *host, uint64_t size);
/**
 * vmmig_source_set_ops() - the hypervisor's callbacks; @ops and @opaque are
 * borrowed and must outlive the session. They run on the session's thread
 * (pause, save_state, resume) and, for throttle(), between rounds. Before
 * start. Return: 0; -EINVAL (NULL, wrong version, no pause()); -EBUSY.
 */
VMMIG_API int vmmig_source_set_ops(struct vmmig_source *src,
				   const struct vmmig_source_ops *ops,
				   void *opaque);
/** Borrowed; default: a manual tracker the embedder can't reach, i.e. only
 * the full first pass (correct only for a guest that is paused). */
VMMIG_API int vmmig_source_set_tracker(struct vmmig_source *src,
				       struct vmmig_tracker *t);
/** Borrowed; default: the built-in precopy policy. */
VMMIG_API int vmmig_source_set_policy(struct vmmig_source *src,
				      struct vmmig_policy *p);
/**
 * vmmig_source_set_option() - set a source option (see enum vmmig_option).
 * Before start(); VMMIG_OPT_BANDWIDTH_LIMIT also while running.
 * Return: 0; -EINVAL for an unknown option or a destination-only one
 * (vmmig_source_error() then names it, and the log says so); -ERANGE out of
 * vmmig_option_range(); -EBUSY once started.
 */
VMMIG_API int vmmig_source_set_option(struct vmmig_source *src, int opt,
				      int64_t value);
/** vmmig_source_get_option() - the option's current value into *@value.
 * Return: 0 or -EINVAL (unknown option, NULL). */
VMMIG_API int vmmig_source_get_option(const struct vmmig_source *src, int opt,
				      int64_t *value);
/**
 * vmmig_source_set_log() - send the session's log lines up to @max_level
 * (VMMIG_LOG_*) to @fn with @opaque; NULL @fn: no log (the default). @fn is
 * called from the library's threads, one line at a time. Before start.
 * Return: 0 or -EINVAL.
 */
VMMIG_API int vmmig_source_set_log(struct vmmig_source *src, vmmig_log_fn fn,
				   void *opaque, int max_level);

/**
 * vmmig_source_start() - connect to @uri ("tcp:HOST:PORT", "unix:PATH",
 * "inproc:NAME") and migrate in the background.
 * Return: 0 once the threads run (connection errors come from wait()),
 * -EINVAL (bad uri, no regions, no ops), -EBUSY (already started).
 */
VMMIG_API int vmmig_source_start(struct vmmig_source *src, const char *uri);
/** Like vmmig_source_start() with an embedder's transport. */
VMMIG_API int vmmig_source_start_transport(struct vmmig_source *src,
					   const struct vmmig_transport_ops *t,
					   const char *addr);
/**
 * vmmig_source_start_fds() - like vmmig_source_start(), over sockets the
 * embedder already connected (through a broker, an SSH tunnel, a
 * socketpair(), ...), with the built-in io_uring transport. @fds[i] is
 * channel i; @nfds (2..16) is the number of connections, i.e. @nfds - 1
 * page channels plus the urgent channel: this call sets VMMIG_OPT_CHANNELS
 * to @nfds - 1. The destination takes the other ends with
 * vmmig_dest_start_fds(), in any order. Each fd must be a connected stream
 * socket (TCP or Unix); it is made blocking and close-on-exec.
 * Ownership: on success the session owns the fds and closes them (by
 * vmmig_source_free() at the latest); on error they stay the caller's.
 * A post-copy link break cannot be recovered (there is nothing to
 * reconnect to: each attempt fails at once with -ENOTCONN), so the
 * migration fails when the recovery timeout is over; set
 * VMMIG_OPT_RECOVERY_TIMEOUT_MS to 0 to fail at the break.
 * Return: 0; -EINVAL (count, fd given twice, no regions or ops; the reason
 * is in vmmig_source_error()), -EBADF, -ENOTSOCK, -EPROTOTYPE (not a
 * stream socket), -ENOTCONN (not connected), -EBUSY (already started).
 */
VMMIG_API int vmmig_source_start_fds(struct vmmig_source *src,
				     const int *fds, unsigned nfds);
/**
 * vmmig_source_wait() - block until the migration ends.
 * Return: 0 when the destination started the guest (it lives there now; the
 * source guest stays paused), else -errno: -ECANCELED, -EPROTO (the
 * destination rejected the stream), -ECONNRESET, -ETIMEDOUT, -EIO (memory
 * verification failed: the guest runs there with memory that differs), ...
 * After a failure vmmig_source_owner() says where the guest is: SOURCE (the
 * guest runs here again, its memory untouched), DEST, or UNKNOWN (COMMIT was
 * sent, no confirmation came: the guest stays paused here).
 */
VMMIG_API int vmmig_source_wait(struct vmmig_source *src);
/**
 * vmmig_source_owner() - who owns the guest as far as this side knows
 * (enum vmmig_owner); final once vmmig_source_wait() returned.
 * Thread-safe, any time. Return: the owner, or -EINVAL for NULL.
 */
VMMIG_API int vmmig_source_owner(struct vmmig_source *src);
/**
 * vmmig_source_add_hint() - cache-restore: declare that the pages of
 * [@offset, @offset + @len) of region @region_id hold the same bytes as
 * storage object @object_id at @object_offset (a clean database cache page
 * read from shared storage). Such pages are not sent: a hint with the hash
 * of their current contents is, and the destination reads them from the
 * storage itself. A hinted page the guest writes afterwards is sent like any
 * dirty page, and that copy wins. Callable at any time, from any thread,
 * also while migrating; page aligned. Return: 0, -EINVAL (unknown region,
 * range), -ENOMEM.
 */
VMMIG_API int vmmig_source_add_hint(struct vmmig_source *src,
				    uint32_t region_id, uint64_t offset,
				    uint64_t len, uint64_t object_id,
				    uint64_t object_offset);
/** vmmig_source_remove_hint() - withdraw hints over a range (e.g. the
 * database dirtied those pages). Thread-safe. */
VMMIG_API int vmmig_source_remove_hint(struct vmmig_source *src,
				       uint32_t region_id, uint64_t offset,
				       uint64_t len);

/** vmmig_source_cancel() - asynchronous; wait() then returns -ECANCELED
 * unless the migration already completed. Thread-safe. */
VMMIG_API int vmmig_source_cancel(struct vmmig_source *src);
/** Thread-safe snapshot; set st->struct_size first. */
VMMIG_API int vmmig_source_get_stats(struct vmmig_source *src,
				     struct vmmig_stats *st);
/** Text of the first error of the migration; before one, the reason the
 * last refused configuration call (set_option, ...) was refused; NULL if
 * neither. Valid until free. */
VMMIG_API const char *vmmig_source_error(struct vmmig_source *src);

/* ------------------------------------------------------------------ */
/* Destination side */

struct vmmig_dest;

#define VMMIG_DEST_OPS_VERSION 1

struct vmmig_dest_ops {
	uint32_t version; /* VMMIG_DEST_OPS_VERSION */
	/* One call per blob the source put, in order, after the last page
	 * arrived (post-copy: at the switch) and before start(). Optional. */
	int (*load_state)(void *opaque, uint32_t id, const void *data,
			  size_t len);
	/* Run the guest here. Called only after the source gave the guest up
	 * for good (COMMIT arrived), from a library thread. Required. */
	int (*start)(void *opaque);
};

/**
 * vmmig_dest_new() - create a destination session (the embedder then adds
 * regions, sets ops, listens and starts it). Return: 0 and *@out; -EINVAL
 * (NULL @out), -ENOMEM.
 */
VMMIG_API int vmmig_dest_new(struct vmmig_dest **out);
/** vmmig_dest_free() - cancels and waits if running, closes the listener,
 * frees. Accepts NULL. Pages a failed post-copy never received stay poisoned
 * afterwards (see vmmig_dest_wait()). */
VMMIG_API void vmmig_dest_free(struct vmmig_dest *dst);
/** Only accept channels with this UUID (default: adopt the first one's). */
VMMIG_API int vmmig_dest_set_uuid(struct vmmig_dest *dst,
				  const uint8_t uuid[VMMIG_UUID_SIZE]);
/** vmmig_dest_get_uuid() - the UUID set, or adopted from the first
 * channel. Return: 0; -EINVAL; -ENOENT (none yet). */
VMMIG_API int vmmig_dest_get_uuid(const struct vmmig_dest *dst,
				  uint8_t uuid[VMMIG_UUID_SIZE]);
/** Same ids and sizes as on the source (checked at handshake); @host is
 * this process's memory and may differ from the source's gpa layout only in
 * host address. */
VMMIG_API int vmmig_dest_add_region(struct vmmig_dest *dst, uint32_t id,
				    uint64_t gpa, void *host, uint64_t size);
/**
 * vmmig_dest_set_ops() - the hypervisor's callbacks, borrowed (must outlive
 * the session). load_state() runs on the session's thread; start() runs
 * once COMMIT arrived: on the session thread after a pre-copy, on channel
 * 0's receiving thread after a post-copy switch. Before start.
 * Return: 0; -EINVAL (NULL, wrong version, no start()); -EBUSY.
 */
VMMIG_API int vmmig_dest_set_ops(struct vmmig_dest *dst,
				 const struct vmmig_dest_ops *ops, void *opaque);
/** vmmig_dest_set_option() - set a destination option, before start().
 * Return: 0; -EINVAL for an unknown option or a source-only one
 * (vmmig_dest_error() then names it); -ERANGE; -EBUSY once started. */
VMMIG_API int vmmig_dest_set_option(struct vmmig_dest *dst, int opt,
				    int64_t value);
struct vmmig_page_source;
/**
 * vmmig_dest_set_page_source() - where pages the source hinted are read
 * from (e.g. vmmig_page_source_new_storage()); borrowed, must outlive the
 * session; the session starts and stops it. Each restored page is checked
 * against its hint's hash; a page that cannot be restored (unknown object,
 * hash mismatch, I/O error) is fetched over the network instead. Without a
 * page source every hinted page is fetched over the network.
 */
VMMIG_API int vmmig_dest_set_page_source(struct vmmig_dest *dst,
					 struct vmmig_page_source *ps);
/** vmmig_dest_set_log() - like vmmig_source_set_log(), for the
 * destination. */
VMMIG_API int vmmig_dest_set_log(struct vmmig_dest *dst, vmmig_log_fn fn,
				 void *opaque, int max_level);
/**
 * vmmig_dest_listen() - bind @uri now (so a caller can learn the port).
 * If @bound is not NULL it receives the bound uri (e.g. "tcp:127.0.0.1:40123").
 */
VMMIG_API int vmmig_dest_listen(struct vmmig_dest *dst, const char *uri,
				char *bound, size_t bound_len);
/**
 * vmmig_dest_listen_transport() - vmmig_dest_listen() over an embedder's
 * transport @t (borrowed, must outlive the session) at its address @addr;
 * the bound address goes to @bound if given. Return: 0; -EINVAL (NULL, bad
 * ops version); -EBUSY (already listening or started); -ENOMEM; or the
 * transport's listen() error.
 */
VMMIG_API int vmmig_dest_listen_transport(struct vmmig_dest *dst,
					  const struct vmmig_transport_ops *t,
					  const char *addr, char *bound,
					  size_t bound_len);
/** vmmig_dest_start() - accept the source's channels and receive, in the
 * background. */
VMMIG_API int vmmig_dest_start(struct vmmig_dest *dst);
/**
 * vmmig_dest_start_fds() - listen and start in one call, over the
 * destination's ends of the sockets the source side passed to
 * vmmig_source_start_fds() (any order: each channel says its index). Same
 * checks and ownership rules: on success the session owns the fds, on
 * error they stay the caller's. Instead of vmmig_dest_listen() +
 * vmmig_dest_start(). Return: as vmmig_source_start_fds(), and -EBUSY if
 * already listening or started.
 */
VMMIG_API int vmmig_dest_start_fds(struct vmmig_dest *dst, const int *fds,
				   unsigned nfds);
/**
 * vmmig_dest_wait() - block until done: 0 once the guest was started here
 * (and, with verification, its memory matched the source's), else -errno;
 * vmmig_dest_owner() then says whether the guest is this side's (DEST: it
 * was started here, e.g. a post-copy that lost its source, or a failed
 * verification: -EIO), the source's (SOURCE: never started here), or UNKNOWN
 * (READY was sent, COMMIT never came: not started here).
 * After a failed post-copy, pages that never arrived are poisoned: reading
 * one raises SIGBUS (kernels without UFFDIO_POISON: they are made
 * inaccessible, SIGSEGV), never zeros; stats count them in
 * postcopy_pages_lost. That holds after vmmig_dest_free() too.
 */
VMMIG_API int vmmig_dest_wait(struct vmmig_dest *dst);
/** vmmig_dest_owner() - like vmmig_source_owner(), from this side.
 * Thread-safe, any time. Return: enum vmmig_owner, or -EINVAL. */
VMMIG_API int vmmig_dest_owner(struct vmmig_dest *dst);
/**
 * vmmig_dest_cancel() - stop the incoming migration: the source learns it
 * (ERROR), wait() returns -ECANCELED. Any thread. Before COMMIT the source
 * keeps its guest; after a post-copy switch the guest here loses its
 * missing pages (they are poisoned). Return: 0, -EINVAL (not started).
 */
VMMIG_API int vmmig_dest_cancel(struct vmmig_dest *dst);
/**
 * vmmig_dest_get_stats() - like vmmig_source_get_stats(), from this side
 * (pages received by kind, restores, faults; copied up to st->struct_size).
 * Any thread, any time. Return: 0 or -EINVAL.
 */
VMMIG_API int vmmig_dest_get_stats(struct vmmig_dest *dst,
				   struct vmmig_stats *st);
/** Like vmmig_source_error(), for the destination. */
VMMIG_API const char *vmmig_dest_error(struct vmmig_dest *dst);

#ifdef __cplusplus
}
#endif
#endif /* VMMIG_SESSION_H */
