/* SPDX-License-Identifier: MIT */
/* Session API: argument checks, options and their ranges, stats JSON. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <vmmig/vmmig.h>

#include "testutil.h"

START_TEST(option_ranges)
{
	int64_t min, max, def;

	for (int o = 0; o < VMMIG_OPT__COUNT; o++) {
		ck_assert_int_eq(vmmig_option_range(o, &min, &max, &def), 0);
		ck_assert_int_le(min, def);
		ck_assert_int_le(def, max);
		ck_assert_ptr_nonnull(vmmig_option_name(o));
	}
	ck_assert_int_eq(vmmig_option_range(VMMIG_OPT__COUNT, NULL, NULL, NULL),
			 -EINVAL);
	ck_assert_int_eq(vmmig_option_range(-1, NULL, NULL, NULL), -EINVAL);
	ck_assert_ptr_null(vmmig_option_name(VMMIG_OPT__COUNT));
}
END_TEST

START_TEST(source_options)
{
	struct vmmig_source *src;
	int64_t v, max;

	ck_assert_int_eq(vmmig_source_new(&src), 0);
	ck_assert_int_eq(vmmig_source_get_option(src, VMMIG_OPT_CHANNELS, &v), 0);
	ck_assert_int_eq(v, 2); /* the default, by measurement */
	ck_assert_int_eq(vmmig_source_set_option(src, VMMIG_OPT_CHANNELS, 4), 0);
	ck_assert_int_eq(vmmig_source_get_option(src, VMMIG_OPT_CHANNELS, &v), 0);
	ck_assert_int_eq(v, 4);
	vmmig_option_range(VMMIG_OPT_CHANNELS, NULL, &max, NULL);
	ck_assert_int_eq(vmmig_source_set_option(src, VMMIG_OPT_CHANNELS,
						 max + 1), -ERANGE);
	ck_assert_int_eq(vmmig_source_set_option(src, VMMIG_OPT_CHANNELS, 0),
			 -ERANGE);
	ck_assert_int_eq(vmmig_source_set_option(src, VMMIG_OPT_COMPRESSION, 7),
			 -ERANGE);
	ck_assert_int_eq(vmmig_source_set_option(src, 999, 1), -EINVAL);
	vmmig_source_free(src);
	vmmig_source_free(NULL);
}
END_TEST

static int errors_logged;
static char last_logged[256];

static void count_errors(void *o, int level, const char *msg)
{
	(void)o;
	if (level == VMMIG_LOG_ERROR) {
		errors_logged++;
		snprintf(last_logged, sizeof(last_logged), "%s", msg);
	}
}

/* Each option belongs to the side that reads it; the other side refuses
 * it with -EINVAL, a log line and the reason in *_error() (issue 12). */
START_TEST(option_sides)
{
	struct vmmig_source *src;
	struct vmmig_dest *dst;

	for (int o = 0; o < VMMIG_OPT__COUNT; o++)
		ck_assert_int_gt(vmmig_option_side(o), 0);
	ck_assert_int_eq(vmmig_option_side(VMMIG_OPT__COUNT), -EINVAL);
	ck_assert_int_eq(vmmig_option_side(VMMIG_OPT_CHANNELS),
			 VMMIG_SIDE_SOURCE);
	ck_assert_int_eq(vmmig_option_side(VMMIG_OPT_RECV_DIRECT),
			 VMMIG_SIDE_DEST);
	ck_assert_int_eq(vmmig_option_side(VMMIG_OPT_IO_TIMEOUT_MS),
			 VMMIG_SIDE_SOURCE | VMMIG_SIDE_DEST);

	ck_assert_int_eq(vmmig_source_new(&src), 0);
	ck_assert_int_eq(vmmig_dest_new(&dst), 0);
	vmmig_source_set_log(src, count_errors, NULL, VMMIG_LOG_DEBUG);
	vmmig_dest_set_log(dst, count_errors, NULL, VMMIG_LOG_DEBUG);
	ck_assert_ptr_null(vmmig_source_error(src));
	errors_logged = 0;
	ck_assert_int_eq(vmmig_dest_set_option(dst, VMMIG_OPT_CHANNELS, 2),
			 -EINVAL);
	ck_assert_int_eq(errors_logged, 1);
	ck_assert_str_eq(vmmig_dest_error(dst), last_logged);
	ck_assert_ptr_nonnull(strstr(vmmig_dest_error(dst),
				     "channels is a source option"));
	ck_assert_int_eq(vmmig_source_set_option(src, VMMIG_OPT_RECV_DIRECT, 0),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(vmmig_source_error(src),
				     "recv_direct is a destination option"));
	ck_assert_int_eq(vmmig_source_set_option(src, VMMIG_OPT_POPULATE, 1),
			 -EINVAL);
	ck_assert_int_eq(vmmig_dest_set_option(dst, VMMIG_OPT_VERIFY, 1),
			 -EINVAL);
	ck_assert_int_eq(vmmig_dest_set_option(dst, VMMIG_OPT_COMPRESSION, 1),
			 -EINVAL);
	ck_assert_int_eq(vmmig_source_set_option(src, VMMIG_OPT_CHANNELS, 99),
			 -ERANGE);
	ck_assert_ptr_nonnull(strstr(vmmig_source_error(src),
				     "channels = 99 is outside 1..15"));
	/* Every option is accepted by the side(s) it belongs to, refused by
	 * the other. */
	for (int o = 0; o < VMMIG_OPT__COUNT; o++) {
		int64_t def;
		int side = vmmig_option_side(o);

		vmmig_option_range(o, NULL, NULL, &def);
		ck_assert_int_eq(vmmig_source_set_option(src, o, def),
				 side & VMMIG_SIDE_SOURCE ? 0 : -EINVAL);
		ck_assert_int_eq(vmmig_dest_set_option(dst, o, def),
				 side & VMMIG_SIDE_DEST ? 0 : -EINVAL);
	}
	vmmig_source_free(src);
	vmmig_dest_free(dst);
}
END_TEST

static int nop_pause(void *o)
{
	(void)o;
	return 0;
}

static const struct vmmig_source_ops nop_ops = {
	.version = VMMIG_SOURCE_OPS_VERSION, .pause = nop_pause };

START_TEST(source_arguments)
{
	struct vmmig_source *src;
	struct vmmig_source_ops bad = nop_ops;
	uint8_t *mem = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t u1[16], u2[16];

	ck_assert_ptr_ne(mem, MAP_FAILED);
	ck_assert_int_eq(vmmig_source_new(NULL), -EINVAL);
	ck_assert_int_eq(vmmig_source_new(&src), 0);
	/* No regions, no ops: refused before any thread starts. */
	ck_assert_int_eq(vmmig_source_start(src, "tcp:127.0.0.1:1"), -EINVAL);
	ck_assert_int_eq(vmmig_source_add_region(src, 0, 0, mem + 1, 4096),
			 -EINVAL);
	ck_assert_int_eq(vmmig_source_add_region(src, 0, 0, mem, 100), -EINVAL);
	ck_assert_int_eq(vmmig_source_add_region(src, 0, 0, mem, 0), -EINVAL);
	ck_assert_int_eq(vmmig_source_add_region(src, 0, 0, mem, 1 << 19), 0);
	/* duplicate id, overlapping gpa, overlapping host memory */
	ck_assert_int_eq(vmmig_source_add_region(src, 0, 1 << 20,
						 mem + (1 << 19), 1 << 19),
			 -EINVAL);
	ck_assert_int_eq(vmmig_source_add_region(src, 1, 4096, mem + (1 << 19),
						 1 << 19), -EINVAL);
	ck_assert_int_eq(vmmig_source_add_region(src, 1, 1 << 20, mem + 4096,
						 4096), -EINVAL);
	ck_assert_int_eq(vmmig_source_add_region(src, 1, 1 << 20,
						 mem + (1 << 19), 1 << 19), 0);
	bad.version = 2;
	ck_assert_int_eq(vmmig_source_set_ops(src, &bad, NULL), -EINVAL);
	bad = nop_ops;
	bad.pause = NULL;
	ck_assert_int_eq(vmmig_source_set_ops(src, &bad, NULL), -EINVAL);
	ck_assert_int_eq(vmmig_source_set_ops(src, &nop_ops, NULL), 0);
	ck_assert_int_eq(vmmig_source_start(src, "carrier-pigeon:x"), -EINVAL);
	ck_assert_int_eq(vmmig_source_start(src, "tcp:"), -EINVAL);
	ck_assert_int_eq(vmmig_source_wait(src), -EINVAL); /* not started */
	ck_assert_int_eq(vmmig_source_cancel(src), -EINVAL);
	ck_assert_ptr_null(vmmig_source_error(src));
	/* Two sessions get different UUIDs; set_uuid sticks. */
	vmmig_source_get_uuid(src, u1);
	memset(u2, 0x5a, sizeof(u2));
	ck_assert_int_eq(vmmig_source_set_uuid(src, u2), 0);
	vmmig_source_get_uuid(src, u1);
	ck_assert_mem_eq(u1, u2, 16);
	vmmig_source_free(src);
	munmap(mem, 1 << 20);
}
END_TEST

START_TEST(dest_arguments)
{
	struct vmmig_dest *dst;
	uint8_t u[16];

	ck_assert_int_eq(vmmig_dest_new(&dst), 0);
	ck_assert_int_eq(vmmig_dest_start(dst), -EINVAL); /* not listening */
	ck_assert_int_eq(vmmig_dest_get_uuid(dst, u), -ENOENT);
	ck_assert_int_eq(vmmig_dest_listen(dst, "bogus:1", NULL, 0), -EINVAL);
	ck_assert_int_eq(vmmig_dest_set_option(dst, VMMIG_OPT_IO_TIMEOUT_MS, 1),
			 -ERANGE);
	vmmig_dest_free(dst);
	vmmig_dest_free(NULL);
}
END_TEST

/* An in-process transport whose listen() says 1 after succeeding: a value
 * >= 0 is success, for every interface (<vmmig/common.h>). */
static struct vmmig_transport_ops positive_ops;

static int positive_listen(void *l, const char *addr)
{
	int ret = vmmig_transport_inproc()->listen(l, addr);

	return ret ? ret : 1;
}

/* Transport tables: one check for both sides, the listener reached through
 * wrappers (optional listener_addr, listening twice). */
START_TEST(transport_tables)
{
	static uint8_t mem[4096] __attribute__((aligned(4096)));
	struct vmmig_transport_ops t = *vmmig_transport_inproc();
	struct vmmig_source *src;
	struct vmmig_dest *dst;
	char bound[64];

	ck_assert_int_eq(vmmig_source_new(&src), 0);
	ck_assert_int_eq(vmmig_source_add_region(src, 0, 0, mem, 4096), 0);
	ck_assert_int_eq(vmmig_source_set_ops(src, &nop_ops, NULL), 0);
	t.version = VMMIG_TRANSPORT_OPS_VERSION + 1;
	ck_assert_int_eq(vmmig_source_start_transport(src, &t, "x"), -EINVAL);
	t.version = 0;
	ck_assert_int_eq(vmmig_source_start_transport(src, &t, "x"), -EINVAL);
	t = *vmmig_transport_inproc();
	t.connect = NULL; /* a source connects */
	ck_assert_int_eq(vmmig_source_start_transport(src, &t, "x"), -EINVAL);
	vmmig_source_free(src);

	ck_assert_int_eq(vmmig_dest_new(&dst), 0);
	t = *vmmig_transport_inproc();
	t.accept = NULL; /* a destination accepts */
	ck_assert_int_eq(vmmig_dest_listen_transport(dst, &t, "api-t", NULL, 0),
			 -EINVAL);
	t = *vmmig_transport_inproc();
	t.version = VMMIG_TRANSPORT_OPS_VERSION + 1;
	ck_assert_int_eq(vmmig_dest_listen_transport(dst, &t, "api-t", NULL, 0),
			 -EINVAL);
	t.version = 1; /* still accepted: recv_some is never read */
	t.connect = NULL; /* a destination never connects */
	t.listener_addr = NULL; /* optional: the address asked for */
	ck_assert_int_eq(vmmig_dest_listen_transport(dst, &t, "api-t", bound,
						     sizeof(bound)), 0);
	ck_assert_str_eq(bound, "api-t");
	ck_assert_int_eq(vmmig_dest_listen_transport(dst, &t, "api-u", NULL, 0),
			 -EBUSY);
	vmmig_dest_free(dst);

	positive_ops = *vmmig_transport_inproc();
	positive_ops.listen = positive_listen;
	ck_assert_int_eq(vmmig_dest_new(&dst), 0);
	ck_assert_int_eq(vmmig_dest_listen_transport(dst, &positive_ops,
						     "api-p", NULL, 0), 0);
	ck_assert_int_eq(vmmig_dest_listen_transport(dst, &positive_ops,
						     "api-q", NULL, 0), -EBUSY);
	vmmig_dest_free(dst);
}
END_TEST

START_TEST(stats_json)
{
	struct vmmig_stats st = { .struct_size = sizeof(st) };
	char buf[2048], tiny[16];
	const char *keys[] = {
		"\"status\":\"completed\"", "\"mode\":\"precopy\"",
		"\"total_time_ms\":1.500", "\"downtime_ms\":0.250",
		"\"setup_time_ms\":", "\"rounds\":3",
		"\"transferred_bytes\":1000", "\"pages\":{\"normal\":1,\"zero\":2,"
		"\"compressed\":3,\"delta\":4,\"restored\":5,\"skipped\":6}",
		"\"mbps\":", "\"dirty_rate_pps\":77",
		"\"expected_downtime_ms\":", "\"verified\":true",
		"\"path\":", "\"postcopy_faults\":",
		"\"fault_latency_us\":{\"p50\":", "\"path_reason\":\"a \\\"q\\\"\"",
	};

	st.status = VMMIG_STATUS_COMPLETED;
	st.total_time_us = 1500;
	st.downtime_us = 250;
	st.rounds = 3;
	st.transferred_bytes = 1000;
	st.pages_normal = 1, st.pages_zero = 2, st.pages_compressed = 3;
	st.pages_delta = 4, st.pages_restored = 5, st.pages_skipped = 6;
	st.dirty_rate_pps = 77;
	st.verified = 1;
	strcpy(st.path_reason, "a \"q\"");
	int n = vmmig_stats_to_json(&st, buf, sizeof(buf));
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq((int)strlen(buf), n);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		ck_assert_msg(strstr(buf, keys[i]), "missing %s in %s", keys[i],
			      buf);
	ck_assert_int_eq(vmmig_stats_to_json(&st, tiny, sizeof(tiny)), -ENOSPC);
	ck_assert_uint_eq(strlen(tiny), sizeof(tiny) - 1);
	st.struct_size = 4;
	ck_assert_int_eq(vmmig_stats_to_json(&st, buf, sizeof(buf)), -EINVAL);
	ck_assert_str_eq(vmmig_status_name(VMMIG_STATUS_FAILED), "failed");
	ck_assert_str_eq(vmmig_status_name(99), "unknown");
}
END_TEST

/* An embedder built against an older stats.h passes a smaller struct: the
 * library reads only its bytes (the copy below is exactly that long on the
 * heap, so ASan sees a read past it) and leaves out the keys of the fields
 * it lacks. A larger struct (newer header) renders what the library knows. */
START_TEST(stats_json_sizes)
{
	struct vmmig_stats full = { .struct_size = sizeof(full) };
	size_t old = offsetof(struct vmmig_stats, postcopy_faults);
	char buf[2048];
	void *small = malloc(old);
	uint32_t sz;
	unsigned char *big = calloc(1, sizeof(full) + 64);

	ck_assert_ptr_nonnull(small);
	ck_assert_ptr_nonnull(big);
	full.status = VMMIG_STATUS_ACTIVE;
	full.rounds = 7;
	full.verified = -1;
	full.postcopy_faults = 99;
	full.owner = VMMIG_OWNER_DEST;
	full.struct_size = (uint32_t)old;
	memcpy(small, &full, old);
	full.struct_size = sizeof(full);
	ck_assert_int_gt(vmmig_stats_to_json(small, buf, sizeof(buf)), 0);
	ck_assert_ptr_nonnull(strstr(buf, "\"status\":\"active\""));
	ck_assert_ptr_nonnull(strstr(buf, "\"rounds\":7"));
	ck_assert_ptr_nonnull(strstr(buf, "\"verified\":null"));
	ck_assert_ptr_nonnull(strstr(buf, "\"path_reason\":\"\""));
	ck_assert_msg(!strstr(buf, "postcopy_faults") && !strstr(buf, "owner") &&
		      !strstr(buf, "\"restore\"") && !strstr(buf, "\"policy\""),
		      "fields past struct_size rendered: %s", buf);
	ck_assert_uint_eq(buf[strlen(buf) - 1], '}');

	/* status alone */
	sz = 8;
	memcpy(small, &sz, sizeof(sz));
	ck_assert_int_eq(vmmig_stats_to_json(small, buf, sizeof(buf)),
			 (int)strlen("{\"status\":\"active\"}"));
	ck_assert_str_eq(buf, "{\"status\":\"active\"}");

	/* a newer, larger struct */
	memcpy(big, &full, sizeof(full));
	((struct vmmig_stats *)big)->struct_size = sizeof(full) + 64;
	ck_assert_int_gt(vmmig_stats_to_json((void *)big, buf, sizeof(buf)), 0);
	ck_assert_ptr_nonnull(strstr(buf, "\"postcopy_faults\":99"));
	ck_assert_ptr_nonnull(strstr(buf, "\"owner\":\"destination\"}"));
	free(small);
	free(big);
}
END_TEST

START_TEST(errors)
{
	ck_assert_ptr_nonnull(strstr(vmmig_strerror(-EPROTO), "malformed"));
	ck_assert_str_eq(vmmig_strerror(EPROTO), vmmig_strerror(-EPROTO));
	ck_assert_ptr_nonnull(vmmig_strerror(-123456));
	ck_assert_str_eq(vmmig_version(), "0.1.0");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("api");
	TCase *tc = tcase_create("api");

	tcase_add_test(tc, option_ranges);
	tcase_add_test(tc, source_options);
	tcase_add_test(tc, option_sides);
	tcase_add_test(tc, source_arguments);
	tcase_add_test(tc, dest_arguments);
	tcase_add_test(tc, transport_tables);
	tcase_add_test(tc, stats_json);
	tcase_add_test(tc, stats_json_sizes);
	tcase_add_test(tc, errors);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
