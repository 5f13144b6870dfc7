/* SPDX-License-Identifier: MIT */
/*
 * --timeline FILE.svg: the migration's history drawn by hand as SVG. Top:
 * the wire rate over time, one bar per round (its width the round's
 * duration, so its area is the bytes it sent), the pause as a red band,
 * post-copy page requests per second after the switch. Bottom: bytes per
 * round as bars, with the dirty rate each pre-copy round found as a line.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define W 960.0
#define L 80.0          /* plot area: left, right edges */
#define R (W - 90.0)
#define MiB (1024.0 * 1024.0)

static const char *const kind_color[] = {
	[VMMIG_ROUND_PRECOPY] = "#4a7fc1",
	[VMMIG_ROUND_PAUSE] = "#d0443e",
	[VMMIG_ROUND_POSTCOPY] = "#3a9a5b",
};
#define PRE_ALT "#8fb3e0"  /* every other pre-copy round */
#define FAULT "#e08a1e"
#define DIRTY "#7b3fa0"
/* A white outline under a label keeps it readable over bars. */
#define HALO " stroke=\"white\" stroke-width=\"3\" paint-order=\"stroke\""

/* A round tick step (1, 2 or 5 times a power of ten) giving about 5
 * ticks up to @max; the axis then ends at the first tick >= @max. */
static double tick_step(double max)
{
	double raw = max > 0 ? max / 5 : 1, p = pow(10, floor(log10(raw)));

	if (raw <= p)
		return p;
	if (raw <= 2 * p)
		return 2 * p;
	return raw <= 5 * p ? 5 * p : 10 * p;
}

static double axis_top(double max)
{
	double s = tick_step(max);

	return max > 0 ? ceil(max / s - 1e-9) * s : 1;
}

static void text(FILE *f, double x, double y, const char *anchor,
		 const char *extra, const char *s)
{
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"%s>", x, y,
		anchor, extra);
	for (; *s; s++) {
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else
			fputc(*s, f);
	}
	fputs("</text>\n", f);
}

/* Horizontal grid and tick labels of a value axis from @y0 (value 0) up
 * to @y1 (value @top); on the left or the right edge. */
static void value_axis(FILE *f, double y0, double y1, double top, bool right,
		       const char *label, const char *color)
{
	double step = tick_step(top);
	char buf[64], fill[32];

	snprintf(fill, sizeof(fill), " fill=\"%s\"", color);
	for (double v = 0; v <= top + step / 2; v += step) {
		double y = y0 - (y0 - y1) * v / top;

		if (!right)
			fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
				"y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n", L, y, R,
				y);
		snprintf(buf, sizeof(buf), "%g", v);
		text(f, right ? R + 6 : L - 6, y + 4, right ? "start" : "end",
		     fill, buf);
	}
	snprintf(buf, sizeof(buf), " fill=\"%s\" transform=\"rotate(-90 %.1f "
		 "%.1f)\"", color, right ? R + 62 : L - 52, (y0 + y1) / 2);
	text(f, right ? R + 62 : L - 52, (y0 + y1) / 2, "middle", buf, label);
}

static void frame(FILE *f, double y0, double y1)
{
	fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\""
		" fill=\"none\" stroke=\"#888\"/>\n", L, y1, R - L, y0 - y1);
}

static void rect(FILE *f, double x, double y, double w, double h,
		 const char *fill, const char *extra)
{
	fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%.2f\" "
		"fill=\"%s\"%s/>\n", x, y, w, h, fill, extra);
}

/* The top panel: rate over time, the pause, post-copy requests. */
static void time_panel(FILE *f, const struct report *r, double y0, double y1)
{
	const struct vmmig_fault_series *fs = &r->faults;
	double total = (double)r->st.total_time_us / 1e6, top = 0, ftop = 0;
	double tmax, scale;
	char buf[96];

	for (int i = 0; i < r->nrounds; i++)
		if ((double)r->rounds[i].bandwidth_bps / MiB > top)
			top = (double)r->rounds[i].bandwidth_bps / MiB;
	top = axis_top(top);
	tmax = axis_top(total);
	scale = (R - L) / tmax;
	text(f, L, y1 - 10, "start", " font-weight=\"bold\"",
	     "Wire rate over time (bar area = bytes sent in the round)");
	value_axis(f, y0, y1, top, false, "wire rate (MiB/s)", "#333");
	for (double t = 0, s = tick_step(tmax); t <= tmax + s / 2; t += s) {
		snprintf(buf, sizeof(buf), "%g", t);
		text(f, L + t * scale, y0 + 16, "middle", "", buf);
	}
	text(f, (L + R) / 2, y0 + 34, "middle", "",
	     "time since the start of the migration (s)");
	for (int i = 0; i < r->nrounds; i++) {
		const struct vmmig_round *e = &r->rounds[i];
		double x = L + (double)e->start_us / 1e6 * scale;
		double w = (double)e->duration_us / 1e6 * scale;
		double h = (double)e->bandwidth_bps / MiB / top * (y0 - y1);
		const char *c = e->kind == VMMIG_ROUND_PRECOPY && (i % 2)
					? PRE_ALT : kind_color[e->kind];

		if (e->kind == VMMIG_ROUND_PAUSE) {
			/* The pause spans the whole height, however short. */
			w = w < 3 ? 3 : w;
			rect(f, x, y1, w, y0 - y1, c, " fill-opacity=\"0.35\"");
			snprintf(buf, sizeof(buf), "pause %.1f ms",
				 (double)e->duration_us / 1000.0);
			/* Right of the band, or left of it near the edge. */
			bool left = x + w + 8 * (double)strlen(buf) > R;

			text(f, left ? x - 4 : x + w + 4, y1 + 16,
			     left ? "end" : "start",
			     " fill=\"#d0443e\" font-weight=\"bold\"" HALO, buf);
			continue;
		}
		rect(f, x, y0 - h, w < 1 ? 1 : w, h, c, "");
		if (e->kind == VMMIG_ROUND_PRECOPY && w > 22) {
			snprintf(buf, sizeof(buf), "R%u", e->round);
			text(f, x + w / 2, y0 - h - 4, "middle", "", buf);
		}
	}
	if (fs->total && fs->bin_us) {
		double bw = (double)fs->bin_us / 1e6 * scale;

		for (uint32_t i = 0; i < fs->nbins; i++)
			if ((double)fs->bins[i] * 1e6 / (double)fs->bin_us > ftop)
				ftop = (double)fs->bins[i] * 1e6 /
				       (double)fs->bin_us;
		ftop = axis_top(ftop);
		/* At least 2 px wide: a bin is 10 ms, under a pixel on
		 * a long migration. */
		for (uint32_t i = 0; i < fs->nbins; i++) {
			double v = (double)fs->bins[i] * 1e6 / (double)fs->bin_us;
			double h = v / ftop * (y0 - y1);

			if (fs->bins[i])
				rect(f, L + ((double)fs->start_us / 1e6) * scale +
					     i * bw, y0 - h,
				     bw * 0.8 < 2 ? 2 : bw * 0.8, h, FAULT, "");
		}
		value_axis(f, y0, y1, ftop, true, "post-copy page requests/s",
			   FAULT);
	}
	frame(f, y0, y1);
}

/* The bottom panel: MiB per entry, dirty rate per pre-copy round. */
static void round_panel(FILE *f, const struct report *r, double y0, double y1)
{
	double top = 0, dtop = 0, slot;
	bool precopy = false;
	char buf[64];

	for (int i = 0; i < r->nrounds; i++) {
		double mb = (double)r->rounds[i].bytes / MiB;
		double d = (double)r->rounds[i].dirty_rate_pps *
			   VMMIG_PAGE_SIZE / MiB;

		top = mb > top ? mb : top;
		if (r->rounds[i].kind != VMMIG_ROUND_PRECOPY)
			continue;
		precopy = true;
		dtop = d > dtop ? d : dtop;
	}
	top = axis_top(top);
	dtop = axis_top(dtop);
	slot = (R - L) / (r->nrounds ? r->nrounds : 1);
	text(f, L, y1 - 10, "start", " font-weight=\"bold\"",
	     "Bytes sent per round, and the dirty rate each pre-copy round "
	     "found");
	value_axis(f, y0, y1, top, false, "sent (MiB)", "#333");
	if (precopy)
		value_axis(f, y0, y1, dtop, true, "dirty rate (MiB/s)", DIRTY);
	fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
		"points=\"", DIRTY);
	for (int i = 0; i < r->nrounds; i++)
		if (r->rounds[i].kind == VMMIG_ROUND_PRECOPY)
			fprintf(f, "%.1f,%.1f ", L + slot * (i + 0.5),
				y0 - (double)r->rounds[i].dirty_rate_pps *
					     VMMIG_PAGE_SIZE / MiB / dtop *
					     (y0 - y1));
	fputs("\"/>\n", f);
	for (int i = 0; i < r->nrounds; i++) {
		const struct vmmig_round *e = &r->rounds[i];
		double mb = (double)e->bytes / MiB;
		double h = mb / top * (y0 - y1), x = L + slot * i;
		double bw = slot * 0.6 > 60 ? 60 : slot * 0.6;

		rect(f, x + (slot - bw) / 2, y0 - h, bw, h,
		     kind_color[e->kind], "");
		snprintf(buf, sizeof(buf), mb >= 10 ? "%.0f" : "%.2f", mb);
		if (slot > 26)
			text(f, x + slot / 2, y0 - h - 4, "middle",
			     " font-size=\"11\"", buf);
		if (e->kind == VMMIG_ROUND_PRECOPY) {
			snprintf(buf, sizeof(buf), e->merged > 1 ? "R%u+%u"
				 : "R%u", e->round, e->merged - 1);
			fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" "
				"fill=\"%s\"/>\n", x + slot / 2,
				y0 - (double)e->dirty_rate_pps *
					     VMMIG_PAGE_SIZE / MiB / dtop *
					     (y0 - y1), DIRTY);
		} else {
			snprintf(buf, sizeof(buf), "%s",
				 e->kind == VMMIG_ROUND_PAUSE ? "pause"
							      : "post-copy");
		}
		if (slot > 26 || e->kind != VMMIG_ROUND_PRECOPY)
			text(f, x + slot / 2, y0 + 16, "middle",
			     " font-size=\"11\"", buf);
	}
	text(f, (L + R) / 2, y0 + 34, "middle", "",
	     "round (pause: the downtime; post-copy: after the switch)");
	frame(f, y0, y1);
}

static void legend(FILE *f, double y, bool postcopy)
{
	static const struct { const char *color, *name; } items[] = {
		{ "#4a7fc1", "pre-copy round" }, { "#d0443e", "pause" },
		{ "#3a9a5b", "post-copy push" },
		{ FAULT, "post-copy requests" }, { DIRTY, "dirty rate" },
	};
	double x = L;

	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
		if (!postcopy && (i == 2 || i == 3))
			continue;
		rect(f, x, y - 10, 12, 12, items[i].color, "");
		text(f, x + 17, y, "start", "", items[i].name);
		x += 40 + 7.5 * (double)strlen(items[i].name);
	}
}

int timeline__svg(const struct report *r, const char *path)
{
	const struct vmmig_stats *st = &r->st;
	FILE *f = fopen(path, "w");
	char title[256];

	if (!f)
		return -errno;
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
		"height=\"640\" viewBox=\"0 0 %.0f 640\" font-family=\"sans-"
		"serif\" font-size=\"13\">\n", W, W);
	rect(f, 0, 0, W, 640, "white", "");
	snprintf(title, sizeof(title),
		 "%s: %s migration of %.0f MiB, %s backend, workload %s",
		 r->role, vmmig_mode_name(st->mode),
		 (double)st->guest_bytes / MiB, r->backend, r->workload);
	text(f, L, 24, "start", " font-size=\"16\" font-weight=\"bold\"",
	     title);
	snprintf(title, sizeof(title),
		 "%s in %.2f s, downtime %.2f ms, %llu pre-copy round(s), "
		 "%.1f MiB sent, post-copy faults: %llu",
		 r->result ? "failed" : "completed",
		 (double)st->total_time_us / 1e6,
		 (double)st->downtime_us / 1000.0,
		 (unsigned long long)st->rounds,
		 (double)st->transferred_bytes / MiB,
		 (unsigned long long)st->postcopy_faults);
	text(f, L, 44, "start", " fill=\"#444\"", title);
	time_panel(f, r, 290, 90);
	round_panel(f, r, 560, 370);
	legend(f, 624, r->nrounds &&
	       r->rounds[r->nrounds - 1].kind == VMMIG_ROUND_POSTCOPY);
	fputs("</svg>\n", f);
	return fclose(f) ? -errno : 0;
}
