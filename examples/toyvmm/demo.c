/* SPDX-License-Identifier: MIT */
/*
 * toyvmm demo: a destination in a child process, this process as the
 * source, a live migration between them over TCP loopback, and a summary
 * of what the destination saw.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

#define DEMO_DOWNTIME_MS 10

static pid_t spawn_dest(const struct opts *o, const char *dir)
{
	char mem[32], uri[512], json[512];
	pid_t pid;

	snprintf(mem, sizeof(mem), "%llu", (unsigned long long)o->mem);
	snprintf(uri, sizeof(uri), "%s/uri", dir);
	snprintf(json, sizeof(json), "%s/dest.json", dir);
	pid = fork();
	if (pid)
		return pid;
	/* The child is a toyvmm dest like any other. */
	execl("/proc/self/exe", "toyvmm", "dest", "--listen",
	      "tcp:127.0.0.1:0", "--mem", mem, "--backend", o->backend,
	      "--uri-file", uri, "--json", json, "--run-after", "500",
	      "--no-progress", o->prefault ? "--prefault" : NULL, (char *)NULL);
	_exit(127);
}

static int read_file(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -errno;
	n = fread(buf, 1, len - 1, f);
	buf[n] = 0;
	fclose(f);
	return (int)n;
}

static unsigned long long json_u64(const char *json, const char *key)
{
	const char *p = strstr(json, key);

	return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

/* The numbers of the array "@key":[...] into @v; how many. */
static unsigned json_u64s(const char *json, const char *key, uint64_t *v,
			  unsigned max)
{
	const char *p = strstr(json, key);
	unsigned n = 0;

	if (!p || !(p = strchr(p, '[')))
		return 0;
	for (p++; n < max && *p >= '0' && *p <= '9'; n++) {
		char *end;

		v[n] = strtoull(p, &end, 10);
		p = *end == ',' ? end + 1 : end;
	}
	return n;
}

/* Every vCPU's heartbeat went on at the destination; prints each. */
static bool all_vcpus_beat(const char *json)
{
	uint64_t start[TOY_MAX_VCPUS], end[TOY_MAX_VCPUS];
	unsigned n = json_u64s(json, "\"heartbeats_at_start\":", start,
			       TOY_MAX_VCPUS);
	bool ok = n > 0 && json_u64s(json, "\"heartbeats_at_exit\":", end,
				     TOY_MAX_VCPUS) == n;

	for (unsigned i = 0; ok && i < n; i++) {
		if (n > 1)
			printf("demo: vcpu %u heartbeat %llu -> %llu\n", i,
			       (unsigned long long)start[i],
			       (unsigned long long)end[i]);
		ok = end[i] > start[i];
	}
	return ok;
}

int demo__run(const struct opts *in, const char *self)
{
	struct opts o = *in;
	char dir[] = "/tmp/toyvmm-demo-XXXXXX", path[600], uri[512];
	char json[16384];
	struct toyvm probe = { 0 };
	pid_t pid;
	int status, code = 2;

	(void)self;
	if (!o.workload_given) {
		o.kind = WL_MEMWRITE;
		o.arg = 64;
		o.workload = "memwrite:64";
	}
	/* The demo shows a pause nobody notices: it asks the library for
	 * one (the library's own default, like QEMU's, is 300 ms). */
	if (o.downtime_ms < 0)
		o.downtime_ms = DEMO_DOWNTIME_MS;
	/* Say which backend "auto" is, and give both sides that one. */
	if (toyvm__pick_backend(&probe, o.backend) == 0)
		o.backend = probe.ops->name;
	if (!mkdtemp(dir))
		return 2;
	printf("demo: %s guest of %llu MiB, %u vCPU(s), workload %s, %u "
	       "channel(s), downtime limit %lld ms\n", o.backend,
	       (unsigned long long)(o.mem >> 20), o.vcpus, o.workload,
	       o.channels, (long long)o.downtime_ms);
	fflush(stdout);
	pid = spawn_dest(&o, dir);
	if (pid < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/uri", dir);
	for (int i = 0; i < 300 && read_file(path, uri, sizeof(uri)) <= 0;
	     i++)
		sleep_ms(20);
	uri[strcspn(uri, "\n")] = 0;
	if (!uri[0]) {
		fprintf(stderr, "demo: the destination did not come up\n");
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		goto out;
	}
	o.connect = uri;
	code = migrate__source(&o);
	if (code)
		kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	if (code == EXIT_GUEST_DIED)
		printf("demo: FAILED: the guest died on the source before it "
		       "could migrate (its vCPU exit is above)\n");
	if (code == 0 && WIFEXITED(status) &&
	    WEXITSTATUS(status) == EXIT_GUEST_DIED) {
		printf("demo: FAILED: the guest died on the destination after "
		       "the migration (its vCPU exit is above)\n");
		code = 1;
	}
	snprintf(path, sizeof(path), "%s/dest.json", dir);
	if (code == 0 && read_file(path, json, sizeof(json)) > 0) {
		/* --no-verify: nothing to check but the heartbeat. */
		int ok = (o.no_verify || strstr(json, "\"verified\":true")) &&
			 all_vcpus_beat(json);

		printf("demo: %s: memory %s at the switchover, the "
		       "heartbeat went on from %llu to %llu on the destination\n",
		       ok ? "OK" : "FAILED",
		       o.no_verify ? "not compared (--no-verify)" : "identical",
		       json_u64(json, "\"heartbeat_at_start\":"),
		       json_u64(json, "\"heartbeat_at_exit\":"));
		code = ok ? 0 : 1;
	}
	unlink(path);
out:
	snprintf(path, sizeof(path), "%s/uri", dir);
	unlink(path);
	rmdir(dir);
	return code;
}
