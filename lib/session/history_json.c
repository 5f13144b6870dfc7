/* SPDX-License-Identifier: MIT */
/*
 * vmmig_history_to_json(): the rounds and the post-copy request series of
 * a migration as one JSON object, for timelines.
 *
 * Entries come as vmmig_source_get_rounds() copied them: with the caller's
 * struct_size, which may be an older (smaller) struct than this library's.
 * As in stats_json.c, a key is written only when its field lies inside the
 * caller's struct, and only the caller's bytes are read.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include "session.h"

/* Does a struct of @n bytes hold the field @f of struct @type? */
#define HAS(type, n, f) \
	((n) >= offsetof(struct type, f) + sizeof(((struct type *)0)->f))
#define RHAS(n, f) HAS(vmmig_round, n, f)
#define FHAS(n, f) HAS(vmmig_fault_series, n, f)

static const char *kind_name(int kind)
{
	static const char *const names[] = {
		[VMMIG_ROUND_PRECOPY] = "precopy",
		[VMMIG_ROUND_PAUSE] = "pause",
		[VMMIG_ROUND_POSTCOPY] = "postcopy",
	};

	if (kind < 0 || (size_t)kind >= ARRAY_SIZE(names))
		return "unknown";
	return names[kind];
}

static double ms(uint64_t us)
{
	return (double)us / 1000.0;
}

static void num(struct jbuf *j, bool *first, const char *k, uint64_t v)
{
	jkey(j, first, k);
	json_printf(j, "%" PRIu64, v);
}

static void msec(struct jbuf *j, bool *first, const char *k, uint64_t us)
{
	jkey(j, first, k);
	json_printf(j, "%.3f", ms(us));
}

/* One entry: @r holds the caller's @n bytes, the rest zero. */
static void round_json(struct jbuf *j, const struct vmmig_round *r, size_t n)
{
	bool first = true;

	json_printf(j, "{");
	if (RHAS(n, kind)) {
		jkey(j, &first, "kind");
		json_string(j, kind_name(r->kind));
	}
	if (RHAS(n, round))
		num(j, &first, "round", r->round);
	if (RHAS(n, merged))
		num(j, &first, "merged", r->merged);
	if (RHAS(n, start_us))
		msec(j, &first, "start_ms", r->start_us);
	if (RHAS(n, duration_us))
		msec(j, &first, "duration_ms", r->duration_us);
	if (RHAS(n, bytes))
		num(j, &first, "bytes", r->bytes);
	if (RHAS(n, pages_skipped)) {
		jkey(j, &first, "pages");
		json_printf(j,
			"{\"normal\":%" PRIu64 ",\"zero\":%" PRIu64
			",\"compressed\":%" PRIu64 ",\"delta\":%" PRIu64
			",\"skipped\":%" PRIu64 "}",
			r->pages_normal, r->pages_zero, r->pages_compressed,
			r->pages_delta, r->pages_skipped);
	}
	if (RHAS(n, pass_pages))
		num(j, &first, "pass_pages", r->pass_pages);
	if (RHAS(n, dirty_pages))
		num(j, &first, "dirty_pages", r->dirty_pages);
	if (RHAS(n, bandwidth_bps))
		num(j, &first, "bandwidth_bytes_per_s", r->bandwidth_bps);
	if (RHAS(n, dirty_rate_pps))
		num(j, &first, "dirty_rate_pps", r->dirty_rate_pps);
	json_printf(j, "}");
}

static void faults_json(struct jbuf *j, const struct vmmig_fault_series *f,
			size_t n)
{
	size_t fit = n > offsetof(struct vmmig_fault_series, bins)
			     ? (n - offsetof(struct vmmig_fault_series, bins)) /
				       sizeof(f->bins[0])
			     : 0;
	uint32_t nb = f->nbins < VMMIG_FAULT_BINS ? f->nbins : VMMIG_FAULT_BINS;
	bool first = true;

	if (nb > fit)
		nb = (uint32_t)fit;
	json_printf(j, "{");
	if (FHAS(n, start_us))
		msec(j, &first, "start_ms", f->start_us);
	if (FHAS(n, bin_us))
		msec(j, &first, "bin_ms", f->bin_us);
	if (FHAS(n, total))
		num(j, &first, "total", f->total);
	if (fit) {
		jkey(j, &first, "bins");
		json_printf(j, "[");
		for (uint32_t i = 0; i < nb; i++)
			json_printf(j, "%s%" PRIu64, i ? "," : "", f->bins[i]);
		json_printf(j, "]");
	}
	json_printf(j, "}");
}

VMMIG_API int vmmig_history_to_json(const struct vmmig_round *rounds, size_t n,
				    const struct vmmig_fault_series *faults,
				    char *buf, size_t len)
{
	struct jbuf j = { .p = buf, .len = len };
	struct vmmig_round pause = { 0 };
	size_t stride = n && rounds ? rounds->struct_size : 0;
	size_t pause_n = 0;

	if (!buf || !len || (n && (!rounds || stride < 8)) ||
	    (faults && faults->struct_size < 8))
		return -EINVAL;
	json_printf(&j, "{\"rounds\":[");
	for (size_t i = 0; i < n; i++) {
		struct vmmig_round r = { 0 };
		size_t have = stride < sizeof(r) ? stride : sizeof(r);

		memcpy(&r, (const char *)rounds + i * stride, have);
		if (i)
			json_printf(&j, ",");
		round_json(&j, &r, have);
		if (RHAS(have, kind) && r.kind == VMMIG_ROUND_PAUSE) {
			pause = r;
			pause_n = have;
		}
	}
	json_printf(&j, "],\"pause\":");
	if (pause_n) {
		bool first = true;

		json_printf(&j, "{");
		if (RHAS(pause_n, start_us))
			msec(&j, &first, "start_ms", pause.start_us);
		if (RHAS(pause_n, duration_us))
			msec(&j, &first, "duration_ms", pause.duration_us);
		if (RHAS(pause_n, bytes))
			num(&j, &first, "bytes", pause.bytes);
		json_printf(&j, "}");
	} else {
		json_printf(&j, "null");
	}
	json_printf(&j, ",\"faults\":");
	if (faults) {
		struct vmmig_fault_series f;
		size_t have = faults->struct_size < sizeof(f) ? faults->struct_size
							      : sizeof(f);

		memset(&f, 0, sizeof(f));
		memcpy(&f, faults, have);
		faults_json(&j, &f, have);
	} else {
		json_printf(&j, "null");
	}
	json_printf(&j, "}");
	return json_finish(&j);
}
