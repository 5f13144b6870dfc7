/* SPDX-License-Identifier: MIT */
/* Reports: the --json file (toyvmm's fields around the library's stats)
 * and a human summary on stdout. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

int report__history(struct report *r, struct vmmig_source *src)
{
	struct vmmig_round probe = { .struct_size = sizeof(probe) };
	int n = vmmig_source_get_rounds(src, &probe, 0);

	if (n < 0)
		return n;
	r->rounds = calloc((size_t)n + 1, sizeof(*r->rounds));
	if (!r->rounds)
		return -ENOMEM;
	r->rounds[0].struct_size = sizeof(*r->rounds);
	n = vmmig_source_get_rounds(src, r->rounds, (size_t)n);
	if (n < 0)
		return n;
	r->nrounds = n;
	r->faults.struct_size = sizeof(r->faults);
	return vmmig_source_get_faults(src, &r->faults);
}

void report__free(struct report *r)
{
	free(r->rounds);
	r->rounds = NULL;
	r->nrounds = 0;
}

/* ,"history":{...} from the source's history; nothing elsewhere. */
static int history_json(FILE *f, const struct report *r)
{
	size_t len = 4096 + (size_t)r->nrounds * 512;
	char *buf;
	int n;

	if (!r->rounds)
		return 0;
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	n = vmmig_history_to_json(r->rounds, (size_t)r->nrounds, &r->faults,
				  buf, len);
	if (n >= 0)
		fprintf(f, ",\"history\":%s", buf);
	free(buf);
	return n < 0 ? n : 0;
}

static void json_u64s(FILE *f, const char *key, const uint64_t *v,
		      unsigned n)
{
	fprintf(f, ",\"%s\":[", key);
	for (unsigned i = 0; i < n && i < TOY_MAX_VCPUS; i++)
		fprintf(f, "%s%llu", i ? "," : "", (unsigned long long)v[i]);
	fputc(']', f);
}

int report__json(const struct report *r, const char *path)
{
	char stats[8192];
	FILE *f;
	int n = vmmig_stats_to_json(&r->st, stats, sizeof(stats));

	if (n < 0)
		return n;
	f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "{\"role\":\"%s\",\"backend\":", r->role);
	json_str(f, r->backend);
	if (r->tracker) {
		fprintf(f, ",\"tracker\":");
		json_str(f, r->tracker);
	}
	fprintf(f, ",\"workload\":");
	json_str(f, r->workload);
	fprintf(f, ",\"mode_requested\":");
	json_str(f, r->mode);
	fprintf(f, ",\"result\":\"%s\",\"error\":", r->result ? "failed" :
		"completed");
	if (r->error)
		json_str(f, r->error);
	else
		fputs("null", f);
	if (r->extra_json)
		fputs(r->extra_json, f);
	if (history_json(f, r))
		fputs(",\"history\":null", f);
	fprintf(f, ",\"heartbeat_at_pause\":%llu,\"heartbeat_at_end_of_"
		"migration\":%llu,\"heartbeat_at_start\":%llu,"
		"\"heartbeat_at_exit\":%llu,\"vcpus\":%u,\"guest_alive\":%s",
		(unsigned long long)r->hb_pause, (unsigned long long)r->hb_done,
		(unsigned long long)r->hb_start, (unsigned long long)r->hb_end,
		r->nvcpus, r->guest_error ? "false" : "true");
	json_u64s(f, "heartbeats_at_start", r->hb_start_v, r->nvcpus);
	json_u64s(f, "heartbeats_at_exit", r->hb_end_v, r->nvcpus);
	fprintf(f, ",\"stats\":%s}\n", stats);
	return fclose(f) ? -errno : 0;
}

static const char *verified(int v)
{
	return v < 0 ? "not checked" : v ? "yes" : "NO";
}

void report__print(const struct report *r)
{
	const struct vmmig_stats *st = &r->st;

	if (r->guest_error)
		printf("%s: the guest DIED here: %s (its vCPU exit is above)\n",
		       r->role, strerror(-r->guest_error));
	if (r->result) {
		printf("%s: migration failed: %s\n", r->role,
		       r->error ? r->error : vmmig_strerror(r->result));
		if (r->error && strstr(r->error, "region"))
			printf("%s: hint: both sides need the same --mem\n",
			       r->role);
		if (!strcmp(r->role, "source"))
			printf("source: guest still running here: heartbeat "
			       "%llu -> %llu\n",
			       (unsigned long long)r->hb_done,
			       (unsigned long long)r->hb_end);
		fflush(stdout);
		return;
	}
	printf("%s: migration completed (%s backend): total %.1f ms, "
	       "downtime %.2f ms, %llu rounds, %.1f MiB transferred, "
	       "%u channel(s), memory verified: %s\n", r->role, r->backend,
	       (double)st->total_time_us / 1000.0,
	       (double)st->downtime_us / 1000.0,
	       (unsigned long long)st->rounds,
	       (double)st->transferred_bytes / (1024.0 * 1024.0), st->channels,
	       verified(st->verified));
	printf("%s: mode %s, path %d (%s)\n", r->role,
	       vmmig_mode_name(st->mode), st->path,
	       st->path_reason[0] ? st->path_reason : "-");
	/* Post-copy figures only where a post-copy switch happened. */
	if (st->postcopy_bytes || st->postcopy_faults || st->postcopy_time_us)
		printf("%s: post-copy faults %llu (p50 %llu us, p99 %llu us), "
		       "%.1f MiB before / %.1f MiB after the switch, last page "
		       "%.1f ms after it, %llu recoveries\n", r->role,
		       (unsigned long long)st->postcopy_faults,
		       (unsigned long long)st->fault_latency_p50_us,
		       (unsigned long long)st->fault_latency_p99_us,
		       (double)st->precopy_bytes / (1024.0 * 1024.0),
		       (double)st->postcopy_bytes / (1024.0 * 1024.0),
		       (double)st->postcopy_time_us / 1000.0,
		       (unsigned long long)st->postcopy_recoveries);
	if (!strcmp(r->role, "source"))
		printf("source: guest paused at heartbeat %llu\n",
		       (unsigned long long)r->hb_pause);
	else
		printf("dest: guest resumed at heartbeat %llu, now %llu\n",
		       (unsigned long long)r->hb_start,
		       (unsigned long long)r->hb_end);
	for (unsigned i = 0; r->nvcpus > 1 && i < r->nvcpus; i++)
		printf("%s: vcpu %u heartbeat %llu -> %llu\n", r->role, i,
		       (unsigned long long)r->hb_start_v[i],
		       (unsigned long long)r->hb_end_v[i]);
	fflush(stdout); /* the demo's two processes share the terminal */
}
