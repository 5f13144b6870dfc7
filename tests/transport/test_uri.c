/* SPDX-License-Identifier: MIT */
/* vmmig_transport_parse_uri() and the built-in ops tables. */
#include <errno.h>
#include <string.h>

#include <vmmig/transport.h>

#include "testutil.h"

START_TEST(test_parse_good)
{
	static const struct {
		const char *uri, *addr, *name;
	} cases[] = {
		{ "tcp:127.0.0.1:4444", "127.0.0.1:4444", "tcp" },
		{ "tcp:[::1]:80", "[::1]:80", "tcp" },
		{ "unix:/run/x.sock", "/run/x.sock", "unix" },
		{ "unix:rel/path", "rel/path", "unix" },
		{ "inproc:name", "name", "inproc" },
		{ "inproc:a:b", "a:b", "inproc" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct vmmig_transport_ops *ops = NULL;
		const char *addr = NULL;

		ck_assert_int_eq(vmmig_transport_parse_uri(cases[i].uri, &ops,
							   &addr), 0);
		ck_assert_ptr_nonnull(ops);
		ck_assert_str_eq(ops->name, cases[i].name);
		ck_assert_str_eq(addr, cases[i].addr);
		/* @addr points into @uri, no copy. */
		ck_assert_ptr_eq(addr, cases[i].uri + strlen(cases[i].name) + 1);
	}
}
END_TEST

START_TEST(test_parse_bad)
{
	static const char *const bad[] = {
		"", "tcp", "tcp:", "unix:", "inproc:", "udp:1.2.3.4:5",
		"TCP:127.0.0.1:1", " tcp:127.0.0.1:1", ":x", "tcpx:1",
	};
	const struct vmmig_transport_ops *ops = NULL;
	const char *addr = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(vmmig_transport_parse_uri(bad[i], &ops, &addr) ==
				      -EINVAL,
			      "accepted \"%s\"", bad[i]);
	ck_assert_int_eq(vmmig_transport_parse_uri(NULL, &ops, &addr), -EINVAL);
	ck_assert_int_eq(vmmig_transport_parse_uri("tcp:a:1", NULL, &addr),
			 -EINVAL);
	ck_assert_int_eq(vmmig_transport_parse_uri("tcp:a:1", &ops, NULL),
			 -EINVAL);
}
END_TEST

START_TEST(test_ops_tables)
{
	const struct vmmig_transport_ops *all[] = {
		vmmig_transport_tcp(), vmmig_transport_unix(),
		vmmig_transport_inproc(),
	};
	const char *names[] = { "tcp", "unix", "inproc" };

	for (int i = 0; i < 3; i++) {
		const struct vmmig_transport_ops *o = all[i];

		ck_assert_ptr_nonnull(o);
		ck_assert_uint_eq(o->version, VMMIG_TRANSPORT_OPS_VERSION);
		ck_assert_str_eq(o->name, names[i]);
		ck_assert_uint_gt(o->chan_size, 0);
		ck_assert_uint_gt(o->listener_size, 0);
		ck_assert(o->connect && o->listen && o->accept &&
			  o->listener_close && o->send && o->recv &&
			  o->shutdown && o->close);
		/* Optional in the interface, provided by every built-in. */
		ck_assert(o->listener_addr && o->listener_shutdown);
		/* Same table every time. */
		ck_assert_ptr_eq(o, i == 0 ? vmmig_transport_tcp() :
				    i == 1 ? vmmig_transport_unix() :
					     vmmig_transport_inproc());
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("transport_uri");
	TCase *tc = tcase_create("uri");

	tcase_add_test(tc, test_parse_good);
	tcase_add_test(tc, test_parse_bad);
	tcase_add_test(tc, test_ops_tables);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
