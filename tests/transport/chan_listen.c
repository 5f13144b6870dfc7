/* SPDX-License-Identifier: MIT */
/*
 * One transport's listeners and connection setup (part of test_<transport>):
 * accept timeout and cancel, connect refused at once, address in use,
 * address syntax, IPv6 (tcp) and stale socket files (unix).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "chan_util.h"
#include "testutil.h"

START_TEST(test_accept_timeout)
{
	struct fixture fx;
	void *s;
	double t0, took;

	fx_up(&fx);
	s = chan_alloc(fx.ops);
	t0 = now_s();
	ck_assert_int_eq(fx.ops->accept(fx.listener, s, 200), -ETIMEDOUT);
	took = now_s() - t0;
	ck_assert_msg(took >= 0.19 && took < 2.0, "took %.3f s", took);
	ck_assert_int_eq(fx.ops->accept(fx.listener, s, 0), -ETIMEDOUT);
	chan_free(fx.ops, s); /* close of a never-opened channel is safe */
	fx_down(&fx);
}
END_TEST

struct acceptor {
	struct fixture *fx;
	void *chan;
	int ret;
	double at;
};

static void *accept_fn(void *arg)
{
	struct acceptor *a = arg;

	a->ret = a->fx->ops->accept(a->fx->listener, a->chan, -1);
	a->at = now_s();
	return NULL;
}

START_TEST(test_listener_shutdown)
{
	struct fixture fx;
	struct acceptor a = { .fx = &fx };
	pthread_t t;
	double t0;

	fx_up(&fx);
	a.chan = chan_alloc(fx.ops);
	ck_assert_int_eq(pthread_create(&t, NULL, accept_fn, &a), 0);
	sleep_ms(100);
	t0 = now_s();
	fx.ops->listener_shutdown(fx.listener);
	pthread_join(t, NULL);
	ck_assert_int_eq(a.ret, -ECANCELED);
	ck_assert(a.at - t0 < 1.0);
	/* Stays shut. */
	ck_assert_int_eq(fx.ops->accept(fx.listener, a.chan, 1000), -ECANCELED);
	chan_free(fx.ops, a.chan);
	fx_down(&fx);
}
END_TEST

START_TEST(test_connect_no_listener)
{
	struct fixture fx;
	void *c;
	double t0, took;
	int ret;

	fx_up(&fx);
	fx_listener_close(&fx); /* the address now has no listener */
	c = chan_alloc(fx.ops);
	t0 = now_s();
	ret = fx.ops->connect(c, fx.addr, 5000);
	took = now_s() - t0;
	ck_assert_msg(ret == -ECONNREFUSED || ret == -ENOENT,
		      "connect returned %d", ret);
	/* Nobody listening is reported at once, not after the timeout. */
	ck_assert_msg(took < 0.5, "took %.3f s", took);
	chan_free(fx.ops, c);
	fx_down(&fx);
}
END_TEST

/* A refused connect leaves nothing behind: once a listener is back, the
 * next connect works. */
START_TEST(test_connect_after_refusal)
{
	struct fixture fx;
	void *c, *s;
	uint32_t v = 0x1234abcd, got = 0;
	struct iovec iov = { &v, sizeof(v) }, riov = { &got, sizeof(got) };
	int ret;

	fx_up(&fx);
	fx_listener_close(&fx);
	c = chan_alloc(fx.ops);
	s = chan_alloc(fx.ops);
	ret = fx.ops->connect(c, fx.addr, 5000);
	ck_assert_msg(ret == -ECONNREFUSED || ret == -ENOENT,
		      "connect returned %d", ret);
	chan_free(fx.ops, c);
	c = chan_alloc(fx.ops);
	fx_relisten(&fx);
	ck_assert_int_eq(fx.ops->connect(c, fx.addr, 5000), 0);
	ck_assert_int_eq(fx.ops->accept(fx.listener, s, 5000), 0);
	ck_assert_int_eq(fx.ops->send(c, &iov, 1), 0);
	ck_assert_int_eq(fx.ops->recv(s, &riov, 1), 0);
	ck_assert_uint_eq(got, v);
	chan_free(fx.ops, c);
	chan_free(fx.ops, s);
	fx_down(&fx);
}
END_TEST

/* A second listener on a live address is refused. */
START_TEST(test_listen_in_use)
{
	struct fixture fx;
	void *l2;

	fx_up(&fx);
	l2 = calloc(1, fx.ops->listener_size);
	ck_assert_ptr_nonnull(l2);
	ck_assert_int_eq(fx.ops->listen(l2, fx.addr), -EADDRINUSE);
	fx.ops->listener_close(l2); /* safe after a failed listen */
	free(l2);
	fx_down(&fx);
}
END_TEST

/* Address syntax of each transport. */
START_TEST(test_bad_addresses)
{
	const struct vmmig_transport_ops *ops = test_ops();
	void *l = calloc(1, ops->listener_size), *c = chan_alloc(ops);
	static const char *const tcp_bad[] = {
		"127.0.0.1", "127.0.0.1:", "[::1", "[::1]80", "::1:80",
		"127.0.0.1:http", "127.0.0.1:70000", "",
	};
	char longpath[200];

	ck_assert_ptr_nonnull(l);
	if (!strcmp(ops->name, "tcp")) {
		for (size_t i = 0; i < sizeof(tcp_bad) / sizeof(*tcp_bad); i++) {
			ck_assert_msg(ops->listen(l, tcp_bad[i]) == -EINVAL,
				      "listen accepted \"%s\"", tcp_bad[i]);
			ck_assert_msg(ops->connect(c, tcp_bad[i], 100) ==
					      -EINVAL,
				      "connect accepted \"%s\"", tcp_bad[i]);
		}
	} else {
		ck_assert_int_eq(ops->listen(l, ""), -EINVAL);
		ck_assert_int_eq(ops->connect(c, "", 100), -EINVAL);
	}
	if (!strcmp(ops->name, "unix")) {
		memset(longpath, 'a', sizeof(longpath) - 1);
		longpath[0] = '/';
		longpath[sizeof(longpath) - 1] = '\0';
		ck_assert_int_eq(ops->listen(l, longpath), -ENAMETOOLONG);
	}
	ops->listener_close(l);
	chan_free(ops, c);
	free(l);
}
END_TEST

/* tcp: IPv6 loopback, where the machine has it. */
START_TEST(test_tcp_ipv6)
{
	struct fixture fx = { .ops = test_ops() };
	void *c, *s;
	int ret;

	if (strcmp(fx.ops->name, "tcp"))
		return;
	fx.listener = calloc(1, fx.ops->listener_size);
	ret = fx.ops->listen(fx.listener, "[::1]:0");
	if (ret == -EADDRNOTAVAIL || ret == -EAFNOSUPPORT) {
		printf("no IPv6 loopback: not tested\n");
		free(fx.listener);
		return;
	}
	ck_assert_int_eq(ret, 0);
	ck_assert_int_eq(fx.ops->listener_addr(fx.listener, fx.addr,
					       sizeof(fx.addr)), 0);
	ck_assert_msg(!strncmp(fx.addr, "[::1]:", 6), "addr %s", fx.addr);
	pair_open(&fx, &c, &s);
	chan_free(fx.ops, c);
	chan_free(fx.ops, s);
	fx_down(&fx);
}
END_TEST

/* unix: a socket file left by a dead listener is replaced; a file that is
 * not a socket is not. */
START_TEST(test_unix_stale)
{
	struct fixture fx;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	void *c, *s;
	int fd;

	if (strcmp(test_ops()->name, "unix"))
		return;
	fx_up(&fx);
	fx_listener_close(&fx);
	/* A bound, closed socket: the file stays, nobody listens. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	strcpy(sun.sun_path, fx.addr);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	fx_relisten(&fx);
	pair_open(&fx, &c, &s);
	chan_free(fx.ops, c);
	chan_free(fx.ops, s);
	fx_listener_close(&fx);
	/* A regular file in the way. */
	fd = open(fx.addr, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	fx.listener = calloc(1, fx.ops->listener_size);
	ck_assert_int_eq(fx.ops->listen(fx.listener, fx.addr), -EADDRINUSE);
	ck_assert_int_eq(unlink(fx.addr), 0);
	fx_down(&fx);
}
END_TEST

void add_listen_tests(TCase *tc)
{
	tcase_add_test(tc, test_accept_timeout);
	tcase_add_test(tc, test_listener_shutdown);
	tcase_add_test(tc, test_connect_no_listener);
	tcase_add_test(tc, test_connect_after_refusal);
	tcase_add_test(tc, test_listen_in_use);
	tcase_add_test(tc, test_bad_addresses);
	tcase_add_test(tc, test_tcp_ipv6);
	tcase_add_test(tc, test_unix_stale);
}
