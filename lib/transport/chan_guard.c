/* SPDX-License-Identifier: MIT */
/*
 * A deadline on one channel's setup (TLS handshake, HELLO): a thread that
 * shuts the channel down if the deadline passes first, so that whatever
 * waits on it (GnuTLS, the wire reader, any transport) returns an error.
 * The watchdog cannot do this job: it fails the whole session, while a
 * destination drops a silent stranger and goes on accepting.
 */
#include <errno.h>
#include <time.h>

#include "base/failure.h"
#include "chan.h"
#include "wire/wire.h"

static void *guard_main(void *arg)
{
	struct chan_guard *g = arg;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += g->timeout_ms / 1000;
	ts.tv_nsec += (long)(g->timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&g->lock);
	while (!g->stop) {
		if (pthread_cond_timedwait(&g->cond, &g->lock, &ts) ==
		    ETIMEDOUT && !g->stop) {
			g->fired = true;
			chan_shutdown(g->c);
			break;
		}
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

int chan_guard_arm(struct chan_guard *g, struct chan *c, int timeout_ms)
{
	pthread_condattr_t ca;
	int ret;

	*g = (struct chan_guard){ .c = c, .timeout_ms = timeout_ms };
	if (timeout_ms < 0)
		return 0; /* no deadline */
	pthread_mutex_init(&g->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cond, &ca);
	pthread_condattr_destroy(&ca);
	ret = pthread_create(&g->thread, NULL, guard_main, g);
	if (ret) {
		pthread_cond_destroy(&g->cond);
		pthread_mutex_destroy(&g->lock);
		return -ret;
	}
	g->running = true;
	return 0;
}

bool chan_guard_disarm(struct chan_guard *g)
{
	if (!g->running)
		return false;
	pthread_mutex_lock(&g->lock);
	g->stop = true;
	pthread_cond_signal(&g->cond);
	pthread_mutex_unlock(&g->lock);
	pthread_join(g->thread, NULL);
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->lock);
	g->running = false;
	return g->fired;
}
