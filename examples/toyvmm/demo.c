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

int demo__run(const struct opts *in, const char *self)
{
	struct opts o = *in;
	char dir[] = "/tmp/toyvmm-demo-XXXXXX", path[600], uri[512];
	char json[16384];
	pid_t pid;
	int status, code = 2;

	(void)self;
	if (!o.workload_given) {
		o.kind = WL_MEMWRITE;
		o.arg = 64;
		o.workload = "memwrite:64";
	}
	if (!mkdtemp(dir))
		return 2;
	printf("demo: %s guest of %llu MiB, workload %s, %u channel(s)\n",
	       o.backend, (unsigned long long)(o.mem >> 20), o.workload,
	       o.channels);
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
	snprintf(path, sizeof(path), "%s/dest.json", dir);
	if (code == 0 && read_file(path, json, sizeof(json)) > 0) {
		int ok = strstr(json, "\"verified\":true") &&
			 json_u64(json, "\"heartbeat_at_exit\":") >
			 json_u64(json, "\"heartbeat_at_start\":");

		printf("demo: %s: memory identical at the switchover, the "
		       "heartbeat went on from %llu to %llu on the destination\n",
		       ok ? "OK" : "FAILED",
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
