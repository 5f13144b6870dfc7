/* SPDX-License-Identifier: MIT */
/* Base of the library: clock, log, options, pre-connected fds, thread CPU
 * (private). */
#ifndef VMMIG_LIB_BASE_H
#define VMMIG_LIB_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <vmmig/session.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define VMMIG_MAX_CHANNELS 16

/* ---- time (clock.c) ---- */
uint64_t clock_now_us(void); /* CLOCK_MONOTONIC */

/* ---- logging (log.c) ---- */
struct logger {
	vmmig_log_fn fn;
	void *opaque;
	int max_level;
};
void log_msg(const struct logger *lg, int level, const char *fmt, ...)
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
/* Check that @fd is a connected stream socket: 0, -EBADF, -ENOTSOCK,
 * -EPROTOTYPE (not SOCK_STREAM), -ENOTCONN. */
int fd_check(int fd);

/* ---- CPU of the fault-service threads (affinity.c) ---- */
/* Pin the calling thread to VMMIG_OPT_FAULT_CPU if set (>= 0); a failure
 * is logged, not fatal. @what names the thread in the log. */
void affinity_pin_fault(const struct options *o, const struct logger *lg,
			const char *what);

#endif /* VMMIG_LIB_BASE_H */
