/* SPDX-License-Identifier: MIT */
/* toyvmm: command line. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char usage_text[] =
"usage: toyvmm dest   --listen ADDR [--mem SIZE] [--prefault] [--json FILE]\n"
"                     [--uri-file FILE] [--run-after MS] [--backend B]\n"
"       toyvmm source --connect ADDR [--mode M] [--workload W]\n"
"                     [--mem SIZE] [--fill random|zero|half|mix] [--channels N]\n"
"                     [--json FILE] [--timeline FILE.svg]\n"
"                     [--compression none|zstd] (--zstd: zstd)\n"
"                     [--delta-cache SIZE]\n"
"                     [--downtime-ms MS] [--max-rounds N] [--bandwidth SIZE]\n"
"                     [--postcopy-bandwidth SIZE] (the cap from the pause on)\n"
"                     [--warmup MS] [--run-after MS] [--backend B]\n"
"                     [--tracker auto|uffd-wp|manual|kvm-bitmap|kvm-ring]\n"
"                     [--vcpus N] (each runs the workload on its share)\n"
"                     [--postcopy-no-first-pass] [--no-verify]\n"
"       both:         [--recovery-timeout MS] [--io-timeout MS]\n"
"                     [--fault-cpu CPU] (post-copy fault threads there)\n"
"                     [--tls-psk FILE [--tls-psk-identity ID]]\n"
"                     [--tls-x509 DIR [--tls-hostname NAME]]\n"
"                     [--tls-priority GNUTLS-PRIORITY]\n"
"       dest:         [--handshake-timeout MS] [--accept-timeout MS]\n"
"       toyvmm demo   [source options]\n"
"       toyvmm memfile --out FILE [--mem SIZE] [--fill F] (the source's\n"
"                     initial guest memory, for another VMM)\n"
"ADDR: HOST:PORT, tcp:HOST:PORT or unix:PATH. SIZE: bytes with K/M/G.\n"
"M: precopy | postcopy[:now] | hybrid[:N] | adaptive[:LOW,HIGH,CAP]\n"
"   (N pre-copy rounds; LOW/HIGH in percent dirtied in the first pass)\n"
"W: idle | memwrite:RATE (MiB/s) | matmul[:ORDER] | refresh[:MiB]\n"
"   | dbcache:idle|ro|rw[:POOL%[:OPS/s]] (needs --storage DIR)\n"
"   | crash:MS (a guest bug after MS ms: the vCPU dies, toyvmm says so)\n"
"--storage DIR: dbcache's shared storage (source: data file, created if\n"
"   missing; dest: restore pages from it). --recv-direct 0|1 (dest):\n"
"   VMMIG_OPT_RECV_DIRECT (0: receive through a buffer). --no-hints\n"
"   (source): dbcache without cache-restore (the baseline)\n"
"B: auto (kvm when /dev/kvm opens) | kvm | software\n"
"--progress / --no-progress: live line on stderr (default: if a tty)\n"
"--tls-psk FILE: QEMU keys.psk (IDENTITY:HEXKEY lines; identity vmmig).\n"
"   --tls-x509 DIR: QEMU tls-creds-x509 layout (ca-cert.pem, server-*.pem\n"
"   on the dest, client-*.pem on the source); the source checks the dest's\n"
"   certificate against the host it dials or --tls-hostname\n"
"--handshake-timeout MS: drop a connection without a handshake by then;\n"
"   --accept-timeout MS: fail if no source completed one by then\n";

int cli__usage(const char *why)
{
	if (why)
		fprintf(stderr, "toyvmm: %s\n", why);
	fputs(usage_text, stderr);
	return 2;
}

void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	unsigned shift = 0;

	if (end == s)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	}
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	if (*end || v > (~0ull >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (end == s || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_workload(struct opts *o, const char *w)
{
	const char *colon = strchr(w, ':');
	size_t n = colon ? (size_t)(colon - w) : strlen(w);
	unsigned long arg = 0;

	if (!strncmp(w, "dbcache:", 8))
		return dbcache__parse(o, w);
	if (colon && parse_uint(colon + 1, WL_MATMUL_MAX_N, &arg))
		return cli__usage("bad workload argument");
	o->workload = w;
	o->workload_given = true;
	o->arg = (uint32_t)arg;
	if (n == 4 && !strncmp(w, "idle", n) && !colon)
		o->kind = WL_IDLE;
	else if (n == 8 && !strncmp(w, "memwrite", n) && arg)
		o->kind = WL_MEMWRITE;
	else if (n == 6 && !strncmp(w, "matmul", n) &&
		 (!colon || (arg >= 8 && arg <= WL_MATMUL_MAX_N)))
		o->kind = WL_MATMUL;
	else if (n == 7 && !strncmp(w, "refresh", n))
		o->kind = WL_REFRESH;
	else if (n == 5 && !strncmp(w, "crash", n) && arg)
		o->kind = WL_CRASH;
	else if (n == 7 && !strncmp(w, "dbcache", n))
		return dbcache__parse(o, w);
	else
		return cli__usage("unknown workload (idle, memwrite:RATE, "
				  "matmul[:ORDER], refresh[:MiB])");
	return 0;
}

/* The library's default, so that toyvmm shows what an embedder gets. */
static int64_t default_channels(void)
{
	int64_t def = 1;

	vmmig_option_range(VMMIG_OPT_CHANNELS, NULL, NULL, &def);
	return def;
}

enum {
	O_CONNECT = 256, O_LISTEN, O_MODE, O_WORKLOAD, O_MEM, O_FILL,
	O_CHANNELS, O_JSON, O_PREFAULT, O_BACKEND, O_URI_FILE, O_RUN_AFTER,
	O_ZSTD, O_DELTA, O_DOWNTIME, O_ROUNDS, O_BW, O_WARMUP, O_PROGRESS,
	O_NO_PROGRESS, O_VERBOSE, O_TRACKER, O_PC_NOW, O_NO_VERIFY,
	O_RECOVERY, O_IO_TIMEOUT, O_STORAGE, O_RECV_DIRECT, O_NO_HINTS,
	O_FAULT_CPU, O_VCPUS, O_TIMELINE, O_TLS_PSK, O_TLS_PSK_ID, O_TLS_X509,
	O_TLS_HOST, O_TLS_PRIO, O_HANDSHAKE, O_ACCEPT, O_OUT, O_PC_BW,
	O_COMPRESSION,
};

static const struct option longopts[] = {
	{ "connect", required_argument, NULL, O_CONNECT },
	{ "listen", required_argument, NULL, O_LISTEN },
	{ "mode", required_argument, NULL, O_MODE },
	{ "workload", required_argument, NULL, O_WORKLOAD },
	{ "mem", required_argument, NULL, O_MEM },
	{ "fill", required_argument, NULL, O_FILL },
	{ "channels", required_argument, NULL, O_CHANNELS },
	{ "json", required_argument, NULL, O_JSON },
	{ "timeline", required_argument, NULL, O_TIMELINE },
	{ "prefault", no_argument, NULL, O_PREFAULT },
	{ "backend", required_argument, NULL, O_BACKEND },
	{ "uri-file", required_argument, NULL, O_URI_FILE },
	{ "run-after", required_argument, NULL, O_RUN_AFTER },
	{ "zstd", no_argument, NULL, O_ZSTD },
	{ "compression", required_argument, NULL, O_COMPRESSION },
	{ "delta-cache", required_argument, NULL, O_DELTA },
	{ "downtime-ms", required_argument, NULL, O_DOWNTIME },
	{ "max-rounds", required_argument, NULL, O_ROUNDS },
	{ "bandwidth", required_argument, NULL, O_BW },
	{ "postcopy-bandwidth", required_argument, NULL, O_PC_BW },
	{ "warmup", required_argument, NULL, O_WARMUP },
	{ "progress", no_argument, NULL, O_PROGRESS },
	{ "no-progress", no_argument, NULL, O_NO_PROGRESS },
	{ "verbose", no_argument, NULL, O_VERBOSE },
	{ "tracker", required_argument, NULL, O_TRACKER },
	{ "postcopy-no-first-pass", no_argument, NULL, O_PC_NOW },
	{ "no-verify", no_argument, NULL, O_NO_VERIFY },
	{ "recovery-timeout", required_argument, NULL, O_RECOVERY },
	{ "fault-cpu", required_argument, NULL, O_FAULT_CPU },
	{ "vcpus", required_argument, NULL, O_VCPUS },
	{ "io-timeout", required_argument, NULL, O_IO_TIMEOUT },
	{ "storage", required_argument, NULL, O_STORAGE },
	{ "recv-direct", required_argument, NULL, O_RECV_DIRECT },
	{ "no-hints", no_argument, NULL, O_NO_HINTS },
	{ "out", required_argument, NULL, O_OUT },
	{ "tls-psk", required_argument, NULL, O_TLS_PSK },
	{ "tls-psk-identity", required_argument, NULL, O_TLS_PSK_ID },
	{ "tls-x509", required_argument, NULL, O_TLS_X509 },
	{ "tls-hostname", required_argument, NULL, O_TLS_HOST },
	{ "tls-priority", required_argument, NULL, O_TLS_PRIO },
	{ "handshake-timeout", required_argument, NULL, O_HANDSHAKE },
	{ "accept-timeout", required_argument, NULL, O_ACCEPT },
	{ NULL, 0, NULL, 0 },
};

static int parse_one(struct opts *o, int c, const char *a)
{
	unsigned long v;

	switch (c) {
	case O_CONNECT: o->connect = a; return 0;
	case O_LISTEN: o->listen = a; return 0;
	case O_MODE: return mode__parse(o, a);
	case O_WORKLOAD: return parse_workload(o, a);
	case O_MEM: return parse_size(a, &o->mem);
	case O_FILL:
		if (!strcmp(a, "random"))
			o->fill = FILL_RANDOM;
		else if (!strcmp(a, "zero"))
			o->fill = FILL_ZERO;
		else if (!strcmp(a, "half"))
			o->fill = FILL_HALF;
		else if (!strcmp(a, "mix"))
			o->fill = FILL_MIX;
		else
			return -EINVAL;
		return 0;
	case O_CHANNELS:
		if (parse_uint(a, 64, &v) || !v)
			return -EINVAL;
		o->channels = (unsigned)v;
		return 0;
	case O_JSON: o->json = a; return 0;
	case O_OUT: o->out = a; return 0;
	case O_TIMELINE: o->timeline = a; return 0;
	case O_PREFAULT: o->prefault = true; return 0;
	case O_BACKEND: o->backend = a; return 0;
	case O_URI_FILE: o->uri_file = a; return 0;
	case O_RUN_AFTER:
	case O_WARMUP:
		if (parse_uint(a, 3600000, &v))
			return -EINVAL;
		*(c == O_WARMUP ? &o->warmup_ms : &o->run_after_ms) =
			(unsigned)v;
		return 0;
	case O_ZSTD: o->compression = VMMIG_COMPRESS_ZSTD; return 0;
	case O_COMPRESSION:
		if (!strcmp(a, "none"))
			o->compression = VMMIG_COMPRESS_NONE;
		else if (!strcmp(a, "zstd"))
			o->compression = VMMIG_COMPRESS_ZSTD;
		else
			return -EINVAL;
		return 0;
	case O_DELTA: return parse_size(a, &o->delta_cache);
	case O_DOWNTIME:
	case O_ROUNDS:
		if (parse_uint(a, 1000000, &v))
			return -EINVAL;
		*(c == O_DOWNTIME ? &o->downtime_ms : &o->max_rounds) =
			(int64_t)v;
		return 0;
	case O_BW: return parse_size(a, &o->bandwidth);
	case O_PC_BW: return parse_size(a, &o->pc_bandwidth);
	case O_PROGRESS: o->progress = 1; return 0;
	case O_NO_PROGRESS: o->progress = 0; return 0;
	case O_VERBOSE: o->verbose = true; return 0;
	case O_TRACKER: o->tracker = a; return 0;
	case O_PC_NOW: o->pc_now = true; return 0;
	case O_STORAGE: o->storage = a; return 0;
	case O_NO_HINTS: o->no_hints = true; return 0;
	case O_RECV_DIRECT:
		if (parse_uint(a, 1, &v))
			return -EINVAL;
		o->recv_direct = (int)v;
		return 0;
	case O_NO_VERIFY: o->no_verify = true; return 0;
	case O_RECOVERY:
	case O_IO_TIMEOUT:
		if (parse_uint(a, 3600000, &v))
			return -EINVAL;
		*(c == O_RECOVERY ? &o->recovery_ms : &o->io_timeout_ms) =
			(int64_t)v;
		return 0;
	case O_TLS_PSK: o->tls_psk = a; return 0;
	case O_TLS_PSK_ID: o->tls_psk_identity = a; return 0;
	case O_TLS_X509: o->tls_x509 = a; return 0;
	case O_TLS_HOST: o->tls_hostname = a; return 0;
	case O_TLS_PRIO: o->tls_priority = a; return 0;
	case O_HANDSHAKE:
	case O_ACCEPT:
		if (parse_uint(a, 3600000, &v))
			return -EINVAL;
		*(c == O_HANDSHAKE ? &o->handshake_ms : &o->accept_ms) =
			(int64_t)v;
		return 0;
	case O_VCPUS:
		if (parse_uint(a, TOY_MAX_VCPUS, &v) || !v)
			return -EINVAL;
		o->vcpus = (unsigned)v;
		return 0;
	case O_FAULT_CPU:
		if (parse_uint(a, 1023, &v))
			return -EINVAL;
		o->fault_cpu = (int64_t)v;
		return 0;
	}
	return -EINVAL;
}

int cli__parse(struct opts *o, int argc, char **argv, int first)
{
	int c;

	memset(o, 0, sizeof(*o));
	o->mode = "precopy";
	o->backend = "auto";
	o->mem = 1ull << 30;
	o->fill = FILL_RANDOM;
	o->channels = (unsigned)default_channels();
	o->vcpus = 1;
	o->downtime_ms = -1;
	o->max_rounds = -1;
	o->compression = -1;
	o->recovery_ms = -1;
	o->io_timeout_ms = -1;
	o->fault_cpu = -1;
	o->recv_direct = -1;
	o->handshake_ms = -1;
	o->accept_ms = -1;
	o->mode_kind = VMMIG_MODE_PRECOPY;
	o->warmup_ms = 200;
	o->progress = -1;
	o->kind = WL_IDLE;
	o->workload = "idle";
	o->tracker = "auto";
	optind = first;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == '?')
			return cli__usage(NULL);
		int ret = parse_one(o, c, optarg);

		if (ret == 2)
			return 2; /* parse_workload printed why */
		if (ret) {
			fprintf(stderr, "toyvmm: bad value '%s'\n", optarg);
			return cli__usage(NULL);
		}
	}
	if (optind < argc)
		return cli__usage("unexpected argument");
	if (o->tls_psk && o->tls_x509)
		return cli__usage("--tls-psk and --tls-x509 exclude each other");
	/* --postcopy-no-first-pass is postcopy:now, whatever came first. */
	if (o->pc_now && o->mode_kind != VMMIG_MODE_POSTCOPY)
		return cli__usage("--postcopy-no-first-pass needs --mode "
				  "postcopy");
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	int ret;

	if (argc < 2)
		return cli__usage(NULL);
	ret = cli__parse(&o, argc, argv, 2);
	if (ret)
		return ret;
	if (!strcmp(argv[1], "source")) {
		if (!o.connect)
			return cli__usage("source needs --connect");
		return migrate__source(&o);
	}
	if (!strcmp(argv[1], "dest")) {
		if (!o.listen)
			return cli__usage("dest needs --listen");
		return migrate__dest(&o);
	}
	if (!strcmp(argv[1], "memfile"))
		return memfile__write(&o);
	if (!strcmp(argv[1], "demo"))
		return demo__run(&o, argv[0]);
	return cli__usage("unknown command");
}
