/* SPDX-License-Identifier: MIT */
/*
 * Figures of the pre-copy benchmark: one set per run, derived from what
 * both processes measured, then best and median over the repeats, as JSON.
 */
#ifndef VMMIG_BENCH_REPORT_H
#define VMMIG_BENCH_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include <vmmig/vmmig.h>

#include "bench_util.h"

struct bench_config {
	size_t size;             /* guest memory, bytes */
	enum bench_fill fill;
	int channels;
	int recv_staged;         /* destination: VMMIG_OPT_RECV_DIRECT = 0 */
	int prefault;            /* enum prefault: how the destination
				  * touched its memory before listening */
	int repeat;
	int64_t delta_cache;     /* VMMIG_OPT_DELTA_CACHE_BYTES */
	int tls;                 /* channels over TLS (PSK) */
	/* Plain loopback TCP in this run, before and after the migrations;
	 * ratios use their mean. <= 0: not measured. */
	double baseline_first_bps, baseline_last_bps, baseline_bps;
	size_t baseline_bytes;
	double fill_s;           /* filling the source memory (untimed) */
};

/* What one migration measured, on both sides. */
struct run_result {
	int ret;                 /* vmmig_source_wait() */
	int dest_exit;           /* the child's exit status */
	bool verified;           /* destination hash == source hash */
	double wall_s;           /* vmmig_source_start() -> wait() returned */
	struct vmmig_stats src_st, dst_st;
	double src_cpu_s, dst_cpu_s;
	uint64_t src_rss_before, src_peak_rss;
	uint64_t dst_rss_before, dst_peak_rss;
	double dst_prefault_s;
	char error[300];
};

/* One line per run for people (stderr). */
void report_run_line(FILE *f, const struct bench_config *c,
		     const struct run_result *r, int index);
/* The whole invocation as one JSON object. Return: 0 or -errno. */
int report_json(FILE *f, const struct bench_config *c,
		const struct run_result *runs, int n);

#endif
