/* SPDX-License-Identifier: MIT */
#include "bench_report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define GIB (1024.0 * 1024.0 * 1024.0)

enum metric {
	M_TOTAL_MS, M_DOWNTIME_MS, M_SETUP_MS, M_EFF_RATE, M_WIRE_RATE,
	M_RATIO, M_SRC_CPU, M_SRC_CPU_GIB, M_DST_CPU, M_DST_CPU_GIB,
	M_SRC_PEAK, M_DST_PEAK, M_SRC_LIB, M_SRC_LIB_PCT, M_DST_LIB,
	M_DST_LIB_PCT, M_SRC_GROWTH, M_DST_GROWTH, M_COUNT
};

/* JSON key (unit in the name) and which end of the range is "best". */
static const struct {
	const char *key;
	bool higher_better;
	bool bytes;              /* print as an integer */
} metrics[M_COUNT] = {
	[M_TOTAL_MS] = { "total_time_ms", false },
	[M_DOWNTIME_MS] = { "downtime_ms", false },
	[M_SETUP_MS] = { "setup_time_ms", false },
	[M_EFF_RATE] = { "effective_rate_gb_per_s", true },
	[M_WIRE_RATE] = { "wire_rate_gb_per_s", true },
	[M_RATIO] = { "ratio_to_plain_tcp", true },
	[M_SRC_CPU] = { "source_cpu_s", false },
	[M_SRC_CPU_GIB] = { "source_cpu_s_per_gib", false },
	[M_DST_CPU] = { "dest_cpu_s", false },
	[M_DST_CPU_GIB] = { "dest_cpu_s_per_gib", false },
	[M_SRC_PEAK] = { "source_peak_rss_bytes", false, true },
	[M_DST_PEAK] = { "dest_peak_rss_bytes", false, true },
	[M_SRC_LIB] = { "source_lib_mem_bytes", false, true },
	[M_SRC_LIB_PCT] = { "source_lib_mem_pct", false },
	[M_DST_LIB] = { "dest_lib_mem_bytes", false, true },
	[M_DST_LIB_PCT] = { "dest_lib_mem_pct", false },
	[M_SRC_GROWTH] = { "source_rss_growth_bytes", false, true },
	[M_DST_GROWTH] = { "dest_rss_growth_bytes", false, true },
};

static void derive(const struct bench_config *c, const struct run_result *r,
		   double v[M_COUNT])
{
	double guest = (double)c->size, gib = guest / GIB;
	double total_s = (double)r->src_st.total_time_us / 1e6;
	double cache = (double)c->delta_cache;

	v[M_TOTAL_MS] = total_s * 1e3;
	v[M_DOWNTIME_MS] = (double)r->src_st.downtime_us / 1e3;
	v[M_SETUP_MS] = (double)r->src_st.setup_time_us / 1e3;
	/* Effective: how fast the guest's memory moved (zero pages count);
	 * wire: what actually crossed the socket. */
	v[M_EFF_RATE] = total_s > 0 ? guest / total_s / 1e9 : 0;
	v[M_WIRE_RATE] = total_s > 0
				 ? (double)r->src_st.transferred_bytes / total_s / 1e9
				 : 0;
	v[M_RATIO] = c->baseline_bps > 0 ? v[M_EFF_RATE] * 1e9 / c->baseline_bps
					 : 0;
	v[M_SRC_CPU] = r->src_cpu_s;
	v[M_SRC_CPU_GIB] = r->src_cpu_s / gib;
	v[M_DST_CPU] = r->dst_cpu_s;
	v[M_DST_CPU_GIB] = r->dst_cpu_s / gib;
	v[M_SRC_PEAK] = (double)r->src_peak_rss;
	v[M_DST_PEAK] = (double)r->dst_peak_rss;
	/* The brief's definition: peak RSS - guest memory - delta cache. It
	 * also holds the program itself (binary, libc: a few MiB), and on a
	 * destination that was not prefaulted, half-zero guest memory is only
	 * half resident, so it can go negative there. */
	v[M_SRC_LIB] = v[M_SRC_PEAK] - guest - cache;
	v[M_SRC_LIB_PCT] = v[M_SRC_LIB] / guest * 100;
	v[M_DST_LIB] = v[M_DST_PEAK] - guest;
	v[M_DST_LIB_PCT] = v[M_DST_LIB] / guest * 100;
	/* What the migration added to the RSS it started from. */
	v[M_SRC_GROWTH] = (double)r->src_peak_rss - (double)r->src_rss_before;
	v[M_DST_GROWTH] = (double)r->dst_peak_rss - (double)r->dst_rss_before;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static const char *fill_name(enum bench_fill f)
{
	return f == FILL_HALF ? "half" : "random";
}

void report_run_line(FILE *f, const struct bench_config *c,
		     const struct run_result *r, int index)
{
	double v[M_COUNT];

	if (r->ret || r->dest_exit || !r->verified) {
		fprintf(f, "run %d: FAILED (%d, dest exit %d, verified %d): "
			   "%s\n", index, r->ret, r->dest_exit, r->verified,
			r->error);
		return;
	}
	derive(c, r, v);
	fprintf(f, "run %d%s: %zu MiB %s ch=%d prefault=%d: total %.1f ms, "
		   "downtime %.2f ms, %.2f GB/s (%.0f%% of plain TCP), "
		   "cpu src %.2f s dst %.2f s, lib mem src %.1f MiB dst "
		   "%.1f MiB\n", index, c->tls ? " tls" : "", c->size >> 20,
		fill_name(c->fill),
		c->channels, c->prefault, v[M_TOTAL_MS], v[M_DOWNTIME_MS],
		v[M_EFF_RATE], v[M_RATIO] * 100, v[M_SRC_CPU], v[M_DST_CPU],
		v[M_SRC_LIB] / (1 << 20), v[M_DST_LIB] / (1 << 20));
}

static void json_run(FILE *f, const struct bench_config *c,
		     const struct run_result *r)
{
	char st[4096];
	double v[M_COUNT];
	bool ok = !r->ret && !r->dest_exit && r->verified;

	derive(c, r, v);
	fprintf(f, "{\"ok\": %s, \"verified\": %s, \"error\": \"",
		ok ? "true" : "false", r->verified ? "true" : "false");
	for (const char *p = r->error; *p; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', f);
		fputc((unsigned char)*p < 0x20 ? ' ' : *p, f);
	}
	fprintf(f, "\", \"wall_s\": %.4f, \"rounds\": %llu, "
		   "\"transferred_bytes\": %llu, \"pages_normal\": %llu, "
		   "\"pages_zero\": %llu, \"dest_prefault_s\": %.3f, "
		   "\"source_rss_before_bytes\": %llu, "
		   "\"dest_rss_before_bytes\": %llu",
		r->wall_s, (unsigned long long)r->src_st.rounds,
		(unsigned long long)r->src_st.transferred_bytes,
		(unsigned long long)r->src_st.pages_normal,
		(unsigned long long)r->src_st.pages_zero, r->dst_prefault_s,
		(unsigned long long)r->src_rss_before,
		(unsigned long long)r->dst_rss_before);
	for (int m = 0; m < M_COUNT; m++)
		fprintf(f, metrics[m].bytes ? ", \"%s\": %.0f"
					    : ", \"%s\": %.6g",
			metrics[m].key, v[m]);
	if (vmmig_stats_to_json(&r->src_st, st, sizeof(st)) > 0)
		fprintf(f, ", \"source_stats\": %s", st);
	if (vmmig_stats_to_json(&r->dst_st, st, sizeof(st)) > 0)
		fprintf(f, ", \"dest_stats\": %s", st);
	fprintf(f, "}");
}

/* "summary": best and median of each metric over the successful runs. */
static int json_summary(FILE *f, const struct bench_config *c,
			const struct run_result *runs, int n)
{
	double (*v)[M_COUNT] = calloc((size_t)n + 1, sizeof(*v));
	double *col = calloc((size_t)n + 1, sizeof(*col));
	int ok = 0;

	if (!v || !col) {
		free(v);
		free(col);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++)
		if (!runs[i].ret && !runs[i].dest_exit && runs[i].verified)
			derive(c, &runs[i], v[ok++]);
	fprintf(f, "\"runs_ok\": %d, \"summary\": {", ok);
	for (int m = 0; m < M_COUNT && ok; m++) {
		for (int i = 0; i < ok; i++)
			col[i] = v[i][m];
		qsort(col, (size_t)ok, sizeof(*col), cmp_double);
		/* Median of an even count: the mean of the middle two. */
		double med = ok % 2 ? col[ok / 2]
				    : (col[ok / 2 - 1] + col[ok / 2]) / 2;
		double best = metrics[m].higher_better ? col[ok - 1] : col[0];

		fprintf(f, metrics[m].bytes
				   ? "%s\"%s\": {\"best\": %.0f, \"median\": %.0f}"
				   : "%s\"%s\": {\"best\": %.6g, \"median\": %.6g}",
			m ? ", " : "", metrics[m].key, best, med);
	}
	fprintf(f, "}");
	free(v);
	free(col);
	return 0;
}

int report_json(FILE *f, const struct bench_config *c,
		const struct run_result *runs, int n)
{
	int ret;

	fprintf(f, "{\"bench\": \"precopy_loopback\", \"size_mib\": %zu, "
		   "\"guest_bytes\": %zu, \"fill\": \"%s\", \"channels\": %d, "
		   "\"tls\": %s, "
		   "\"prefault\": %s, \"prefault_mode\": \"%s\", "
		   "\"repeat\": %d, "
		   "\"delta_cache_bytes\": %lld, \"source_fill_s\": %.3f, "
		   "\"baseline\": {\"plain_tcp_bytes_per_s\": %.0f, "
		   "\"plain_tcp_first_bytes_per_s\": %.0f, "
		   "\"plain_tcp_last_bytes_per_s\": %.0f, \"bytes\": %zu}, ",
		c->size >> 20, c->size, fill_name(c->fill), c->channels,
		c->tls ? "true" : "false", c->prefault ? "true" : "false",
		c->prefault == 2 ? "kernel" : c->prefault ? "user" : "none",
		c->repeat,
		(long long)c->delta_cache, c->fill_s, c->baseline_bps,
		c->baseline_first_bps, c->baseline_last_bps,
		c->baseline_bytes);
	ret = json_summary(f, c, runs, n);
	if (ret)
		return ret;
	fprintf(f, ", \"runs\": [");
	for (int i = 0; i < n; i++) {
		fprintf(f, i ? ", " : "");
		json_run(f, c, &runs[i]);
	}
	fprintf(f, "]}\n");
	return ferror(f) ? -EIO : 0;
}
