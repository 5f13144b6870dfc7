/* SPDX-License-Identifier: MIT */
/* uring_iov_advance(): resuming a short transfer without touching the
 * caller's iovec array. Short transfers are rare on a live socket (the
 * kernel retries MSG_WAITALL itself), so they are driven directly here. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "transport/uring_chan.h"
#include "testutil.h"

static size_t total(const struct msghdr *m)
{
	size_t t = 0;

	for (size_t i = 0; i < m->msg_iovlen; i++)
		t += m->msg_iov[i].iov_len;
	return t;
}

/* First byte still to transfer. */
static const char *front(const struct msghdr *m)
{
	for (size_t i = 0; i < m->msg_iovlen; i++)
		if (m->msg_iov[i].iov_len)
			return m->msg_iov[i].iov_base;
	return NULL;
}

START_TEST(test_advance_walk)
{
	char buf[64];
	/* 10 + 0 + 1 + 20 + 0 + 33 = 64 bytes, contiguous in buf. */
	struct iovec orig[6] = {
		{ buf, 10 }, { buf + 10, 0 }, { buf + 10, 1 },
		{ buf + 11, 20 }, { buf + 31, 0 }, { buf + 31, 33 },
	};
	struct iovec copy[6];
	struct iovec *scratch = NULL;

	/* Every way of splitting the 64 bytes into steps of 1..7. */
	for (size_t step = 1; step <= 7; step++) {
		struct msghdr m = { .msg_iov = orig, .msg_iovlen = 6 };
		bool in = false;
		size_t done = 0;

		memcpy(copy, orig, sizeof(orig));
		while (done < 64) {
			size_t n = step < 64 - done ? step : 64 - done;

			ck_assert_int_eq(uring_iov_advance(&m, n, &scratch,
							   &in), 0);
			done += n;
			ck_assert_uint_eq(total(&m), 64 - done);
			if (done < 64)
				ck_assert_ptr_eq(front(&m), buf + done);
		}
		ck_assert_uint_eq(m.msg_iovlen, 0);
		/* The caller's array is untouched. */
		ck_assert_mem_eq(copy, orig, sizeof(orig));
	}
	free(scratch);
}
END_TEST

START_TEST(test_advance_no_copy_on_whole_entries)
{
	char a[8], b[8];
	struct iovec iov[2] = { { a, 8 }, { b, 8 } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
	struct iovec *scratch = NULL;
	bool in = false;

	/* Leading empty entries of a fresh array are dropped; whole entries
	 * are skipped by pointer: no scratch is allocated. */
	ck_assert_int_eq(uring_iov_advance(&m, 8, &scratch, &in), 0);
	ck_assert_ptr_eq(m.msg_iov, &iov[1]);
	ck_assert_ptr_null(scratch);
	ck_assert(!in);
	/* A partial entry moves to scratch. */
	ck_assert_int_eq(uring_iov_advance(&m, 3, &scratch, &in), 0);
	ck_assert_ptr_nonnull(scratch);
	ck_assert(in);
	ck_assert_ptr_eq(m.msg_iov, scratch);
	ck_assert_ptr_eq(m.msg_iov[0].iov_base, b + 3);
	ck_assert_uint_eq(m.msg_iov[0].iov_len, 5);
	ck_assert_ptr_eq(iov[1].iov_base, b);
	ck_assert_uint_eq(iov[1].iov_len, 8);
	free(scratch);
}
END_TEST

START_TEST(test_advance_iov_max)
{
	static struct iovec iov[IOV_MAX];
	static char buf[IOV_MAX * 2];
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = IOV_MAX };
	struct iovec *scratch = NULL;
	bool in = false;

	for (int i = 0; i < IOV_MAX; i++)
		iov[i] = (struct iovec){ buf + 2 * i, 2 };
	/* Odd steps always end mid-entry: the whole tail is copied once. */
	for (size_t left = sizeof(buf); left > 0;) {
		size_t n = left < 3 ? left : 3;

		ck_assert_int_eq(uring_iov_advance(&m, n, &scratch, &in), 0);
		left -= n;
		ck_assert_uint_eq(total(&m), left);
	}
	free(scratch);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("transport_iov");
	TCase *tc = tcase_create("iov");

	tcase_add_test(tc, test_advance_walk);
	tcase_add_test(tc, test_advance_no_copy_on_whole_entries);
	tcase_add_test(tc, test_advance_iov_max);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
