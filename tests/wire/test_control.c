/* SPDX-License-Identifier: MIT */
/* Control payloads: pack/unpack round trips and every validation message. */
#include "wire/le.h"
#include "wiretest.h"

static char err[WIRE_ERRLEN];
static uint8_t buf[8192];
static struct wire_region rg[WIRE_MAX_REGIONS];

static struct wire_hello hello(uint32_t nregions)
{
	struct wire_hello h = {
		.magic = WIRE_MAGIC, .version = WIRE_VERSION, .channel = 1,
		.nchannels = 4, .page_size = 4096, .nregions = nregions,
	};

	for (int i = 0; i < 16; i++)
		h.uuid[i] = (uint8_t)(0xa0 + i);
	for (uint32_t i = 0; i < nregions; i++)
		rg[i] = (struct wire_region){ .id = 10 + i,
					      .gpa = (uint64_t)i << 32,
					      .size = (i + 1) * 8192ull };
	return h;
}

/* docs/wire-format.md 4.2: the ERROR record of a cancelled source. */
static uint8_t rec_out[256];
static size_t rec_len;

static int rec_write(void *c, const struct iovec *iov, int n)
{
	(void)c;
	for (int i = 0; i < n; i++) {
		ck_assert_uint_le(rec_len + iov[i].iov_len, sizeof(rec_out));
		memcpy(rec_out + rec_len, iov[i].iov_base, iov[i].iov_len);
		rec_len += iov[i].iov_len;
	}
	return 0;
}

START_TEST(error_record_vector)
{
	static const uint8_t vec[54] = {
		0x41, 0x80, 0x00, 0x00, 0x26, 0x00, 0x00, 0x00, 0xc1, 0x78,
		0x4f, 0x5a, 0x03, 0x00, 0x00, 0x00, 0x83, 0xff, 0xff, 0xff,
		0x00, 0x00, 0x00, 0x00, 's', 'o', 'u', 'r', 'c', 'e', ' ',
		'c', 'a', 'n', 'c', 'e', 'l', 'l', 'e', 'd', ' ', 't', 'h',
		'e', ' ', 'm', 'i', 'g', 'r', 'a', 't', 'i', 'o', 'n' };
	struct wire_status s = { .status = -ECANCELED }, b;
	uint8_t buf[sizeof(s) + 16];
	char err[WIRE_ERRLEN];
	int n;

	snprintf(s.text, sizeof(s.text), "source cancelled the migration");
	n = wire_status_pack(buf, sizeof(buf), &s);
	ck_assert_int_eq(n, 38);
	rec_len = 0;
	ck_assert_int_eq(wire_write_record(rec_write, NULL, WIRE_ERROR, 0, 3,
					   buf, (size_t)n), 0);
	ck_assert_uint_eq(rec_len, sizeof(vec));
	ck_assert_mem_eq(rec_out, vec, sizeof(vec));
	ck_assert_int_eq(wire_status_unpack(vec + WIRE_HDR_SIZE,
					    sizeof(vec) - WIRE_HDR_SIZE, &b,
					    err, sizeof(err)), 0);
	ck_assert_int_eq(b.status, -ECANCELED);
	ck_assert_str_eq(b.text, "source cancelled the migration");
}
END_TEST

START_TEST(hello_round_trip)
{
	struct wire_hello h = hello(3), back;
	struct wire_region rb[WIRE_MAX_REGIONS];
	int n = wire_hello_pack(buf, sizeof(buf), &h, rg);

	ck_assert_int_eq(n, 40 + 3 * 24);
	/* Byte order is explicit: "VMMG" in the first four bytes. */
	ck_assert_mem_eq(buf, "VMMG", 4);
	ck_assert_int_eq(wire_hello_unpack(buf, (size_t)n, &back, rb, err,
					   sizeof(err)), 0);
	ck_assert_mem_eq(back.uuid, h.uuid, 16);
	ck_assert_uint_eq(back.channel, 1);
	ck_assert_uint_eq(back.nchannels, 4);
	ck_assert_uint_eq(back.nregions, 3);
	for (int i = 0; i < 3; i++) {
		ck_assert_uint_eq(rb[i].id, rg[i].id);
		ck_assert_uint_eq(rb[i].gpa, rg[i].gpa);
		ck_assert_uint_eq(rb[i].size, rg[i].size);
	}
	ck_assert_uint_eq(back.attempt, 0);
	/* A post-copy reconnect carries its attempt number. */
	h.flags = WIRE_HELLO_RESUME;
	h.attempt = 7;
	ck_assert_int_eq(wire_hello_pack(buf, sizeof(buf), &h, rg), n);
	ck_assert_int_eq(wire_hello_unpack(buf, (size_t)n, &back, rb, err,
					   sizeof(err)), 0);
	ck_assert_uint_eq(back.attempt, 7);
	ck_assert_uint_eq(buf[36], 7);
	h = hello(3);
	ck_assert_int_eq(wire_hello_pack(buf, (size_t)n - 1, &h, rg), -ENOSPC);
	h = hello(WIRE_MAX_REGIONS);
	n = wire_hello_pack(buf, sizeof(buf), &h, rg);
	ck_assert_int_eq(n, 40 + WIRE_MAX_REGIONS * 24);
	ck_assert_int_eq(wire_hello_unpack(buf, (size_t)n, &back, rb, err,
					   sizeof(err)), 0);
}
END_TEST

/* Pack a hello, let @mut break it, expect -EPROTO and @msg. */
static void hello_bad(void (*mut)(struct wire_hello *, uint8_t *, size_t *),
		      const char *msg)
{
	struct wire_hello h = hello(2), back;
	struct wire_region rb[WIRE_MAX_REGIONS];
	size_t len;

	len = (size_t)wire_hello_pack(buf, sizeof(buf), &h, rg);
	mut(&h, buf, &len);
	err[0] = 0;
	ck_assert_int_eq(wire_hello_unpack(buf, len, &back, rb, err,
					   sizeof(err)), -EPROTO);
	ck_assert_str_eq(err, msg);
}

static void m_magic(struct wire_hello *h, uint8_t *b, size_t *l)
{ (void)h; (void)l; put_le32(b, 0x12345678); }
static void m_version(struct wire_hello *h, uint8_t *b, size_t *l)
{ (void)h; (void)l; put_le16(b + 4, 1); } /* PAGES CRC over page bytes */
static void m_version2(struct wire_hello *h, uint8_t *b, size_t *l)
{ (void)h; (void)l; put_le16(b + 4, 2); } /* no zstd runs */
static void m_pagesize(struct wire_hello *h, uint8_t *b, size_t *l)
{ (void)h; (void)l; put_le32(b + 28, 65536); }
static void m_channel(struct wire_hello *h, uint8_t *b, size_t *l)
{ (void)h; (void)l; put_le16(b + 24, 4); }
static void m_nregions(struct wire_hello *h, uint8_t *b, size_t *l)
{ (void)h; (void)l; put_le32(b + 32, WIRE_MAX_REGIONS + 1); }
static void m_short(struct wire_hello *h, uint8_t *b, size_t *l)
{ (void)h; (void)b; *l -= 1; }
static void m_long(struct wire_hello *h, uint8_t *b, size_t *l)
{ (void)h; (void)b; *l += 24; }
static void m_size(struct wire_hello *h, uint8_t *b, size_t *l)
{ (void)h; (void)l; put_le64(b + 40 + 24 + 16, 4097); }
static void m_zero(struct wire_hello *h, uint8_t *b, size_t *l)
{ (void)h; (void)l; put_le64(b + 40 + 16, 0); }
static void m_dup(struct wire_hello *h, uint8_t *b, size_t *l)
{ (void)h; (void)l; put_le32(b + 40 + 24, 10); }
static void m_flags(struct wire_hello *h, uint8_t *b, size_t *l)
{ (void)h; (void)l; put_le16(b + 6, 4); } /* 1, 2: RESUME, VERIFY */
static void m_attempt(struct wire_hello *h, uint8_t *b, size_t *l)
{ (void)h; (void)l; put_le32(b + 36, 3); } /* without RESUME */
static void m_resume0(struct wire_hello *h, uint8_t *b, size_t *l)
{ (void)h; (void)l; put_le16(b + 6, 1); } /* RESUME, attempt 0 */

START_TEST(hello_rejects)
{
	hello_bad(m_magic, "bad magic 0x12345678 (not a vmmig stream)");
	hello_bad(m_version,
		  "protocol version 1 not supported (this side speaks 3)");
	hello_bad(m_version2,
		  "protocol version 2 not supported (this side speaks 3)");
	hello_bad(m_pagesize, "page size 65536 not supported (need 4096)");
	hello_bad(m_channel, "HELLO channel 4 of 4 is invalid");
	hello_bad(m_nregions, "HELLO has 257 regions (1..256 allowed)");
	hello_bad(m_short, "HELLO length 87 does not match 2 regions");
	hello_bad(m_long, "HELLO length 112 does not match 2 regions");
	hello_bad(m_size, "HELLO region 11 has size 4097 (not a non-zero "
		  "multiple of 4096)");
	hello_bad(m_zero, "HELLO region 10 has size 0 (not a non-zero "
		  "multiple of 4096)");
	hello_bad(m_dup, "HELLO region id 10 appears twice");
	hello_bad(m_flags, "HELLO has unknown flags 0x4");
	hello_bad(m_attempt, "HELLO attempt 3 without RESUME");
	hello_bad(m_resume0, "HELLO attempt 0 with RESUME");
	ck_assert_int_eq(wire_hello_unpack(buf, 39, &(struct wire_hello){ 0 },
					   rg, err, sizeof(err)), -EPROTO);
}
END_TEST

START_TEST(status_round_trip)
{
	struct wire_status s = { .status = -EINVAL, .aux = 7 }, b;
	int n;

	strcpy(s.text, "uuid mismatch");
	n = wire_status_pack(buf, sizeof(buf), &s);
	ck_assert_int_eq(n, 8 + 13);
	ck_assert_int_eq(wire_status_unpack(buf, (size_t)n, &b, err,
					    sizeof(err)), 0);
	ck_assert_int_eq(b.status, -EINVAL);
	ck_assert_uint_eq(b.aux, 7);
	ck_assert_str_eq(b.text, "uuid mismatch");
	/* Empty text; longest text (199 bytes) */
	s.text[0] = 0;
	n = wire_status_pack(buf, sizeof(buf), &s);
	ck_assert_int_eq(n, 8);
	ck_assert_int_eq(wire_status_unpack(buf, 8, &b, err, sizeof(err)), 0);
	ck_assert_str_eq(b.text, "");
	memset(s.text, 'x', sizeof(s.text)); /* not even NUL terminated */
	n = wire_status_pack(buf, sizeof(buf), &s);
	ck_assert_int_eq(n, 8 + 199);
	ck_assert_int_eq(wire_status_unpack(buf, (size_t)n, &b, err,
					    sizeof(err)), 0);
	ck_assert_uint_eq(strlen(b.text), 199);
	/* Rejected: too long, positive status, NUL inside, too short. */
	ck_assert_int_eq(wire_status_unpack(buf, 8 + 200, &b, err,
					    sizeof(err)), -EPROTO);
	put_le32(buf, 5);
	ck_assert_int_eq(wire_status_unpack(buf, 8, &b, err, sizeof(err)),
			 -EPROTO);
	ck_assert_str_eq(err, "status 5 is not 0 or -errno");
	put_le32(buf, 0);
	buf[10] = 0;
	ck_assert_int_eq(wire_status_unpack(buf, 20, &b, err, sizeof(err)),
			 -EPROTO);
	ck_assert_str_eq(err, "status text contains a NUL byte");
	ck_assert_int_eq(wire_status_unpack(buf, 7, &b, err, sizeof(err)),
			 -EPROTO);
}
END_TEST

START_TEST(state_end_round)
{
	struct wire_state st = { .blob_id = 3, .total_len = 1000,
				 .offset = 900 }, sb;
	struct wire_end e = { .pages = 12345, .flags = WIRE_END_MAIN |
			      WIRE_END_HASH, .nblobs = 2,
			      .mem_hash = 0x1122334455667788ull }, eb;
	struct wire_round r = { .round = 4, .dirty_pages = 99 };

	wire_state_pack(buf, &st);
	ck_assert_int_eq(wire_state_unpack(buf, 24 + 100, &sb, err,
					   sizeof(err)), 0);
	ck_assert_uint_eq(sb.blob_id, 3);
	ck_assert_uint_eq(sb.total_len, 1000);
	ck_assert_uint_eq(sb.offset, 900);
	ck_assert_ptr_eq(sb.chunk, buf + WIRE_STATE_HEAD);
	ck_assert_uint_eq(sb.chunk_len, 100);
	ck_assert_int_eq(wire_state_unpack(buf, 24 + 101, &sb, err,
					   sizeof(err)), -EPROTO);
	ck_assert_str_eq(err, "STATE chunk 900+101 lies outside blob 3 of "
			 "1000 bytes");
	ck_assert_int_eq(wire_state_unpack(buf, 23, &sb, err, sizeof(err)),
			 -EPROTO);
	st.offset = UINT64_MAX; /* no wrap-around */
	wire_state_pack(buf, &st);
	ck_assert_int_eq(wire_state_unpack(buf, 24 + 2, &sb, err,
					   sizeof(err)), -EPROTO);

	wire_end_pack(buf, &e);
	ck_assert_int_eq(wire_end_unpack(buf, WIRE_END_SIZE, &eb, err,
					 sizeof(err)), 0);
	ck_assert_uint_eq(eb.pages, 12345);
	ck_assert_uint_eq(eb.flags, WIRE_END_MAIN | WIRE_END_HASH);
	ck_assert_uint_eq(eb.nblobs, 2);
	ck_assert_uint_eq(eb.mem_hash, 0x1122334455667788ull);
	ck_assert_int_eq(wire_end_unpack(buf, WIRE_END_SIZE + 1, &eb, err,
					 sizeof(err)), -EPROTO);
	e.flags = 4;
	wire_end_pack(buf, &e);
	ck_assert_int_eq(wire_end_unpack(buf, WIRE_END_SIZE, &eb, err,
					 sizeof(err)), -EPROTO);
	ck_assert_str_eq(err, "END has unknown flags 0x4");

	wire_round_pack(buf, &r);
	ck_assert_uint_eq(get_le32(buf), 4);
	ck_assert_uint_eq(get_le64(buf + 8), 99);
}
END_TEST

/* READY, COMMIT, STARTED, DIGEST: 16 bytes, status, flags, digest. */
START_TEST(switchover_round_trip)
{
	struct wire_sw in = { .status = -5, .flags = WIRE_SW_DIGEST,
			      .digest = 0x0123456789abcdefull }, out;
	uint8_t b[WIRE_SW_SIZE];
	char err[WIRE_ERRLEN];

	wire_sw_pack(b, &in);
	ck_assert_uint_eq(get_le32(b), (uint32_t)-5);
	ck_assert_uint_eq(get_le32(b + 4), 1);
	ck_assert_uint_eq(get_le64(b + 8), 0x0123456789abcdefull);
	ck_assert_int_eq(wire_sw_unpack(b, sizeof(b), &out, err, sizeof(err)),
			 0);
	ck_assert_int_eq(out.status, -5);
	ck_assert_uint_eq(out.flags, WIRE_SW_DIGEST);
	ck_assert_uint_eq(out.digest, in.digest);
	/* Wrong length, unknown flag, digest without its flag, status. */
	ck_assert_int_eq(wire_sw_unpack(b, 15, &out, err, sizeof(err)), -EPROTO);
	put_le32(b + 4, 3);
	ck_assert_int_eq(wire_sw_unpack(b, 16, &out, err, sizeof(err)), -EPROTO);
	ck_assert_str_eq(err, "switchover record has unknown flags 0x3");
	put_le32(b + 4, 0);
	ck_assert_int_eq(wire_sw_unpack(b, 16, &out, err, sizeof(err)), -EPROTO);
	put_le64(b + 8, 0);
	ck_assert_int_eq(wire_sw_unpack(b, 16, &out, err, sizeof(err)), 0);
	put_le32(b, 1);
	ck_assert_int_eq(wire_sw_unpack(b, 16, &out, err, sizeof(err)), -EPROTO);
}
END_TEST

START_TEST(header_layout)
{
	struct wire_hdr h = { .type = WIRE_PAGES, .flags = 0x0102,
			      .len = 0x03040506, .crc = 0x0708090a,
			      .seq = 0x0b0c0d0e }, b;
	static const uint8_t want[16] = { 0x10, 0x80, 0x02, 0x01, 0x06, 0x05,
		0x04, 0x03, 0x0a, 0x09, 0x08, 0x07, 0x0e, 0x0d, 0x0c, 0x0b };

	wire_hdr_pack(buf, &h);
	ck_assert_mem_eq(buf, want, 16);
	wire_hdr_unpack(buf, &b);
	ck_assert_uint_eq(b.type, h.type);
	ck_assert_uint_eq(b.flags, h.flags);
	ck_assert_uint_eq(b.len, h.len);
	ck_assert_uint_eq(b.crc, h.crc);
	ck_assert_uint_eq(b.seq, h.seq);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wire_control");
	TCase *tc = tcase_create("control");

	tcase_add_test(tc, hello_round_trip);
	tcase_add_test(tc, hello_rejects);
	tcase_add_test(tc, status_round_trip);
	tcase_add_test(tc, error_record_vector);
	tcase_add_test(tc, state_end_round);
	tcase_add_test(tc, header_layout);
	tcase_add_test(tc, switchover_round_trip);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
