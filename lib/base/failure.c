/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "failure.h"

/* A text handed out by failure_snapshot(). */
struct failure_snap {
	struct failure_snap *next;
	char text[];
};

/* Distinct texts kept per session. A session's text changes only a few
 * times (a failure, the peer's better words, one per post-copy link break
 * that recovery repaired); past this many, *_error() answers with the
 * error code's constant text rather than growing without bound. */
#define FAILURE_SNAPS_MAX 64

void failure_init(struct failure *f)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
}

void failure_destroy(struct failure *f)
{
	while (f->snaps) {
		struct failure_snap *s = f->snaps;

		f->snaps = s->next;
		free(s);
	}
	pthread_mutex_destroy(&f->lock);
}

void failure_set_config(struct failure *f, const char *why)
{
	pthread_mutex_lock(&f->lock);
	snprintf(f->cfg, sizeof(f->cfg), "%s", why);
	pthread_mutex_unlock(&f->lock);
}

void failure_copy_text(struct failure *f, char *buf, size_t len)
{
	pthread_mutex_lock(&f->lock);
	snprintf(buf, len, "%s", f->code ? f->msg : "");
	pthread_mutex_unlock(&f->lock);
}

/* The kept copy of @text, made if new; NULL past the cap or without
 * memory. Called with the lock held. */
static const char *snap_of(struct failure *f, const char *text)
{
	struct failure_snap *s;
	size_t len = strlen(text) + 1;

	for (s = f->snaps; s; s = s->next)
		if (!strcmp(s->text, text))
			return s->text;
	if (f->nsnaps >= FAILURE_SNAPS_MAX)
		return NULL;
	s = malloc(sizeof(*s) + len);
	if (!s)
		return NULL;
	memcpy(s->text, text, len);
	s->next = f->snaps;
	f->snaps = s;
	f->nsnaps++;
	return s->text;
}

const char *failure_snapshot(struct failure *f)
{
	const char *text = NULL;

	pthread_mutex_lock(&f->lock);
	if (f->code) {
		text = snap_of(f, f->msg);
		if (!text)
			text = vmmig_strerror(f->code);
	} else if (f->cfg[0]) {
		text = snap_of(f, f->cfg);
		if (!text)
			text = "configuration call refused (see the log)";
	}
	pthread_mutex_unlock(&f->lock);
	return text;
}

bool failure_set(struct failure *f, int code, const char *fmt, ...)
{
	bool recorded = false;
	va_list ap;

	pthread_mutex_lock(&f->lock);
	if (!f->code) {
		f->code = code;
		va_start(ap, fmt);
		vsnprintf(f->msg, sizeof(f->msg), fmt, ap);
		va_end(ap);
		recorded = true;
	}
	pthread_mutex_unlock(&f->lock);
	return recorded;
}

bool failure_set_peer(struct failure *f, int code, const char *text)
{
	bool recorded = false;

	pthread_mutex_lock(&f->lock);
	if (!f->code || !f->from_peer) {
		f->code = code;
		f->from_peer = true;
		snprintf(f->msg, sizeof(f->msg), "peer: %s", text);
		recorded = true;
	}
	pthread_mutex_unlock(&f->lock);
	return recorded;
}

int failure_code(struct failure *f)
{
	int code;

	pthread_mutex_lock(&f->lock);
	code = f->code;
	pthread_mutex_unlock(&f->lock);
	return code;
}

void failure_clear(struct failure *f)
{
	pthread_mutex_lock(&f->lock);
	f->code = 0;
	f->from_peer = false;
	f->logged = false;
	f->msg[0] = '\0';
	pthread_mutex_unlock(&f->lock);
}

static bool link_code(int code)
{
	return code == -ECONNRESET || code == -EPIPE || code == -ETIMEDOUT ||
	       code == -ECONNREFUSED || code == -ECONNABORTED ||
	       code == -EHOSTUNREACH || code == -ENETUNREACH;
}

bool failure_is_link(struct failure *f)
{
	bool link;

	pthread_mutex_lock(&f->lock);
	link = !f->from_peer && link_code(f->code);
	pthread_mutex_unlock(&f->lock);
	return link;
}

bool failure_record(struct failure *f, const struct logger *lg, int code,
		    bool may_recover, const char *fmt, va_list ap)
{
	bool retry = may_recover && link_code(code);
	char msg[300];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (!failure_set(f, code, "%s", msg))
		return false;
	if (retry) {
		log_msg(lg, VMMIG_LOG_WARN,
			"post-copy link error, recovery will retry: %s", msg);
		return true;
	}
	pthread_mutex_lock(&f->lock);
	f->logged = true;
	pthread_mutex_unlock(&f->lock);
	log_msg(lg, VMMIG_LOG_ERROR, "migration failed: %s", msg);
	return true;
}

void failure_log_final(struct failure *f, const struct logger *lg)
{
	char msg[sizeof(f->msg)];
	bool log;

	pthread_mutex_lock(&f->lock);
	log = f->code && !f->logged;
	f->logged = f->logged || log;
	memcpy(msg, f->msg, sizeof(msg));
	pthread_mutex_unlock(&f->lock);
	if (log)
		log_msg(lg, VMMIG_LOG_ERROR, "migration failed: %s", msg);
}
