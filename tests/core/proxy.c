/* SPDX-License-Identifier: MIT */
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int tcp_connect_uri(const char *uri)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	const char *colon = strrchr(uri, ':');
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || !colon)
		return -1;
	a.sin_port = htons((uint16_t)atoi(colon + 1));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Break every connection open now: both directions, both sides. */
static void cut_all(struct proxy *px)
{
	pthread_mutex_lock(&px->lock);
	for (int i = 0; i < px->nconns; i++) {
		shutdown(px->conns[i].cfd, SHUT_RDWR);
		shutdown(px->conns[i].dfd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&px->lock);
	atomic_fetch_add(&px->cuts, 1);
}

static uint64_t le_get(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | p[n];
	return v;
}

/* A record's first 40 bytes are in: pick the byte to flip (record-aware
 * modes), as c->flip_at. */
static void pick_flip(struct proxy_conn *c, struct proxy_scan *sc)
{
	size_t len = (size_t)le_get(sc->head + 4, 4);
	size_t count = (size_t)le_get(sc->head + 20, 2);

	if (sc->rec_at < c->px->flip_at || le_get(sc->head, 2) != 0x8010 ||
	    len < 8 + 16 || atomic_load(&c->px->flipped))
		return;
	if (c->flip == PROXY_FLIP_DESC) {
		c->flip_at = sc->rec_at + 16 + 8; /* page index, low byte */
	} else if (sc->head[16 + 8 + 8] == 1 && len >= 8 + 16 * count + 4096) {
		/* Page 0 is RAW: a byte in the middle of it. */
		c->flip_at = sc->rec_at + 16 + 8 + 16 * count + 2048;
	} else {
		return;
	}
	atomic_store(&c->px->flipped, true);
}

/* Follow the record boundaries of bytes [seen, seen + n) of the stream. */
static void scan(struct proxy_conn *c, const uint8_t *buf, size_t seen,
		 size_t n)
{
	struct proxy_scan *sc = &c->scan;

	while (sc->rec_at + sc->got < seen + n) {
		size_t at = sc->rec_at + sc->got - seen;
		size_t k = sizeof(sc->head) - sc->got;

		if (k > n - at)
			k = n - at;
		memcpy(sc->head + sc->got, buf + at, k);
		sc->got += k;
		/* The 16-byte header says how long and is enough to pick a
		 * descriptor byte (which comes after it); a page byte needs
		 * the first descriptor too. */
		if (sc->got < 16)
			continue;
		size_t total = 16 + (size_t)le_get(sc->head + 4, 4);
		bool whole = sc->got == sizeof(sc->head) || sc->got >= total;

		if (!sc->picked && (c->flip == PROXY_FLIP_DESC || whole)) {
			pick_flip(c, sc);
			sc->picked = true;
		}
		if (!whole)
			continue;
		sc->rec_at += total;
		sc->got = 0;
		sc->picked = false;
	}
}

static void pump(struct proxy_conn *c, int from, int to, bool upstream)
{
	uint8_t buf[65536];
	size_t seen = 0;
	ssize_t n;

	while ((n = read(from, buf, sizeof(buf))) > 0) {
		if (upstream && c->flip != PROXY_FLIP_BYTE)
			scan(c, buf, seen, (size_t)n);
		if (upstream && c->flip_at >= seen &&
		    c->flip_at < seen + (size_t)n)
			buf[c->flip_at - seen] ^= 0x10;
		seen += (size_t)n;
		if (write(to, buf, (size_t)n) != n)
			break;
		if (upstream && seen >= c->cut_at &&
		    !atomic_exchange(&c->px->cut_done, true)) {
			cut_all(c->px);
			break;
		}
	}
	shutdown(to, SHUT_WR);
	shutdown(from, SHUT_RD);
}

static void *pump_up(void *arg)
{
	struct proxy_conn *c = arg;

	pump(c, c->cfd, c->dfd, true);
	return NULL;
}

static void *pump_down(void *arg)
{
	struct proxy_conn *c = arg;

	pump(c, c->dfd, c->cfd, false);
	return NULL;
}

static void *acceptor_main(void *arg)
{
	struct proxy *px = arg;

	for (;;) {
		int cfd = accept(px->lfd, NULL, NULL);
		int dfd;

		if (cfd < 0)
			break;
		if (atomic_load(&px->cut_done) &&
		    atomic_fetch_sub(&px->refuse_after_cut, 1) > 0) {
			close(cfd);
			continue;
		}
		dfd = tcp_connect_uri(px->target);
		pthread_mutex_lock(&px->lock);
		if (dfd < 0 || px->nconns == PROXY_MAX_CONNS) {
			pthread_mutex_unlock(&px->lock);
			close(cfd);
			if (dfd >= 0)
				close(dfd);
			continue;
		}
		struct proxy_conn *c = &px->conns[px->nconns];
		bool first = px->nconns++ == 0;

		*c = (struct proxy_conn){
			.cfd = cfd, .dfd = dfd, .px = px,
			.flip_at = first && px->flip == PROXY_FLIP_BYTE
					   ? px->flip_at : SIZE_MAX,
			.flip = first ? px->flip : PROXY_FLIP_BYTE,
			.cut_at = first ? px->cut_at : SIZE_MAX };
		pthread_create(&c->up, NULL, pump_up, c);
		pthread_create(&c->down, NULL, pump_down, c);
		pthread_mutex_unlock(&px->lock);
	}
	return NULL;
}

int proxy_start(struct proxy *px, const char *target_uri, size_t flip_at,
		size_t cut_at)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	memset(px, 0, sizeof(*px));
	snprintf(px->target, sizeof(px->target), "%s", target_uri);
	px->flip_at = flip_at;
	px->cut_at = cut_at;
	pthread_mutex_init(&px->lock, NULL);
	px->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (px->lfd < 0 || bind(px->lfd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(px->lfd, 16) ||
	    getsockname(px->lfd, (struct sockaddr *)&a, &len))
		return -errno;
	snprintf(px->uri, sizeof(px->uri), "tcp:127.0.0.1:%d",
		 ntohs(a.sin_port));
	if (pthread_create(&px->acceptor, NULL, acceptor_main, px))
		return -EAGAIN;
	return 0;
}

void proxy_stop(struct proxy *px)
{
	shutdown(px->lfd, SHUT_RDWR);
	pthread_join(px->acceptor, NULL);
	close(px->lfd);
	cut_all(px);
	for (int i = 0; i < px->nconns; i++) {
		pthread_join(px->conns[i].up, NULL);
		pthread_join(px->conns[i].down, NULL);
		close(px->conns[i].cfd);
		close(px->conns[i].dfd);
	}
	pthread_mutex_destroy(&px->lock);
}
