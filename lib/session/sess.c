/* SPDX-License-Identifier: MIT */
/*
 * The session both sides embed: configuration, the session thread, the
 * final figures. vmmig_source_* and vmmig_dest_* check their handle and
 * call these, so that both sides behave alike where they are alike.
 */
#include <errno.h>
#include <stdlib.h>

#include "session.h"
#include "tls/tls.h"

void sess_init(struct session *s)
{
	options_init(&s->opt);
	failure_init(&s->fail);
	pthread_mutex_init(&s->stats_lock, NULL);
	s->st.struct_size = sizeof(s->st);
	s->st.verified = -1;
}

void sess_destroy(struct session *s)
{
	regions_free(&s->regions);
	tls_creds_free(s->sh.tls);
	s->sh.tls = NULL;
	failure_destroy(&s->fail);
	pthread_mutex_destroy(&s->stats_lock);
}

int sess_add_region(struct session *s, uint32_t id, uint64_t gpa, void *host,
		    uint64_t size)
{
	int ret = sess_configurable(s);

	return ret ? ret : regions_add(&s->regions, id, gpa, host, size);
}

int sess_set_option(struct session *s, int side, int opt, int64_t value)
{
	char why[sizeof(s->fail.cfg)] = "";
	int ret = options_set(&s->opt, side, opt, value, &s->log, why,
			      sizeof(why));

	if (ret)
		failure_set_config(&s->fail, why);
	return ret;
}

void sess_set_log(struct session *s, vmmig_log_fn fn, void *opaque,
		  int max_level)
{
	s->log = (struct logger){ fn, opaque, max_level };
}

int sess_start(struct session *s, void *(*fn)(void *), void *arg)
{
	/* Set before the thread exists: its callbacks may call
	 * vmmig_*_cancel(), which reads it (pthread_create() orders this
	 * write before them; set after, it raced and could read false). */
	s->started = true;
	int ret = -pthread_create(&s->thread, NULL, fn, arg);

	if (ret)
		s->started = false;
	return ret;
}

int sess_wait(struct session *s)
{
	if (!s->started)
		return -EINVAL;
	if (!s->joined) {
		pthread_join(s->thread, NULL);
		s->joined = true;
	}
	return s->result;
}

int sess_start_watchdog(struct session *s, void (*fire)(void *), void *arg)
{
	return sess_wd_start(&s->wd, &s->sh, s->opt.v[VMMIG_OPT_IO_TIMEOUT_MS],
			     fire, arg);
}

void sess_set_status(struct session *s, int status)
{
	pthread_mutex_lock(&s->stats_lock);
	s->st.status = status;
	pthread_mutex_unlock(&s->stats_lock);
}

void sess_stats(struct session *s, struct vmmig_stats *full)
{
	pthread_mutex_lock(&s->stats_lock);
	*full = s->st;
	pthread_mutex_unlock(&s->stats_lock);
	sess_counters_fill(&s->cnt, full);
}

void sess_finish(struct session *s, int ret, uint64_t bytes, const char *what)
{
	pthread_mutex_lock(&s->stats_lock);
	s->st.total_time_us = s->t_start ? clock_now_us() - s->t_start : 0;
	s->st.transferred_bytes = bytes;
	s->st.error = ret;
	s->st.status = !ret ? VMMIG_STATUS_COMPLETED
		       : ret == -ECANCELED ? VMMIG_STATUS_CANCELLED
					   : VMMIG_STATUS_FAILED;
	pthread_mutex_unlock(&s->stats_lock);
	s->result = ret;
	failure_log_final(&s->fail, &s->log);
	log_msg(&s->log, VMMIG_LOG_INFO, "%s %s", what,
		ret ? s->fail.msg : "completed");
}

const char *sess_error(struct session *s)
{
	return failure_snapshot(&s->fail);
}
