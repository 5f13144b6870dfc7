/* SPDX-License-Identifier: MIT */
/*
 * libvmmig — page sources (destination side): where the contents of a page
 * come from other than the migration stream, e.g. shared storage for
 * cache-restore (README.md, "Cache-restore"): the guest tells the
 * hypervisor which pages are clean copies of storage blocks, and the
 * destination reads those from its own view of the storage.
 *
 * A page source is a versioned ops table plus private state the library
 * allocates (priv_size bytes, zeroed). The caller submits fetches; each one
 * completes exactly once through a done() callback. The built-in storage
 * backend uses this same interface, and so can an embedder's own source
 * (a snapshot file, a peer, ...).
 * The rules every pluggable interface follows (versions, return values,
 * wrappers): <vmmig/common.h>.
 *
 * Life cycle: new -> (backend-specific setup) -> start -> submit... -> stop
 * -> free. Thread safety: submit() may be called from several threads at
 * once, and stop() may run while other threads are blocked in submit();
 * new/start/free are called by one thread, with no submit() in progress
 * for free(). A destination session calls start() inside vmmig_dest_start()
 * (the embedder's thread), submit() on its restore thread, stop() on its
 * session thread; done() runs on the backend's own threads and writes the
 * page into guest memory from there.
 */
#ifndef VMMIG_PAGESOURCE_H
#define VMMIG_PAGESOURCE_H

#include <vmmig/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VMMIG_PAGE_SOURCE_OPS_VERSION 1

/**
 * vmmig_page_hash() - the hash a restorable page is checked against.
 * @page: VMMIG_PAGE_SIZE bytes
 *
 * vmmig_hash64 of the page with a fixed seed. The source computes it from
 * guest memory when it sends a hint; the destination (its page source)
 * compares it with what it read. The same value on every host.
 *
 * Thread: any thread, any time.
 * Callbacks: none.
 * Return: the hash.
 */
VMMIG_API uint64_t vmmig_page_hash(const void *page);

/* One page to fetch. Owned by the caller, who must keep it (and buf) alive
 * and untouched from submit() until its done() call. */
struct vmmig_page_fetch {
	uint32_t region_id;
	uint64_t page;      /* page index in the region (informational for backends) */
	uint64_t object_id; /* storage object the page comes from */
	uint64_t offset;    /* byte offset of the page in that object */
	uint64_t hash;      /* expected vmmig_page_hash() of the contents */
	void *buf;          /* VMMIG_PAGE_SIZE bytes to fill */
	void *cookie;       /* the caller's */
};

/**
 * vmmig_page_fetch_done_fn - called exactly once per accepted fetch, from a
 * backend thread (or, for a fetch cancelled by stop() while its submit()
 * was still blocked, from the thread in submit()). @status:
 *   0           buf filled, hash verified
 *   -EBADMSG    contents differ from the hash (buf holds what was read)
 *   -ENOENT     object unknown or cannot be opened
 *   -EIO        short read (e.g. past the end of the object) or I/O error
 *   -ECANCELED  stopped before it ran
 * After the call the backend no longer touches @f or its buf. Calls may
 * come from several threads; the callback must be thread-safe and should
 * be quick (it runs on the backend's I/O thread). It must not call stop()
 * or free() of the same source (they wait for the backend's threads).
 */
typedef void (*vmmig_page_fetch_done_fn)(void *ctx, struct vmmig_page_fetch *f,
					 int status);

struct vmmig_page_source_ops {
	uint32_t version;   /* VMMIG_PAGE_SOURCE_OPS_VERSION */
	const char *name;
	size_t priv_size;   /* bytes of private state the library allocates */
	/* Optional. Called once by vmmig_page_source_new(); on failure
	 * destroy() is still called. */
	int (*init)(void *priv, const void *config);
	/* Start the backend's threads; done(ctx, ...) reports completions. */
	int (*start)(void *priv, vmmig_page_fetch_done_fn done, void *ctx);
	/* Accept @n fetches: return 0, and each gets exactly one done() call;
	 * or -errno, and none was accepted (no done() call). May block for
	 * backpressure; a stop() meanwhile must unblock it. Thread-safe. */
	int (*submit)(void *priv, struct vmmig_page_fetch *const *f, unsigned n);
	/* Complete everything submitted (run it or cancel it with
	 * -ECANCELED), wait for the done() calls to return, end the threads.
	 * Called at most once, only after a successful start(). */
	void (*stop)(void *priv);
	/* Optional: release what init() and the setup calls acquired. */
	void (*destroy)(void *priv);
};

struct vmmig_page_source;

/**
 * vmmig_page_source_new() - create a page source from an ops table.
 * @ops: version VMMIG_PAGE_SOURCE_OPS_VERSION with name, start(), submit()
 *       and stop(); must outlive the page source
 * @config: passed to ops->init()
 * @out: receives the page source
 *
 * Private state of ops->priv_size bytes is allocated and zeroed; the
 * built-in storage source is made the same way.
 *
 * Thread: any thread; the page source then belongs to it for its setup.
 * Callbacks: ops->init() on the calling thread; if it fails,
 * ops->destroy() too.
 * Return: 0 and *@out; -EINVAL (NULL @out, ops missing
 * start/submit/stop/name, unknown version); -ENOMEM; or init()'s error.
 */
VMMIG_API int vmmig_page_source_new(const struct vmmig_page_source_ops *ops,
				    const void *config,
				    struct vmmig_page_source **out);
/**
 * vmmig_page_source_free() - stop the page source if it runs, then destroy it.
 * @ps: the page source, or NULL (no-op)
 *
 * Thread: the thread that owns it, with no submit() in progress, after the
 * session that borrowed it was freed; never from inside a done() callback.
 * Callbacks: ops->stop() (if running; it waits for the done() calls) and
 * ops->destroy() on the calling thread.
 * Return: nothing.
 */
VMMIG_API void vmmig_page_source_free(struct vmmig_page_source *ps);
/**
 * vmmig_page_source_priv() - the backend's private state.
 * @ps: the page source
 *
 * Thread: any thread.
 * Callbacks: none.
 * Return: the ops->priv_size bytes the library allocated; NULL for NULL @ps.
 */
VMMIG_API void *vmmig_page_source_priv(struct vmmig_page_source *ps);
/**
 * vmmig_page_source_name() - the page source's name.
 * @ps: the page source
 *
 * Thread: any thread.
 * Callbacks: none.
 * Return: ops->name (e.g. "storage"); NULL for NULL @ps.
 */
VMMIG_API const char *vmmig_page_source_name(const struct vmmig_page_source *ps);
/**
 * vmmig_page_source_start() - start the page source.
 * @ps: the page source, never started
 * @done: called once per accepted fetch (see vmmig_page_fetch_done_fn)
 * @ctx: handed to @done
 *
 * A destination session calls it in vmmig_dest_start() for the page
 * source it was given.
 *
 * Thread: the thread that owns the page source, once.
 * Callbacks: ops->start() on the calling thread; later @done on the
 * backend's threads.
 * Return: 0; -EINVAL (NULL @ps or @done, or a positive start() result);
 * -EBUSY (already started, even if stopped since); or the backend's
 * error.
 */
VMMIG_API int vmmig_page_source_start(struct vmmig_page_source *ps,
				      vmmig_page_fetch_done_fn done, void *ctx);
/**
 * vmmig_page_source_submit() - hand fetches to the page source.
 * @ps: a started page source
 * @f: @n fetches; each, and its buf, must stay alive and untouched until
 *     its done() call
 * @n: their number (0: nothing to do)
 *
 * On success each fetch completes through done() exactly once; on error
 * none was accepted. May block while the backend's queue is full; a
 * concurrent stop() unblocks it. A destination session submits from its
 * restore thread.
 *
 * Thread: any thread, several at once.
 * Callbacks: ops->submit() on the calling thread; done() later on a
 * backend thread (or, for a fetch cancelled by stop() while this call was
 * still blocked, on the calling thread).
 * Return: 0; -EINVAL (NULL @ps or @f, a NULL fetch or buf, not started);
 * -ESHUTDOWN (stopped); or the backend's error (e.g. the storage source's
 * -EDEADLK from inside done() when its queue is full).
 */
VMMIG_API int vmmig_page_source_submit(struct vmmig_page_source *ps,
				       struct vmmig_page_fetch *const *f,
				       unsigned n);
/**
 * vmmig_page_source_stop() - finish or cancel everything submitted and end the backend's threads.
 * @ps: the page source (not started: no-op)
 *
 * When it returns, every done() call has returned. Later submits fail
 * with -ESHUTDOWN. Idempotent. A destination session stops its page source
 * on the session thread at the end of the migration.
 *
 * Thread: any thread, also while others are blocked in submit(); never
 * from inside a done() callback.
 * Callbacks: ops->stop() on the calling thread, once; the remaining done()
 * calls (-ECANCELED or completed) on the backend's threads before it
 * returns.
 * Return: nothing.
 */
VMMIG_API void vmmig_page_source_stop(struct vmmig_page_source *ps);

/* ---- built-in: shared storage (files on a SAN/NFS mount, read with
 * io_uring by one thread of its own, so reads overlap with the network) ---- */

#define VMMIG_STORAGE_DEFAULT_QD 128
#define VMMIG_STORAGE_MAX_QD 4096

/* struct_size as in the policy configs (policy.h): set it to sizeof();
 * fields are only appended, 0 means default, a smaller struct_size gets
 * the defaults of the fields it lacks. */
struct vmmig_storage_config {
	uint32_t struct_size;
	unsigned queue_depth; /* reads in flight; 0 = default 128, at most
			       * VMMIG_STORAGE_MAX_QD (else -ERANGE) */
	int direct;           /* 1: O_DIRECT (bypass the page cache); then every
			       * fetch's buf and offset must be 4096-aligned
			       * (submit() fails with -EINVAL otherwise) */
};

/**
 * vmmig_page_source_new_storage() - the shared-storage page source, named "storage".
 * @cfg: queue depth and direct I/O (struct_size set), or NULL (defaults)
 * @out: receives the page source
 *
 * Reads files with io_uring on one thread of its own (started by start()),
 * so reads overlap with the network. Submitting blocks while more than
 * max(4 x queue_depth, 256) fetches wait for a read slot; a submit() from
 * inside a done() callback (the I/O thread) never blocks: it fails with
 * -EDEADLK when the queue lacks room for all its fetches. stop() cancels
 * what is still queued and waits for the reads in flight.
 *
 * Thread: any thread.
 * Callbacks: none of the embedder's.
 * Return: 0; -EINVAL (NULL @out, struct_size below 4); -ERANGE (queue
 * depth over VMMIG_STORAGE_MAX_QD); -E2BIG (a larger struct with a non-zero
 * tail); -ENOMEM.
 */
VMMIG_API int vmmig_page_source_new_storage(const struct vmmig_storage_config *cfg,
					    struct vmmig_page_source **out);
/**
 * vmmig_storage_add_object() - map a storage object id to a path on this host.
 * @ps: a storage page source, not started
 * @object_id: the id the source's hints use
 * @path: the file holding the object here (mount points differ between
 *        hosts); copied
 *
 * The file is opened lazily on first use (O_RDONLY|O_CLOEXEC, plus
 * O_DIRECT in direct mode); if that fails its fetches complete with
 * -ENOENT.
 *
 * Thread: the thread that owns the page source, before it starts.
 * Callbacks: none.
 * Return: 0; -EINVAL (not a storage source, NULL/empty path); -EBUSY
 * (already started); -EEXIST (id already mapped); -ENOMEM.
 */
VMMIG_API int vmmig_storage_add_object(struct vmmig_page_source *ps,
				       uint64_t object_id, const char *path);
/**
 * vmmig_storage_add_object_fd() - map a storage object id to an open file.
 * @ps: a storage page source, not started
 * @object_id: the id the source's hints use
 * @fd: an open, readable fd; borrowed, must outlive the page source; used
 *      as is (open it with O_DIRECT yourself for direct reads)
 *
 * Thread: the thread that owns the page source, before it starts.
 * Callbacks: none.
 * Return: as vmmig_storage_add_object(); -EBADF for @fd < 0.
 */
VMMIG_API int vmmig_storage_add_object_fd(struct vmmig_page_source *ps,
					  uint64_t object_id, int fd);

struct vmmig_storage_stats {
	uint32_t struct_size;     /* caller sets sizeof */
	uint64_t pages_ok;        /* read and verified */
	uint64_t pages_mismatch;  /* -EBADMSG */
	uint64_t pages_failed;    /* -ENOENT and -EIO (not cancelled ones) */
	uint64_t bytes_read;      /* bytes the reads returned */
	uint64_t open_failures;   /* objects (unknown ids included) that could
				   * not be opened, once per object */
	uint32_t queue_depth;     /* configured */
	uint32_t max_in_flight;   /* most reads in flight at once */
	uint64_t busy_us;         /* time with >= 1 read in flight */
};
/**
 * vmmig_storage_get_stats() - copy the storage source's counters.
 * @ps: a storage page source
 * @st: receives up to st->struct_size bytes (set by the caller)
 *
 * Thread: any thread, any time after it was made.
 * Callbacks: none.
 * Return: 0; -EINVAL (not a storage source, NULL @st, struct_size too
 * small for struct_size itself).
 */
VMMIG_API int vmmig_storage_get_stats(struct vmmig_page_source *ps,
				      struct vmmig_storage_stats *st);

#ifdef __cplusplus
}
#endif
#endif /* VMMIG_PAGESOURCE_H */
