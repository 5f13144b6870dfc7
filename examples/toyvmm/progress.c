/* SPDX-License-Identifier: MIT */
/* The live progress line: round, bytes sent, dirty rate, ETA, heartbeat. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define MiB (1024.0 * 1024.0)

static void print_line(struct progress *p)
{
	struct vmmig_stats st = { .struct_size = sizeof(st) };
	double eta = 0;

	if (p->get(p->obj, &st) < 0)
		return;
	if (st.bandwidth_bps)
		eta = (double)st.remaining_bytes / (double)st.bandwidth_bps;
	/* \r and clear-to-end: one line that rewrites itself. The
	 * heartbeat only once the guest ran here: a destination must not
	 * touch guest memory before a post-copy switch. */
	fprintf(stderr, "\r%s %-9s %s path %d round %llu  sent %.1f MiB "
		"(pre %.1f / post %.1f)  %.0f MiB/s  dirty %.1f MiB/s  "
		"left %.1f MiB  ETA %.1f s  faults %llu p50 %llu us p99 %llu us"
		"  hb %llu  [%s]\033[K",
		p->role, vmmig_status_name(st.status),
		vmmig_mode_name(st.mode), st.path,
		(unsigned long long)st.rounds,
		(double)st.transferred_bytes / MiB,
		(double)st.precopy_bytes / MiB,
		(double)st.postcopy_bytes / MiB,
		(double)st.bandwidth_bps / MiB,
		(double)st.dirty_rate_pps * VMMIG_PAGE_SIZE / MiB,
		(double)st.remaining_bytes / MiB, eta,
		(unsigned long long)st.postcopy_faults,
		(unsigned long long)st.fault_latency_p50_us,
		(unsigned long long)st.fault_latency_p99_us,
		atomic_load(&p->vm->here) ?
			(unsigned long long)toyvm__heartbeat(p->vm) : 0ull,
		st.path_reason);
	fflush(stderr);
}

static void *progress_main(void *arg)
{
	struct progress *p = arg;

	while (!atomic_load(&p->stop)) {
		print_line(p);
		sleep_ms(200);
	}
	print_line(p);
	fputc('\n', stderr);
	return NULL;
}

void progress__start(struct progress *p, const struct opts *o,
		     const char *role, stats_fn get, void *obj,
		     struct toyvm *vm)
{
	memset(p, 0, sizeof(*p));
	if (o->progress == 0 || (o->progress < 0 && !isatty(STDERR_FILENO)))
		return;
	p->get = get;
	p->obj = obj;
	p->role = role;
	p->vm = vm;
	p->running = !pthread_create(&p->thread, NULL, progress_main, p);
}

void progress__stop(struct progress *p)
{
	if (!p->running)
		return;
	atomic_store(&p->stop, true);
	pthread_join(p->thread, NULL);
	p->running = false;
}
