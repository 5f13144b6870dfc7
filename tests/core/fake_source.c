/* SPDX-License-Identifier: MIT */
#include "fake_source.h"
#include "proxy.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u

static int fs_err(struct fake_src *fs, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fs_err(struct fake_src *fs, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fs->err, sizeof(fs->err), fmt, ap);
	va_end(ap);
	return ret;
}

/* wire_read_fn over a blocking socket with SO_RCVTIMEO. */
static int sock_read(void *cookie, const struct iovec *iov, int iovcnt)
{
	int fd = *(const int *)cookie;

	for (int i = 0; i < iovcnt; i++) {
		uint8_t *p = iov[i].iov_base;
		size_t off = 0;

		while (off < iov[i].iov_len) {
			ssize_t n = recv(fd, p + off, iov[i].iov_len - off, 0);

			if (n > 0)
				off += (size_t)n;
			else if (n == 0)
				return -ECONNRESET;
			else if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -ETIMEDOUT;
			else if (errno != EINTR)
				return -errno;
		}
	}
	return 0;
}

/* Send all of @iov (bounded by SO_SNDTIMEO). */
static int sock_write(int fd, struct iovec *iov, int iovcnt)
{
	while (iovcnt) {
		struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)iovcnt };
		ssize_t n = sendmsg(fd, &m, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK
				       ? -ETIMEDOUT : -errno;
		}
		while (iovcnt && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt) {
			iov->iov_base = (uint8_t *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

int fs_send(struct fake_src *fs, unsigned ch, uint16_t type, uint16_t flags,
	    const void *payload, size_t len)
{
	uint8_t hdr[WIRE_HDR_SIZE];
	struct iovec body = { (void *)(uintptr_t)payload, len };
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, body };
	int ret;

	if (ch >= fs->nchan)
		return fs_err(fs, -EINVAL, "no channel %u", ch);
	wire_record_seal(hdr, type, flags, fs->seq[ch]++, &body, len ? 1 : 0);
	ret = sock_write(fs->fd[ch], iov, len ? 2 : 1);
	if (ret)
		return fs_err(fs, ret, "sending record 0x%04x on channel %u: %s",
			      type, ch, strerror(-ret));
	return 0;
}

int fs_send_all(struct fake_src *fs, uint16_t type)
{
	for (unsigned ch = 0; ch < fs->nchan; ch++) {
		int ret = fs_send(fs, ch, type, 0, NULL, 0);

		if (ret)
			return ret;
	}
	return 0;
}

int fs_recv(struct fake_src *fs, unsigned ch, struct wire_hdr *h,
	    const uint8_t **payload)
{
	int ret;

	if (ch >= fs->nchan || !fs->rd[ch])
		return fs_err(fs, -EINVAL, "no channel %u", ch);
	ret = wire_reader_next(fs->rd[ch], h, payload, NULL);
	if (ret == -EPROTO)
		return fs_err(fs, ret, "channel %u: %s", ch,
			      wire_reader_error(fs->rd[ch]));
	if (ret)
		return fs_err(fs, ret, "channel %u: %s", ch, strerror(-ret));
	return 0;
}

int fs_readable(struct fake_src *fs, unsigned ch, int ms)
{
	struct pollfd p = { fs->fd[ch], POLLIN, 0 };
	int n = poll(&p, 1, ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	return n > 0;
}

static int hello(struct fake_src *fs, unsigned ch, uint64_t size)
{
	struct wire_region r = { .id = fs->region_id, .size = size };
	struct wire_hello h = { .magic = WIRE_MAGIC, .version = WIRE_VERSION,
				.flags = WIRE_HELLO_VERIFY,
				.channel = (uint16_t)ch,
				.nchannels = (uint16_t)fs->nchan,
				.page_size = PAGE, .nregions = 1 };
	uint8_t buf[64 + 24];
	struct wire_status st;
	const uint8_t *p;
	struct wire_hdr hd;
	int len, ret;

	memcpy(h.uuid, fs->uuid, sizeof(h.uuid));
	len = wire_hello_pack(buf, sizeof(buf), &h, &r);
	if (len < 0)
		return fs_err(fs, len, "packing HELLO");
	ret = fs_send(fs, ch, WIRE_HELLO, 0, buf, (size_t)len);
	if (!ret)
		ret = fs_recv(fs, ch, &hd, &p);
	if (ret)
		return ret;
	if (hd.type != WIRE_HELLO_ACK)
		return fs_err(fs, -EPROTO, "channel %u: record 0x%04x instead "
			      "of HELLO_ACK", ch, hd.type);
	ret = wire_status_unpack(p, hd.len, &st, fs->err, sizeof(fs->err));
	if (ret)
		return ret;
	if (st.status)
		return fs_err(fs, st.status, "channel %u refused: %s", ch,
			      st.text);
	return 0;
}

int fs_open(struct fake_src *fs, const char *uri, unsigned nchan,
	    uint32_t region_id, uint64_t size, int timeout_ms)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	uint64_t seed = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull ^
			(uint64_t)time(NULL);
	int ret;

	memset(fs, 0, sizeof(*fs));
	for (unsigned i = 0; i < FS_MAX_CH; i++)
		fs->fd[i] = -1;
	if (nchan < 2 || nchan > FS_MAX_CH || !size || size % PAGE)
		return fs_err(fs, -EINVAL, "bad channel count or size");
	fs->nchan = nchan;
	fs->region_id = region_id;
	fs->npages = size / PAGE;
	for (unsigned i = 0; i < sizeof(fs->uuid); i++)
		fs->uuid[i] = (uint8_t)(seed >> (8 * (i % 8)) ^ i);
	fs->uuid[6] = (fs->uuid[6] & 0x0f) | 0x40; /* version 4 */
	fs->uuid[8] = (fs->uuid[8] & 0x3f) | 0x80;
	ret = wire_batch_init(&fs->batch);
	if (ret)
		return fs_err(fs, ret, "batch buffer");
	/* The destination accepts and answers the channels one by one. */
	for (unsigned ch = 0; ch < nchan; ch++) {
		fs->fd[ch] = tcp_connect_uri(uri);
		if (fs->fd[ch] < 0)
			return fs_err(fs, -ECONNREFUSED, "connecting channel "
				      "%u to %s", ch, uri);
		if (setsockopt(fs->fd[ch], SOL_SOCKET, SO_RCVTIMEO, &tv,
			       sizeof(tv)) ||
		    setsockopt(fs->fd[ch], SOL_SOCKET, SO_SNDTIMEO, &tv,
			       sizeof(tv)))
			return fs_err(fs, -errno, "socket timeouts");
		ret = wire_reader_new(sock_read, &fs->fd[ch], NULL, 0,
				      &fs->rd[ch]);
		if (ret)
			return fs_err(fs, ret, "reader");
		ret = hello(fs, ch, size);
		if (ret)
			return ret;
	}
	return 0;
}

void fs_close(struct fake_src *fs)
{
	for (unsigned i = 0; i < FS_MAX_CH; i++) {
		wire_reader_free(fs->rd[i]);
		fs->rd[i] = NULL;
		if (fs->fd[i] >= 0)
			close(fs->fd[i]);
		fs->fd[i] = -1;
	}
	wire_batch_destroy(&fs->batch);
}

unsigned fs_stripe(const struct fake_src *fs, uint64_t page)
{
	return (unsigned)((page / 64) % (fs->nchan - 1));
}

static int flush_pages(struct fake_src *fs, unsigned ch)
{
	unsigned count = fs->batch.count;
	int niov, ret;

	if (!count)
		return 0;
	wire_batch_finish(&fs->batch, fs->seq[ch]++, &niov);
	ret = sock_write(fs->fd[ch], fs->batch.iov, niov);
	wire_batch_begin(&fs->batch, fs->region_id);
	if (ret)
		return fs_err(fs, ret, "sending PAGES on channel %u: %s", ch,
			      strerror(-ret));
	fs->pages[ch] += count;
	return 0;
}

/* Page @p of @image into the open batch. */
static int add_page(struct fake_src *fs, uint64_t p, const uint8_t *image)
{
	int ret;

	if (p >= fs->npages)
		return fs_err(fs, -EINVAL, "page %llu past the region",
			      (unsigned long long)p);
	ret = wire_batch_add(&fs->batch, NULL, p, image + p * PAGE, NULL);
	if (ret < 0)
		return fs_err(fs, ret, "adding page %llu",
			      (unsigned long long)p);
	return 0;
}

int fs_send_pages(struct fake_src *fs, unsigned ch, const uint64_t *idx,
		  size_t n, const uint8_t *image)
{
	int ret = 0;

	if (ch >= fs->nchan)
		return fs_err(fs, -EINVAL, "no channel %u", ch);
	wire_batch_begin(&fs->batch, fs->region_id);
	for (size_t i = 0; i < n && !ret; i++) {
		ret = add_page(fs, idx[i], image);
		if (!ret && wire_batch_full(&fs->batch))
			ret = flush_pages(fs, ch);
	}
	return ret ? ret : flush_pages(fs, ch);
}

int fs_build_pages(struct fake_src *fs, unsigned ch, const uint64_t *idx,
		   size_t n, const uint8_t *image, uint8_t **out, size_t *len)
{
	size_t pos = 0;
	int niov, ret;

	*out = NULL;
	if (ch >= fs->nchan || !n || n > WIRE_MAX_BATCH)
		return fs_err(fs, -EINVAL, "bad channel or page count");
	wire_batch_begin(&fs->batch, fs->region_id);
	for (size_t i = 0; i < n; i++) {
		ret = add_page(fs, idx[i], image);
		if (ret)
			return ret;
	}
	*len = wire_batch_finish(&fs->batch, fs->seq[ch]++, &niov);
	*out = malloc(*len);
	if (!*out)
		return fs_err(fs, -ENOMEM, "record buffer");
	for (int i = 0; i < niov; i++) {
		memcpy(*out + pos, fs->batch.iov[i].iov_base,
		       fs->batch.iov[i].iov_len);
		pos += fs->batch.iov[i].iov_len;
	}
	fs->pages[ch] += n;
	wire_batch_begin(&fs->batch, fs->region_id);
	return 0;
}

int fs_write_raw(struct fake_src *fs, unsigned ch, const void *buf,
		 size_t len)
{
	struct iovec iov = { (void *)(uintptr_t)buf, len };
	int ret;

	if (ch >= fs->nchan)
		return fs_err(fs, -EINVAL, "no channel %u", ch);
	ret = sock_write(fs->fd[ch], &iov, 1);
	if (ret)
		return fs_err(fs, ret, "writing on channel %u: %s", ch,
			      strerror(-ret));
	return 0;
}

int fs_send_bitmap(struct fake_src *fs, const uint64_t *bm, int ch,
		   const uint8_t *image)
{
	uint64_t *idx = malloc(fs->npages * sizeof(*idx));
	int ret = 0;

	if (!idx)
		return fs_err(fs, -ENOMEM, "page list");
	for (unsigned c = 0; c < fs->nchan && !ret; c++) {
		size_t n = 0;

		for (uint64_t p = 0; p < fs->npages; p++)
			if (bm[p / 64] >> (p % 64) & 1 &&
			    (ch >= 0 ? c == (unsigned)ch : c == fs_stripe(fs, p)))
				idx[n++] = p;
		if (n)
			ret = fs_send_pages(fs, c, idx, n, image);
	}
	free(idx);
	return ret;
}

int fs_send_discard(struct fake_src *fs, unsigned ch, uint16_t flags,
		    uint64_t first_word, uint32_t nwords, const uint64_t *words)
{
	struct wire_discard d = { .region_id = fs->region_id,
				  .nwords = nwords, .first_word = first_word };
	size_t len = WIRE_DISCARD_HEAD + (size_t)nwords * 8;
	uint8_t *buf = malloc(len);
	int ret;

	if (!buf)
		return fs_err(fs, -ENOMEM, "DISCARD buffer");
	wire_discard_pack(buf, &d);
	/* Bitmap words little endian: as in memory on the hosts we build
	 * for, like the library's own sender. */
	memcpy(buf + WIRE_DISCARD_HEAD, words, (size_t)nwords * 8);
	ret = fs_send(fs, ch, WIRE_DISCARD, flags, buf, len);
	free(buf);
	return ret;
}

int fs_send_state(struct fake_src *fs, uint32_t blob_id, const void *data,
		  size_t len)
{
	struct wire_state s = { .blob_id = blob_id, .total_len = len };
	uint8_t *buf = malloc(WIRE_STATE_HEAD + len);
	int ret;

	if (!buf)
		return fs_err(fs, -ENOMEM, "STATE buffer");
	wire_state_pack(buf, &s);
	memcpy(buf + WIRE_STATE_HEAD, data, len);
	ret = fs_send(fs, 0, WIRE_STATE, WIRE_STATE_LAST, buf,
		      WIRE_STATE_HEAD + len);
	free(buf);
	return ret;
}

int fs_send_end(struct fake_src *fs, unsigned ch, uint32_t flags,
		uint32_t nblobs, uint64_t mem_hash)
{
	struct wire_end e = { .pages = fs->pages[ch], .flags = flags,
			      .nblobs = nblobs, .mem_hash = mem_hash };
	uint8_t buf[WIRE_END_SIZE];

	wire_end_pack(buf, &e);
	return fs_send(fs, ch, WIRE_END, 0, buf, sizeof(buf));
}
