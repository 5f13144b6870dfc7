/* SPDX-License-Identifier: MIT */
/*
 * A session whose peer stops talking (hung, not dead: a dead one resets the
 * connection) would block forever in recv/send. The watchdog notices that no
 * byte moved on any channel for the I/O timeout while it is armed, and fires
 * once; the session then shuts its channels down.
 */
#include <errno.h>
#include <time.h>

#include "session.h"

static void *watchdog_main(void *arg)
{
	struct watchdog *w = arg;
	struct timespec ts;

	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&w->cond, &w->lock, &ts);
		if (w->stop || !atomic_load(&w->armed))
			continue;
		uint64_t last = atomic_load(&w->sh->last_progress_us);
		if (clock_now_us() - last > (uint64_t)w->timeout_us) {
			/* Once per arming: a recovery arms it again. */
			atomic_store(&w->armed, false);
			pthread_mutex_unlock(&w->lock);
			w->fire(w->arg);
			pthread_mutex_lock(&w->lock);
		}
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int sess_wd_start(struct watchdog *w, struct chan_shared *sh,
		  int64_t timeout_ms, void (*fire)(void *), void *arg)
{
	int ret;

	w->sh = sh;
	w->timeout_us = timeout_ms * 1000;
	w->fire = fire;
	w->arg = arg;
	w->stop = false;
	atomic_store(&w->armed, false);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	ret = pthread_create(&w->thread, NULL, watchdog_main, w);
	if (ret) {
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->lock);
		return -ret;
	}
	w->running = true;
	return 0;
}

void sess_wd_stop(struct watchdog *w)
{
	if (!w->running)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	w->running = false;
}

void sess_wd_arm(struct watchdog *w)
{
	atomic_store(&w->sh->last_progress_us, clock_now_us());
	atomic_store(&w->armed, true);
}
