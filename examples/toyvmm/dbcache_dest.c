/* SPDX-License-Identifier: MIT */
/*
 * dbcache on the destination: the shared-storage page source the library
 * restores hinted pages from, and the dbcache/storage part of the reports.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dbcache_vmm.h"

int dbcache__dest_storage(struct vmmig_dest *dst, const char *dir,
			  struct vmmig_page_source **out)
{
	struct vmmig_storage_config cfg = { .struct_size = sizeof(cfg) }; /* default queue depth */
	struct vmmig_page_source *ps = NULL;
	char path[4096];
	int ret = dbcache__path(dir, path, sizeof(path));

	*out = NULL;
	if (!ret)
		ret = vmmig_page_source_new_storage(&cfg, &ps);
	/* The mount point may differ from the source's; a missing file is
	 * not an error here: its pages then come over the network. */
	if (!ret)
		ret = vmmig_storage_add_object(ps, DB_OBJECT_ID, path);
	if (!ret)
		ret = vmmig_dest_set_page_source(dst, ps);
	if (ret) {
		vmmig_page_source_free(ps);
		return ret;
	}
	*out = ps;
	return 0;
}

static int storage_stats(struct vmmig_page_source *ps,
			 struct vmmig_storage_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->struct_size = sizeof(*st);
	return ps ? vmmig_storage_get_stats(ps, st) : -EINVAL;
}

/* Bytes per second while at least one read was in flight. */
static double busy_rate(const struct vmmig_storage_stats *st)
{
	return st->busy_us ? (double)st->bytes_read * 1e6 /
			     (double)st->busy_us : 0.0;
}

int dbcache__json(char *buf, size_t len, const struct dbcache_report *r,
		  struct vmmig_page_source *ps)
{
	struct vmmig_storage_stats st;
	size_t at = 0;
	int n = 0;

	buf[0] = 0;
	if (r) {
		n = snprintf(buf, len, ",\"dbcache\":{\"pool_pages\":%" PRIu64
			",\"hinted_pages_now\":%" PRIu64 ",\"hint_add_pages\":%"
			PRIu64 ",\"hint_remove_pages\":%" PRIu64
			",\"bad_hint_records\":%" PRIu64 ",\"hint_errors\":%"
			PRIu64 ",\"guest_reads\":%" PRIu64 ",\"guest_writes\":%"
			PRIu64 ",\"guest_dirtied_pages\":%" PRIu64
			",\"guest_bad_pages\":%" PRIu64 "}",
			r->pool_pages, r->hinted_now, r->add_pages,
			r->remove_pages, r->bad_records, r->lib_errors,
			r->reads, r->writes, r->dirtied, r->bad_pages);
		if (n < 0 || (size_t)n >= len)
			return -ENOSPC;
		at = (size_t)n;
	}
	if (ps && !storage_stats(ps, &st)) {
		n = snprintf(buf + at, len - at, ",\"storage\":{\"pages_ok\":%"
			PRIu64 ",\"pages_mismatch\":%" PRIu64
			",\"pages_failed\":%" PRIu64 ",\"bytes_read\":%" PRIu64
			",\"open_failures\":%" PRIu64 ",\"queue_depth\":%u"
			",\"max_in_flight\":%u,\"busy_us\":%" PRIu64
			",\"busy_rate_mb_per_s\":%.1f}",
			st.pages_ok, st.pages_mismatch, st.pages_failed,
			st.bytes_read, st.open_failures, st.queue_depth,
			st.max_in_flight, st.busy_us, busy_rate(&st) / 1e6);
		if (n < 0 || (size_t)n >= len - at)
			return -ENOSPC;
		at += (size_t)n;
	}
	return (int)at;
}

void dbcache__print(const char *role, const struct dbcache_report *r,
		    struct vmmig_page_source *ps)
{
	struct vmmig_storage_stats st;

	if (r)
		printf("%s: dbcache pool %" PRIu64 " pages, %" PRIu64
		       " hinted clean now (%" PRIu64 " added, %" PRIu64
		       " withdrawn, %" PRIu64 " bad records); guest %" PRIu64
		       " reads, %" PRIu64 " writes, %" PRIu64 " bad pages\n",
		       role, r->pool_pages, r->hinted_now, r->add_pages,
		       r->remove_pages, r->bad_records, r->reads, r->writes,
		       r->bad_pages);
	if (ps && !storage_stats(ps, &st))
		printf("%s: storage: %" PRIu64 " pages restored, %" PRIu64
		       " mismatched, %" PRIu64 " failed, %.1f MiB read at "
		       "%.0f MB/s busy, queue depth %u (max in flight %u), %"
		       PRIu64 " objects unopenable\n", role, st.pages_ok,
		       st.pages_mismatch, st.pages_failed,
		       (double)st.bytes_read / (1024.0 * 1024.0),
		       busy_rate(&st) / 1e6, st.queue_depth, st.max_in_flight,
		       st.open_failures);
	fflush(stdout);
}
