/* SPDX-License-Identifier: MIT */
/* What the source and destination sessions share: the session object both
 * embed, watchdog, state blobs, history, stats (private). Neither side's
 * header is included here, nor does one side include the other's. */
#ifndef VMMIG_LIB_SESSION_H
#define VMMIG_LIB_SESSION_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <vmmig/session.h>
#include <vmmig/tls.h>

#include "base/base.h"
#include "base/failure.h"
#include "base/json.h"
#include "base/regions.h"
#include "transport/chan.h"
#include "wire/batch.h" /* struct enc_counters */
#include "wire/wire.h"

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
void sess_wd_arm(struct watchdog *w);
int sess_wd_start(struct watchdog *w, struct chan_shared *sh,
		  int64_t timeout_ms, void (*fire)(void *), void *arg);
void sess_wd_stop(struct watchdog *w);

/* ---- state blobs (state.c) ---- */
struct state_blob {
	uint32_t id;
	size_t len;   /* bytes held (while receiving: so far) */
	size_t total; /* bytes announced (receiving side) */
	size_t cap;   /* bytes allocated at data (receiving side) */
	uint8_t *data;
};
/* Destination: every announced blob arrived whole. */
bool sess_state_complete(const struct vmmig_state_sink *s);
struct vmmig_state_sink {
	struct state_blob *b;
	unsigned n, cap;
	uint64_t total;
};
void sess_state_sink_free(struct vmmig_state_sink *s);
/* Source: send every blob on @c as STATE records (chunked). */
int sess_state_send(struct chan *c, const struct vmmig_state_sink *s);
/* Destination: add one STATE record's chunk; blobs complete in order. */
int sess_state_receive(struct vmmig_state_sink *s, uint16_t flags,
		       const uint8_t *payload, size_t len, char *err,
		       size_t errlen);

/* ---- history of a migration (history.c) ---- */
struct history {
	pthread_mutex_t lock;
	struct vmmig_round r[VMMIG_HISTORY_MAX];
	unsigned n;                 /* finished entries */
	bool open;                  /* r[n] is being recorded */
	struct vmmig_round last;    /* bytes and pages at the last boundary */
	uint64_t t0;                /* the migration's start, clock_now_us() */
	struct vmmig_fault_series faults;
};
/* Bytes and pages sent so far, cumulative (in a struct vmmig_round). */
void sess_history_init(struct history *h);
void sess_history_destroy(struct history *h);
/* Open an entry at @t (clock_now_us()); @now: cumulative bytes and pages. */
void sess_history_begin(struct history *h, int kind, uint32_t round,
			uint64_t pass_pages, uint64_t t,
			const struct vmmig_round *now);
/* Close the open entry (if any) at @t. */
void sess_history_end(struct history *h, uint64_t dirty_pages, uint64_t t,
		      const struct vmmig_round *now);
/* Bytes and pages sent after the last entry closed (the end of the
 * session's conversation) join it, so that the entries add up. */
void sess_history_settle(struct history *h, const struct vmmig_round *now);
/* Post-copy: the switch at @t starts the fault series. */
void sess_history_switch(struct history *h, uint64_t t);
/* @pages requested at @t. */
void sess_history_fault(struct history *h, uint64_t pages, uint64_t t);
int sess_history_copy_rounds(struct history *h, struct vmmig_round *out,
			     size_t max);
int sess_history_copy_faults(struct history *h, struct vmmig_fault_series *fs);

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
void sess_counters_add_enc(struct counters *c, const struct enc_counters *e);
void sess_counters_fill(const struct counters *c, struct vmmig_stats *st);
/* Copy the part of @full that fits the caller's struct_size. */
int sess_stats_copy_out(const struct vmmig_stats *full,
			struct vmmig_stats *out);

/* ---- the session both sides embed (sess.c, tls_setup.c) ----
 * What a vmmig_source and a vmmig_dest have alike: configuration, the
 * session thread and its result, the first failure, what every channel
 * shares, the watchdog, the stats. The public calls of each side check
 * their handle and call these. */
struct session {
	struct region_set regions;   /* guest memory, fixed at start */
	struct options opt;
	struct logger log;
	bool started, joined;        /* the session thread was started/joined */
	pthread_t thread;            /* src_main() or dst_main() */
	int result;                  /* what the thread ended with: *_wait() */
	struct failure fail;         /* the first failure */
	struct chan_shared sh;       /* every channel's: abort, cap, TLS */
	struct watchdog wd;          /* fails a session whose peer is silent */
	pthread_mutex_t stats_lock;  /* st */
	struct vmmig_stats st;
	struct counters cnt;         /* page counters (atomic) */
	uint64_t t_start;            /* clock_now_us() at start */
};
void sess_init(struct session *s);
/* Frees what sess_init() and the configuration calls set up; the thread
 * must be joined. */
void sess_destroy(struct session *s);
/* Configuration calls: -EBUSY once started, else 0. */
static inline int sess_configurable(const struct session *s)
{
	return s->started ? -EBUSY : 0;
}
int sess_add_region(struct session *s, uint32_t id, uint64_t gpa, void *host,
		    uint64_t size);
/* @side: VMMIG_SIDE_*. No started check (the caller's: some options may
 * change while running). */
int sess_set_option(struct session *s, int side, int opt, int64_t value);
void sess_set_log(struct session *s, vmmig_log_fn fn, void *opaque,
		  int max_level);
/* Credentials for @cfg (NULL: none); @server on the destination. */
int sess_set_tls(struct session *s, const struct vmmig_tls_config *cfg,
		 bool server);
/* Run @fn(@arg) on the session thread. */
int sess_start(struct session *s, void *(*fn)(void *), void *arg);
/* Join the session thread (once): its result. -EINVAL if never started. */
int sess_wait(struct session *s);
/* The watchdog, on the session's channels: @fire(@arg) once the peer is
 * silent for the IO timeout. */
int sess_start_watchdog(struct session *s, void (*fire)(void *), void *arg);
void sess_set_status(struct session *s, int status);
/* The stats as recorded, with the page counters. */
void sess_stats(struct session *s, struct vmmig_stats *full);
/* At the end of the session thread: the final figures (@bytes moved), the
 * result for *_wait(), the final log line "<@what> completed" or the
 * failure. */
void sess_finish(struct session *s, int ret, uint64_t bytes, const char *what);
/* What *_error() returns. */
const char *sess_error(struct session *s);

#endif /* VMMIG_LIB_SESSION_H */
