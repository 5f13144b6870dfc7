/* SPDX-License-Identifier: MIT */
/* Internals shared by the source and destination sessions (private). */
#ifndef VMMIG_LIB_CORE_H
#define VMMIG_LIB_CORE_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <vmmig/session.h>

#include "wire/wire.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define VMMIG_MAX_CHANNELS 16

/* ---- time (clock.c) ---- */
uint64_t now_us(void); /* CLOCK_MONOTONIC */

/* ---- logging (log.c) ---- */
struct logger {
	vmmig_log_fn fn;
	void *opaque;
	int max_level;
};
void vlog(const struct logger *lg, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- options (options.c) ---- */
struct options {
	int64_t v[VMMIG_OPT__COUNT];
};
void options_init(struct options *o);
/* Set @opt on a session of @side (VMMIG_SIDE_SOURCE or _DEST): -EINVAL for
 * an unknown option or one of the other side, -ERANGE out of range; the
 * reason is logged and written to @err. */
int options_set(struct options *o, int side, int opt, int64_t value,
		const struct logger *lg, char *err, size_t errlen);

/* ---- pre-connected sockets (fds.c) ---- */
/* Longest address fds_to_addr() writes: 16 fds of up to 10 digits. */
#define FDS_ADDR_MAX (VMMIG_MAX_CHANNELS * 12)
/* Check @nfds fds for *_start_fds() (2..VMMIG_MAX_CHANNELS connected stream
 * sockets, no duplicates) and write them as "3,4,5" to @addr. On error the
 * reason is logged and in @err: -EINVAL, -EBADF, -ENOTSOCK, -EPROTOTYPE,
 * -ENOTCONN. */
int fds_to_addr(const int *fds, unsigned nfds, char *addr, size_t len,
		const struct logger *lg, char *err, size_t errlen);

/* ---- CPU of the fault-service threads (affinity.c) ---- */
/* Pin the calling thread to VMMIG_OPT_FAULT_CPU if set (>= 0); a failure
 * is logged, not fatal. @what names the thread in the log. */
void pin_fault_thread(const struct options *o, const struct logger *lg,
		      const char *what);

/* ---- first failure of a session (failure.c) ----
 * The first error wins, except that an error the peer reported with its own
 * words replaces a local transport error it caused (a reset that follows
 * the peer's ERROR record says less than the record). */
struct failure {
	pthread_mutex_t lock;
	int code;      /* 0 or -errno */
	bool from_peer;
	bool logged;   /* logged as final (ERROR), not as a retry */
	char msg[320];
};
void failure_init(struct failure *f);
void failure_destroy(struct failure *f);
/* Returns true if this call recorded the failure. */
bool failure_set(struct failure *f, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
bool failure_set_peer(struct failure *f, int code, const char *text);
/* failure_set() with a va_list, logging the failure it records: as the
 * migration's failure (ERROR), or, with @may_recover (after a post-copy
 * switch, recovery on) and a link error, as one that recovery will retry
 * (WARN). */
bool failure_record(struct failure *f, const struct logger *lg, int code,
		    bool may_recover, const char *fmt, va_list ap);
/* At the end of a session: log the failure it ended with as final, if it
 * was only logged as a retry (recovery gave up). */
void failure_log_final(struct failure *f, const struct logger *lg);
int failure_code(struct failure *f);
/* Forget the failure: a post-copy link break that recovery repaired. */
void failure_clear(struct failure *f);
/* Errors of the link itself (as opposed to a peer's verdict, a malformed
 * stream or a cancel): after a post-copy switch they pause, not fail. */
bool failure_is_link(struct failure *f);
/* What *_error() returns (errors.c): the failure's text, else the reason
 * the last configuration call was refused, else NULL. */
const char *session_error(struct failure *f, const char *cfg_err);

/* ---- regions (regions.c) ---- */
struct region {
	uint32_t id;
	uint64_t gpa;
	uint8_t *host;
	uint64_t size;
	uint64_t npages;
};
struct region_set {
	struct region *r;
	unsigned n;
	uint64_t total_bytes;
};
int regions_add(struct region_set *rs, uint32_t id, uint64_t gpa, void *host,
		uint64_t size);
void regions_free(struct region_set *rs);
/* Index of the region with @id, or rs->n if there is none. */
unsigned regions_index(const struct region_set *rs, uint32_t id);
/* The page-sum memory hash, built page by page in any order: the sum of
 * page_hash() over all pages; a zero page (or NULL) hashes to 0. */
uint64_t page_hash(const void *page, uint32_t region_id, uint64_t index);

/* ---- channels (chan.c): a transport channel plus what the core adds ---- */
struct ratelimit;
struct tls_creds;
struct tls_chan;

/* What all channels of one session share. */
struct chan_shared {
	_Atomic uint64_t last_progress_us; /* watchdog: any byte moved */
	atomic_bool abort;                 /* stop everything */
	struct ratelimit *rl;              /* NULL: no cap */
	struct tls_creds *tls;             /* NULL: plaintext channels */
};

struct chan {
	const struct vmmig_transport_ops *ops;
	void *priv;          /* transport's channel state */
	unsigned index;
	uint32_t tx_seq;     /* next record seq we send */
	pthread_mutex_t tx_lock; /* control records from several threads */
	bool connected;
	bool uncapped;       /* exempt from the bandwidth cap (urgent pages) */
	_Atomic uint64_t tx_bytes;
	_Atomic uint64_t rx_bytes;
	/* Sends handed to the transport (or TLS), counted before the call:
	 * unchanged across a failed send, nothing of it can have left. */
	_Atomic uint64_t tx_calls;
	struct chan_shared *sh;
	struct tls_chan *tls;  /* after chan_tls_*(): records go through it */
	bool tls_pending;      /* client: chan_tls_start() still to run */
	int tls_timeout_ms;    /* ... bounded by this */
	char peer[256];        /* ... the name the server's cert must carry */
	char err[192];         /* why the last connect/TLS step failed */
};
int chan_init(struct chan *c, const struct vmmig_transport_ops *ops,
	      unsigned index, struct chan_shared *sh);
int chan_connect(struct chan *c, const char *addr, int timeout_ms);
int chan_accept(struct chan *c, void *listener, int timeout_ms);
/* Rate limited, counted send of raw iovecs (a sealed record). */
int chan_send(struct chan *c, const struct iovec *iov, int iovcnt);
/* Pipelined chan_send() (transport send_queue/send_wait, see
 * <vmmig/transport.h>): the memory @iov points to stays in use until
 * chan_send_wait() leaves fewer sends in flight. A plain chan_send() where
 * the transport or TLS cannot queue. Under tx_lock, like chan_send(). */
int chan_send_queue(struct chan *c, const struct iovec *iov, int iovcnt);
/* Wait until at most @left queued sends are in flight; 0 or -errno. With
 * @left 0 it returns only once no queued memory is read any more. */
int chan_send_wait(struct chan *c, unsigned left);
/* Seal and send a non-PAGES record with the channel's next seq. */
int chan_send_record(struct chan *c, uint16_t type, uint16_t flags,
		     const void *payload, size_t len);
/* Send a status-shaped record (HELLO_ACK, ACK, ERROR). */
/* A region's page bitmap (@words 64-bit words) as DISCARD records. */
int chan_send_discard(struct chan *c, uint16_t flags, uint32_t region_id,
		      const uint64_t *bm, uint64_t words);
int chan_send_status(struct chan *c, uint16_t type, int32_t status,
		     uint32_t aux, const char *text);
/* ERROR with the reason of failure @f, as "<side> cancelled the
 * migration" or "<side> failed: <text>": best effort, from any thread,
 * waiting at most @wait_ms for another thread's record on @c to go out
 * (-EBUSY then), never for the bandwidth cap. @c may be in use by other
 * threads; the caller makes sure it is not being closed. */
struct failure;
int chan_send_error(struct chan *c, struct failure *f, const char *side,
		    int wait_ms);
/* wire_read_fn adaptor: cookie is the struct chan. */
int chan_recv(void *cookie, const struct iovec *iov, int iovcnt);
/* wire_read_some_fn adaptor (read-ahead); only for transports with
 * recv_some. */
int chan_recv_some(void *cookie, void *buf, size_t min, size_t max);
void chan_shutdown(struct chan *c);
void chan_close(struct chan *c);

/* ---- TLS on a channel (chan_tls.c), when sh->tls is set ----
 * On failure c->err says why. Return 0, -EACCES (authentication), -EPROTO
 * (the peer does not speak TLS), -ETIMEDOUT, or the transport's error.
 *
 * Client: chan_connect() prepares (the name to check: the configured one
 * or the host of a tcp @addr) and chan_tls_start() shakes hands, right
 * before the channel's HELLO: the destination takes its channels one at a
 * time, HELLO included, so a source that shook hands on every channel
 * before sending any HELLO would wait on the second forever. */
int chan_tls_prepare(struct chan *c, const char *addr, int timeout_ms);
int chan_tls_start(struct chan *c); /* no-op without TLS */
/* chan_tls_start() on @n channels at once, each in a thread that then runs
 * @then on its channel (the HELLO): the destination may take the channels
 * in any order (pre-connected fds). One failing shuts the others down.
 * Return 0 or the error of the lowest failing channel, in *@failed. */
int chan_tls_start_all(struct chan *c, unsigned n,
		       int (*then)(struct chan *c, unsigned i, void *arg),
		       void *arg, unsigned *failed);
/* Server, right after accept: a plaintext peer is told in plaintext that
 * TLS is required. */
int chan_tls_server(struct chan *c);

/* ---- a deadline on one channel's setup (chan_guard.c) ----
 * While armed, a thread shuts @c down when @timeout_ms pass. */
struct chan_guard {
	pthread_t thread;
	bool running;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop, fired;
	struct chan *c;
	int timeout_ms;
};
/* @timeout_ms < 0: no deadline (no thread). Return 0 or -errno. */
int chan_guard_arm(struct chan_guard *g, struct chan *c, int timeout_ms);
/* Stop the thread; true if the deadline passed (@c is shut down). */
bool chan_guard_disarm(struct chan_guard *g);

/* ---- watchdog (watchdog.c): fails a session whose peer went silent ---- */
struct watchdog {
	pthread_t thread;
	bool running;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	int64_t timeout_us;          /* 0: off */
	atomic_bool armed;           /* only while waiting on the peer */
	struct chan_shared *sh;
	void (*fire)(void *arg);     /* called once on timeout */
	void *arg;
};
/* Start watching from now (after a reconnect, say). */
void watchdog_arm(struct watchdog *w);
int watchdog_start(struct watchdog *w, struct chan_shared *sh,
		   int64_t timeout_ms, void (*fire)(void *), void *arg);
void watchdog_stop(struct watchdog *w);

/* ---- state blobs (state.c) ---- */
struct state_blob {
	uint32_t id;
	size_t len;   /* bytes held (while receiving: so far) */
	size_t total; /* bytes announced (receiving side) */
	size_t cap;   /* bytes allocated at data (receiving side) */
	uint8_t *data;
};
/* Destination: every announced blob arrived whole. */
bool state_complete(const struct vmmig_state_sink *s);
struct vmmig_state_sink {
	struct state_blob *b;
	unsigned n, cap;
	uint64_t total;
};
void state_sink_free(struct vmmig_state_sink *s);
/* Source: send every blob on @c as STATE records (chunked). */
int state_send(struct chan *c, const struct vmmig_state_sink *s);
/* Destination: add one STATE record's chunk; blobs complete in order. */
int state_receive(struct vmmig_state_sink *s, uint16_t flags,
		  const uint8_t *payload, size_t len, char *err, size_t errlen);

/* ---- JSON into a fixed buffer (json.c) ---- */
/* Appends; remembers overflow instead of failing early. */
struct jbuf {
	char *p;
	size_t len, used;
	bool overflow;
};
void jprintf(struct jbuf *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* @s as a quoted, escaped JSON string. */
void jstring(struct jbuf *j, const char *s);
/* The length written, or -ENOSPC (output truncated, NUL terminated). */
int jfinish(struct jbuf *j);

/* ---- history of a migration (history.c) ---- */
struct history {
	pthread_mutex_t lock;
	struct vmmig_round r[VMMIG_HISTORY_MAX];
	unsigned n;                 /* finished entries */
	bool open;                  /* r[n] is being recorded */
	struct vmmig_round last;    /* bytes and pages at the last boundary */
	uint64_t t0;                /* the migration's start, now_us() */
	struct vmmig_fault_series faults;
};
/* Bytes and pages sent so far, cumulative (in a struct vmmig_round). */
void history_init(struct history *h);
void history_destroy(struct history *h);
/* Open an entry at @t (now_us()); @now: cumulative bytes and pages. */
void history_begin(struct history *h, int kind, uint32_t round,
		   uint64_t pass_pages, uint64_t t, const struct vmmig_round *now);
/* Close the open entry (if any) at @t. */
void history_end(struct history *h, uint64_t dirty_pages, uint64_t t,
		 const struct vmmig_round *now);
/* Bytes and pages sent after the last entry closed (the end of the
 * session's conversation) join it, so that the entries add up. */
void history_settle(struct history *h, const struct vmmig_round *now);
/* Post-copy: the switch at @t starts the fault series. */
void history_switch(struct history *h, uint64_t t);
/* @pages requested at @t. */
void history_fault(struct history *h, uint64_t pages, uint64_t t);
int history_copy_rounds(struct history *h, struct vmmig_round *out,
			size_t max);
int history_copy_faults(struct history *h, struct vmmig_fault_series *fs);

/* ---- stats helpers (stats.c) ---- */
/* Still going: worth computing live figures for. */
static inline bool status_live(int status)
{
	return (status > VMMIG_STATUS_NONE && status < VMMIG_STATUS_COMPLETED) ||
	       status == VMMIG_STATUS_POSTCOPY_PAUSED;
}
struct counters {
	_Atomic uint64_t pages[WIRE_ENC__COUNT];
	_Atomic uint64_t cache_hits, cache_misses;
};
void counters_add_enc(struct counters *c, const struct enc_counters *e);
void counters_fill(const struct counters *c, struct vmmig_stats *st);
/* Copy the part of @full that fits the caller's struct_size. */
int stats_copy_out(const struct vmmig_stats *full, struct vmmig_stats *out);

#endif /* VMMIG_LIB_CORE_H */
