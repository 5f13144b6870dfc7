/* SPDX-License-Identifier: MIT */
/*
 * The live progress line. On a terminal one line redraws itself in place
 * (\r, clear to end of line), cut to the terminal's width so it never wraps;
 * otherwise a plain line a second. It shows only what means something in
 * the current phase: the pass being sent (share done, what is left, the
 * rate measured here over the last second, an ETA) in pre-copy and
 * post-copy, the pause while paused, the faults after a post-copy switch.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define MiB (1024.0 * 1024.0)
#define TICK_MS 200
#define PLAIN_EVERY 5     /* not a tty: a line every 5 ticks (1 s) */
#define MAX_WIDTH 200

/* A line built field by field; an optional field that does not fit the
 * width is left out, so the line never wraps. */
struct line {
	char s[MAX_WIDTH + 1];
	size_t n, width;
};

static void add(struct line *l, bool optional, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void add(struct line *l, bool optional, const char *fmt, ...)
{
	char tmp[MAX_WIDTH + 1];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n <= 0 || (optional && l->n + (size_t)n > l->width))
		return;
	snprintf(l->s + l->n, l->width + 1 - l->n, "%s", tmp);
	l->n = strlen(l->s);
}

/* "812 MiB", "3.4 MiB", "12.5 GiB" */
static const char *size_str(char *buf, size_t len, double bytes)
{
	double m = bytes / MiB;

	if (m >= 10240)
		snprintf(buf, len, "%.1f GiB", m / 1024);
	else if (m >= 10 || m == 0)
		snprintf(buf, len, "%.0f MiB", m);
	else
		snprintf(buf, len, "%.1f MiB", m);
	return buf;
}

/* Wire rate over the last second of samples, bytes/s; 0 until known. */
static double sample_rate(struct progress *p, uint64_t t_ms, uint64_t bytes)
{
	unsigned n = sizeof(p->t_ms) / sizeof(p->t_ms[0]);
	unsigned oldest = p->nsamples < n ? 0 : p->next;
	double rate = 0;

	if (p->nsamples) {
		uint64_t dt = t_ms - p->t_ms[oldest];

		if (dt)
			rate = (double)(bytes - p->bytes[oldest]) * 1000.0 /
			       (double)dt;
	}
	p->t_ms[p->next] = t_ms;
	p->bytes[p->next] = bytes;
	p->next = (p->next + 1) % n;
	if (p->nsamples < n)
		p->nsamples++;
	return rate;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* What is sent of the current pass, its rate and ETA. */
static void pass_fields(struct line *l, const struct vmmig_stats *st,
			double rate)
{
	char a[32], b[32];

	if (st->pass_pages)
		add(l, false, " %3.0f%% of %s,",
		    100.0 * (double)st->pass_pages_done /
			    (double)st->pass_pages,
		    size_str(a, sizeof(a),
			     (double)st->pass_pages * VMMIG_PAGE_SIZE));
	if (rate > 0)
		add(l, false, " %s/s,", size_str(a, sizeof(a), rate));
	add(l, false, " %s left", size_str(b, sizeof(b),
					   (double)st->remaining_bytes));
	if (rate > 0 && st->remaining_bytes)
		add(l, false, ", ETA %.1f s",
		    (double)st->remaining_bytes / rate);
}

static void build(struct progress *p, const struct vmmig_stats *st,
		  double rate, struct line *l)
{
	char a[32];

	add(l, false, "%s ", p->role);
	switch (st->status) {
	case VMMIG_STATUS_SETUP:
		add(l, false, "connecting");
		break;
	case VMMIG_STATUS_ACTIVE:
		if (!st->pass_pages) { /* the destination: no pass known */
			add(l, false, "receiving round %llu, %s/s",
			    (unsigned long long)st->rounds,
			    size_str(a, sizeof(a), rate));
			break;
		}
		add(l, false, "pre-copy round %llu:",
		    (unsigned long long)st->rounds);
		pass_fields(l, st, rate);
		if (st->rounds)
			add(l, true, "  dirty %s/s",
			    size_str(a, sizeof(a), (double)st->dirty_rate_pps *
						   VMMIG_PAGE_SIZE));
		if (st->throttle_percent)
			add(l, true, "  throttle %u%%", st->throttle_percent);
		break;
	case VMMIG_STATUS_DEVICE:
		add(l, false, "guest paused %.0f ms: last pages and state",
		    (double)(mono_ms() - p->phase_ms));
		if (st->remaining_bytes)
			add(l, true, ", %s left",
			    size_str(a, sizeof(a),
				     (double)st->remaining_bytes));
		break;
	case VMMIG_STATUS_POSTCOPY:
		add(l, false, "post-copy:");
		if (st->pass_pages)
			pass_fields(l, st, rate);
		else
			add(l, false, " %s/s", size_str(a, sizeof(a), rate));
		add(l, false, ", faults %llu",
		    (unsigned long long)st->postcopy_faults);
		break;
	case VMMIG_STATUS_POSTCOPY_PAUSED:
		add(l, false, "post-copy PAUSED: link lost, reconnecting");
		break;
	default:
		add(l, false, "%s", vmmig_status_name(st->status));
		break;
	}
	add(l, true, "  sent %s", size_str(a, sizeof(a),
					   (double)st->transferred_bytes));
	/* The heartbeat only where the guest runs: on the source until it
	 * pauses, on the destination once it ran there (which must not
	 * touch guest memory before a post-copy switch). */
	if (atomic_load(&p->vm->here) &&
	    (strcmp(p->role, "source") || st->status <= VMMIG_STATUS_ACTIVE))
		add(l, true, "  hb %llu",
		    (unsigned long long)toyvm__heartbeat(p->vm));
}

static size_t term_width(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) || !ws.ws_col)
		return 80;
	return ws.ws_col;
}

static void print_line(struct progress *p, bool last)
{
	struct vmmig_stats st = { .struct_size = sizeof(st) };
	struct line l = { .width = 79 };
	uint64_t now = mono_ms();
	double rate;

	if (p->get(p->obj, &st) < 0)
		return;
	rate = sample_rate(p, now, st.transferred_bytes);
	if (!rate && st.bandwidth_bps)
		rate = (double)st.bandwidth_bps;
	if (st.status != p->phase) {
		p->phase = st.status;
		p->phase_ms = now;
	}
	if (!p->tty) {
		if (last || p->ticks++ % PLAIN_EVERY)
			return;
		build(p, &st, rate, &l);
		fprintf(stderr, "%s\n", l.s);
		return;
	}
	if (last) { /* the summary follows: leave a clean line for it */
		fputs("\r\033[K", stderr);
		fflush(stderr);
		return;
	}
	/* The last column is left free: writing it makes some terminals
	 * wrap at once. */
	l.width = term_width() - 1;
	if (l.width > MAX_WIDTH)
		l.width = MAX_WIDTH;
	build(p, &st, rate, &l);
	fprintf(stderr, "\r%s\033[K", l.s);
	fflush(stderr);
}

static void *progress_main(void *arg)
{
	struct progress *p = arg;

	while (!atomic_load(&p->stop)) {
		print_line(p, false);
		sleep_ms(TICK_MS);
	}
	print_line(p, true);
	return NULL;
}

void progress__start(struct progress *p, const struct opts *o,
		     const char *role, stats_fn get, void *obj,
		     struct toyvm *vm)
{
	memset(p, 0, sizeof(*p));
	p->tty = isatty(STDERR_FILENO);
	if (o->progress == 0 || (o->progress < 0 && !p->tty))
		return;
	p->get = get;
	p->obj = obj;
	p->role = role;
	p->vm = vm;
	p->phase = -1;
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
