/* SPDX-License-Identifier: MIT */
/* The first failure of a session, and what *_error() returns (private). */
#ifndef VMMIG_LIB_BASE_FAILURE_H
#define VMMIG_LIB_BASE_FAILURE_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>

#include "base/base.h"

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
const char *failure_text(struct failure *f, const char *cfg_err);

#endif /* VMMIG_LIB_BASE_FAILURE_H */
