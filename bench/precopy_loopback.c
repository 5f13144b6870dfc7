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
 *                    [--tls [--tls-priority GNUTLS-PRIORITY]]
 *
 * --tls: each repeat migrates twice, plaintext then over TLS (PSK, with a
 * key made for the run; the library's default priorities, AES-128-GCM
 * first, unless --tls-priority says otherwise), and
 * the JSON holds both reports and the ratio of their median rates.
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
#include <sys/random.h>
#include <unistd.h>

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

/* A keys.psk with a fresh random key in a new folder under /tmp. */
static int make_psk(char *dir, size_t dlen, char *file, size_t flen)
{
	unsigned char key[32];
	FILE *f;

	snprintf(dir, dlen, "/tmp/vmmig-bench-XXXXXX");
	if (!mkdtemp(dir) || getrandom(key, sizeof(key), 0) != sizeof(key))
		return -errno;
	snprintf(file, flen, "%s/keys.psk", dir);
	f = fopen(file, "we");
	if (!f)
		return -errno;
	fprintf(f, "vmmig:");
	for (size_t i = 0; i < sizeof(key); i++)
		fprintf(f, "%02x", key[i]);
	fprintf(f, "\n");
	return fclose(f) ? -errno : 0;
}

static int source_setup(const struct bench_config *c, uint8_t *mem,
			const struct vmmig_tls_config *tls,
			struct vmmig_source **out)
{
	struct vmmig_source *src;
	int ret = vmmig_source_new(&src);

	if (ret)
		return ret;
	ret = vmmig_source_add_region(src, 0, 0, mem, c->size);
	if (!ret && tls)
		ret = vmmig_source_set_tls(src, tls);
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
		     uint64_t src_hash, const struct vmmig_tls_config *tls,
		     struct run_result *r)
{
	struct vmmig_source *src = NULL;
	struct dest_child d;
	double t0, cpu0;
	int ret;

	memset(r, 0, sizeof(*r));
	r->src_st.struct_size = sizeof(r->src_st);
	ret = dest_child_spawn(&d, c->size, c->prefault, c->recv_staged, tls);
	if (ret) {
		r->ret = ret;
		snprintf(r->error, sizeof(r->error), "destination: %s",
			 d.res && d.res->error[0] ? d.res->error
						  : vmmig_strerror(ret));
		goto out;
	}
	ret = source_setup(c, mem, tls, &src);
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
		   "[--baseline-mib N] [--delta-cache MiB] [--recv direct|staged] "
		   "[--tls [--tls-priority P]]\n");
}

static int parse(int argc, char **argv, struct bench_config *c,
		 const char **json, const char **tls_prio)
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
		{ "tls", no_argument, NULL, 'T' },
		{ "tls-priority", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int o;

	while ((o = getopt_long(argc, argv, "s:f:c:pr:j:b:d:R:TP:h", opts,
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
		case 'T': c->tls = 1; break;
		case 'P': *tls_prio = optarg; break;
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

/* Median of guest bytes / wall time over the successful runs; 0: none. */
static double median_rate(const struct bench_config *c,
			  const struct run_result *runs, int n)
{
	double v[100];
	int k = 0;

	for (int i = 0; i < n && k < 100; i++)
		if (!runs[i].ret && !runs[i].dest_exit && runs[i].verified &&
		    runs[i].wall_s > 0)
			v[k++] = (double)c->size / runs[i].wall_s;
	for (int i = 1; i < k; i++) /* insertion sort: a few values */
		for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
			double t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	if (!k)
		return 0;
	return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

int main(int argc, char **argv)
{
	struct bench_config c = { .size = 1024ull << 20, .channels = 1,
				  .repeat = 3, .baseline_bytes = 1024u << 20 };
	struct vmmig_tls_config tls = { .struct_size = sizeof(tls) };
	struct run_result *runs = NULL, *truns = NULL;
	char tdir[64] = "", psk[128];
	const char *json = NULL;
	FILE *out = stdout;
	uint8_t *mem;
	uint64_t hash;
	int ret = 1, ok = 0;

	if (parse(argc, argv, &c, &json, &tls.priority)) {
		usage(stderr);
		return 2;
	}
	if (c.tls && make_psk(tdir, sizeof(tdir), psk, sizeof(psk))) {
		perror("making a PSK file");
		return 1;
	}
	tls.psk_file = psk;
	runs = calloc((size_t)c.repeat, sizeof(*runs));
	truns = calloc((size_t)c.repeat, sizeof(*truns));
	mem = mmap(NULL, c.size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!runs || !truns || mem == MAP_FAILED) {
		perror("allocating guest memory");
		free(runs);
		free(truns);
		return 1;
	}
	/* The destination is forked per run: it must not inherit (and count
	 * in its RSS) a copy-on-write view of the source's guest memory. */
	madvise(mem, c.size, MADV_DONTFORK);
	double t0 = bench_now_s();
	bench_fill(mem, c.size, c.fill, 42);
	c.fill_s = bench_now_s() - t0;
	hash = bench_hash(mem, c.size);

	struct bench_config ct = c;

	c.tls = 0;
	c.baseline_first_bps = baseline(&c);
	/* Plaintext and TLS alternate, so that both see the same machine. */
	for (int i = 0; i < c.repeat; i++) {
		run_once(&c, mem, hash, NULL, &runs[i]);
		ok += !runs[i].ret && !runs[i].dest_exit && runs[i].verified;
		if (!ct.tls)
			continue;
		run_once(&ct, mem, hash, &tls, &truns[i]);
		ok += !truns[i].ret && !truns[i].dest_exit && truns[i].verified;
	}
	c.baseline_last_bps = baseline(&c);
	if (c.baseline_first_bps > 0 && c.baseline_last_bps > 0)
		c.baseline_bps = (c.baseline_first_bps + c.baseline_last_bps) / 2;
	else if (c.baseline_first_bps > 0 || c.baseline_last_bps > 0)
		c.baseline_bps = c.baseline_first_bps > 0 ? c.baseline_first_bps
							  : c.baseline_last_bps;
	ct.baseline_first_bps = c.baseline_first_bps;
	ct.baseline_last_bps = c.baseline_last_bps;
	ct.baseline_bps = c.baseline_bps;
	if (c.baseline_bytes)
		fprintf(stderr, "plain TCP baseline: %.2f / %.2f GB/s\n",
			c.baseline_first_bps / 1e9, c.baseline_last_bps / 1e9);
	for (int i = 0; i < c.repeat; i++) {
		report_run_line(stderr, &c, &runs[i], i);
		if (ct.tls)
			report_run_line(stderr, &ct, &truns[i], i);
	}
	double rp = median_rate(&c, runs, c.repeat);
	double rt = median_rate(&ct, truns, c.repeat);

	if (ct.tls)
		fprintf(stderr, "median rate: plaintext %.2f GB/s, TLS %.2f "
			"GB/s: TLS/plaintext %.2f\n", rp / 1e9, rt / 1e9,
			rp > 0 ? rt / rp : 0);

	if (json && strcmp(json, "-"))
		out = fopen(json, "we");
	if (!out) {
		perror(json);
		goto done;
	}
	if (ct.tls)
		fprintf(out, "{\"plaintext\": ");
	ret = report_json(out, &c, runs, c.repeat);
	if (!ret && ct.tls) {
		fprintf(out, ", \"tls\": ");
		ret = report_json(out, &ct, truns, c.repeat);
		fprintf(out, ", \"tls_priority\": \"%s\", "
			"\"rate_plaintext_bytes_per_s\": %.0f, "
			"\"rate_tls_bytes_per_s\": %.0f, "
			"\"tls_vs_plaintext\": %.3f}\n",
			tls.priority ? tls.priority : "library default", rp, rt,
			rp > 0 ? rt / rp : 0);
	}
	ret = !ret && ok == c.repeat * (ct.tls ? 2 : 1) ? 0 : 1;
	if (out != stdout)
		fclose(out);
done:
	if (tdir[0]) {
		unlink(psk);
		rmdir(tdir);
	}
	munmap(mem, c.size);
	free(runs);
	free(truns);
	return ret;
}
