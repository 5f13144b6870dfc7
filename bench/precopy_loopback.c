/* SPDX-License-Identifier: MIT */
/*
 * Pre-copy benchmark (issue 2): migrate an idle guest's memory from this
 * process to a forked destination over loopback TCP with libvmmig, a few
 * times, and report time, downtime, bytes, CPU and peak RSS of each side and
 * the rate against plain loopback TCP measured in the same run, as JSON.
 *
 *   precopy_loopback [--size MiB] [--fill random|half] [--channels N]
 *                    [--prefault[=user|kernel]] [--repeat N] [--json FILE]
 *                    [--baseline-mib N] [--delta-cache MiB]
 *
 * The guest is idle, so the default tracker (manual, never fed) and no-op
 * pause/resume are right: one full pass, then stop-and-copy.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench_dest.h"
#include "bench_report.h"
#include "tcp_baseline.h"

static int noop(void *opaque)
{
	(void)opaque;
	return 0;
}

static const struct vmmig_source_ops source_ops = {
	.version = VMMIG_SOURCE_OPS_VERSION,
	.pause = noop,
	.resume = noop,
};

static int source_setup(const struct bench_config *c, uint8_t *mem,
			struct vmmig_source **out)
{
	struct vmmig_source *src;
	int ret = vmmig_source_new(&src);

	if (ret)
		return ret;
	ret = vmmig_source_add_region(src, 0, 0, mem, c->size);
	if (!ret)
		ret = vmmig_source_set_ops(src, &source_ops, NULL);
	if (!ret)
		ret = vmmig_source_set_option(src, VMMIG_OPT_CHANNELS,
					      c->channels);
	if (!ret)
		ret = vmmig_source_set_option(src, VMMIG_OPT_DELTA_CACHE_BYTES,
					      c->delta_cache);
	if (ret) {
		vmmig_source_free(src);
		return ret;
	}
	*out = src;
	return 0;
}

/* One migration into a fresh destination process. */
static void run_once(const struct bench_config *c, uint8_t *mem,
		     uint64_t src_hash, struct run_result *r)
{
	struct vmmig_source *src = NULL;
	struct dest_child d;
	double t0, cpu0;
	int ret;

	memset(r, 0, sizeof(*r));
	r->src_st.struct_size = sizeof(r->src_st);
	ret = dest_child_spawn(&d, c->size, c->prefault, c->recv_staged);
	if (ret) {
		r->ret = ret;
		snprintf(r->error, sizeof(r->error), "destination: %s",
			 d.res && d.res->error[0] ? d.res->error
						  : vmmig_strerror(ret));
		goto out;
	}
	ret = source_setup(c, mem, &src);
	if (ret) {
		r->ret = ret;
		snprintf(r->error, sizeof(r->error), "source setup: %s",
			 vmmig_strerror(ret));
		goto out;
	}
	bench_peak_reset();
	r->src_rss_before = bench_status_bytes("VmRSS");
	cpu0 = bench_cpu_s();
	t0 = bench_now_s();
	ret = vmmig_source_start(src, d.uri);
	if (!ret)
		ret = vmmig_source_wait(src);
	r->wall_s = bench_now_s() - t0;
	r->src_cpu_s = bench_cpu_s() - cpu0;
	r->src_peak_rss = bench_status_bytes("VmHWM");
	r->ret = ret;
	vmmig_source_get_stats(src, &r->src_st);
	if (ret)
		snprintf(r->error, sizeof(r->error), "source: %s",
			 vmmig_source_error(src) ? vmmig_source_error(src)
						 : vmmig_strerror(ret));
	else
		r->dest_exit = dest_child_reap(&d);
	r->dst_st = d.res->st;
	r->dst_cpu_s = d.res->cpu_s;
	r->dst_rss_before = d.res->rss_before;
	r->dst_peak_rss = d.res->peak_rss;
	r->dst_prefault_s = d.res->prefault_s;
	r->verified = !ret && !r->dest_exit && d.res->started &&
		      d.res->hash == src_hash;
	if (!ret && r->dest_exit)
		snprintf(r->error, sizeof(r->error), "destination: %s",
			 d.res->error);
	else if (!ret && !r->verified)
		snprintf(r->error, sizeof(r->error),
			 "destination memory differs from the source");
out:
	vmmig_source_free(src);
	dest_child_release(&d);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: precopy_loopback [--size MiB] [--fill random|half] "
		   "[--channels N] [--prefault[=user|kernel]] [--repeat N] [--json FILE] "
		   "[--baseline-mib N] [--delta-cache MiB] [--recv direct|staged]\n");
}

static int parse(int argc, char **argv, struct bench_config *c,
		 const char **json)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "fill", required_argument, NULL, 'f' },
		{ "channels", required_argument, NULL, 'c' },
		{ "prefault", optional_argument, NULL, 'p' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "json", required_argument, NULL, 'j' },
		{ "baseline-mib", required_argument, NULL, 'b' },
		{ "delta-cache", required_argument, NULL, 'd' },
		{ "recv", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int o;

	while ((o = getopt_long(argc, argv, "s:f:c:pr:j:b:d:R:h", opts,
				NULL)) != -1) {
		switch (o) {
		case 's': c->size = strtoull(optarg, NULL, 0) << 20; break;
		case 'c': c->channels = atoi(optarg); break;
		case 'p':
			if (!optarg || !strcmp(optarg, "user"))
				c->prefault = PREFAULT_USER;
			else if (!strcmp(optarg, "kernel"))
				c->prefault = PREFAULT_KERNEL;
			else
				return -EINVAL;
			break;
		case 'r': c->repeat = atoi(optarg); break;
		case 'R':
			if (!strcmp(optarg, "staged"))
				c->recv_staged = 1;
			else if (strcmp(optarg, "direct"))
				return -EINVAL;
			break;
		case 'j': *json = optarg; break;
		case 'b': c->baseline_bytes = strtoull(optarg, NULL, 0) << 20;
			break;
		case 'd': c->delta_cache = strtoll(optarg, NULL, 0) << 20;
			break;
		case 'f':
			if (!strcmp(optarg, "random"))
				c->fill = FILL_RANDOM;
			else if (!strcmp(optarg, "half"))
				c->fill = FILL_HALF;
			else
				return -EINVAL;
			break;
		case 'h': usage(stdout); exit(0);
		default: return -EINVAL;
		}
	}
	int64_t min = 1, max = 1;

	vmmig_option_range(VMMIG_OPT_CHANNELS, &min, &max, NULL);
	if (optind != argc || !c->size || c->channels < min ||
	    c->channels > max || c->repeat < 1 || c->repeat > 100)
		return -EINVAL;
	return 0;
}

static double baseline(const struct bench_config *c)
{
	double bps = c->baseline_bytes ? tcp_baseline(c->baseline_bytes) : 0;

	if (bps < 0)
		fprintf(stderr, "plain TCP baseline failed: %s\n",
			strerror((int)-bps));
	return bps;
}

int main(int argc, char **argv)
{
	struct bench_config c = { .size = 1024ull << 20, .channels = 1,
				  .repeat = 3, .baseline_bytes = 1024u << 20 };
	struct run_result *runs = NULL;
	const char *json = NULL;
	FILE *out = stdout;
	uint8_t *mem;
	uint64_t hash;
	int ret = 1, ok = 0;

	if (parse(argc, argv, &c, &json)) {
		usage(stderr);
		return 2;
	}
	runs = calloc((size_t)c.repeat, sizeof(*runs));
	mem = mmap(NULL, c.size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!runs || mem == MAP_FAILED) {
		perror("allocating guest memory");
		free(runs);
		return 1;
	}
	/* The destination is forked per run: it must not inherit (and count
	 * in its RSS) a copy-on-write view of the source's guest memory. */
	madvise(mem, c.size, MADV_DONTFORK);
	double t0 = bench_now_s();
	bench_fill(mem, c.size, c.fill, 42);
	c.fill_s = bench_now_s() - t0;
	hash = bench_hash(mem, c.size);

	c.baseline_first_bps = baseline(&c);
	for (int i = 0; i < c.repeat; i++) {
		run_once(&c, mem, hash, &runs[i]);
		ok += !runs[i].ret && !runs[i].dest_exit && runs[i].verified;
	}
	c.baseline_last_bps = baseline(&c);
	if (c.baseline_first_bps > 0 && c.baseline_last_bps > 0)
		c.baseline_bps = (c.baseline_first_bps + c.baseline_last_bps) / 2;
	else if (c.baseline_first_bps > 0 || c.baseline_last_bps > 0)
		c.baseline_bps = c.baseline_first_bps > 0 ? c.baseline_first_bps
							  : c.baseline_last_bps;
	if (c.baseline_bytes)
		fprintf(stderr, "plain TCP baseline: %.2f / %.2f GB/s\n",
			c.baseline_first_bps / 1e9, c.baseline_last_bps / 1e9);
	for (int i = 0; i < c.repeat; i++)
		report_run_line(stderr, &c, &runs[i], i);

	if (json && strcmp(json, "-"))
		out = fopen(json, "we");
	if (!out) {
		perror(json);
		goto done;
	}
	if (report_json(out, &c, runs, c.repeat) == 0 && ok == c.repeat)
		ret = 0;
	if (out != stdout)
		fclose(out);
done:
	munmap(mem, c.size);
	free(runs);
	return ret;
}
