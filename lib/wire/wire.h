/* SPDX-License-Identifier: MIT */
/*
 * Wire format (private). docs/wire-format.md is the normative description;
 * this header is the code's view of it.
 *
 * Every record: a 16-byte header, then `len` payload bytes.
 *   u16 type   bit 15 (WIRE_MANDATORY) set: a receiver that does not know the
 *              type must fail; clear: it skips the record.
 *   u16 flags  per type (0 unless stated)
 *   u32 len    payload bytes, <= WIRE_MAX_PAYLOAD
 *   u32 crc    CRC32C (Castagnoli) of the header with crc = 0, then payload
 *              (PAGES: its batch header and descriptors only, not the pages)
 *   u32 seq    per channel and direction, 0, 1, 2, ... (catches loss/replay)
 * All integers little endian.
 *
 * A codec above lib/encode: pack/unpack for every payload (unpack checks
 * lengths, counts, reserved fields), the PAGES builder, the reader. It
 * never decides where a page goes: the reader hands decoded pages to the
 * page sink the destination provides (struct wire_page_sink_ops).
 */
#ifndef VMMIG_LIB_WIRE_H
#define VMMIG_LIB_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define WIRE_MAGIC 0x474d4d56u /* "VMMG" as little-endian bytes */
/* 2: a PAGES record's CRC covers its metadata only (docs section 3).
 * 3: runs of consecutive pages compressed as one zstd frame (ZSTD_RUN,
 * ZSTD_NEXT; docs section 5.2). */
#define WIRE_VERSION 3
#define WIRE_HDR_SIZE 16
#define WIRE_MAX_PAYLOAD (16u << 20)
#define WIRE_MANDATORY 0x8000u
#define WIRE_MAX_BATCH 64      /* pages per PAGES record */
#define WIRE_MAX_REGIONS 256
#define WIRE_ERRLEN 256

enum wire_type {
	WIRE_HELLO = 0x8001,     /* src->dst, first record of every channel */
	WIRE_HELLO_ACK = 0x8002, /* dst->src, answer to HELLO */
	WIRE_PAGES = 0x8010,     /* src->dst, a batch of pages of one region */
	WIRE_ROUND = 0x0011,     /* src->dst, optional: a round began */
	WIRE_ZERO = 0x8012,      /* src->dst, runs of zero pages (zero_range.h) */
	WIRE_STATE = 0x8020,     /* src->dst, a chunk of a state blob */
	WIRE_END = 0x8030,       /* src->dst, last record of a channel */
	WIRE_ACK = 0x8040,       /* retired: version 1 peers before the
				  * READY/COMMIT/STARTED switchover */
	WIRE_READY = 0x8042,     /* dst->src, channel 0: state loaded, the
				  * guest can start here on COMMIT */
	WIRE_COMMIT = 0x8043,    /* src->dst, channel 0: the source gave the
				  * guest up for good: start it */
	WIRE_STARTED = 0x8044,   /* dst->src, channel 0: start() returned */
	WIRE_DIGEST = 0x8045,    /* src->dst, channel 0, after COMMIT: the
				  * source's page-sum memory hash */
	WIRE_ERROR = 0x8041,     /* either way: the sender gives up, and why */
	/* post-copy (postcopy_msgs.c) */
	WIRE_SWITCH = 0x8050,    /* src->dst, every channel: last pre-copy
				  * record; the destination lines channels up */
	WIRE_DISCARD = 0x8051,   /* src->dst, channel 0: pages still to come */
	WIRE_POSTCOPY = 0x8052,  /* src->dst, channel 0: start the guest now */
	WIRE_REQ = 0x8053,       /* dst->src: pages a vCPU is waiting for */
	WIRE_DONE = 0x8054,      /* dst->src: every page is in place */
	WIRE_RESUMED = 0x8055,   /* dst->src, channel 0, after a reconnect:
				  * the DISCARD bitmaps of pages still missing
				  * here are complete */
	/* cache-restore */
	WIRE_DRAIN = 0x8060,     /* src->dst, every channel: no hint follows;
				  * finish the restores, report failures */
	WIRE_DRAINED = 0x8061,   /* dst->src, channel 0: the REQ records with
				  * WIRE_REQ_REFETCH before it are complete */
	WIRE_KEEPALIVE = 0x0062, /* either way, optional, empty: still busy */
};

/* Page encodings inside a PAGES record. */
enum wire_enc {
	WIRE_ENC_ZERO = 0,  /* no payload: the page is all zero */
	WIRE_ENC_RAW = 1,   /* 4096 bytes */
	WIRE_ENC_ZSTD = 2,  /* zstd frame that decompresses to exactly 4096 */
	WIRE_ENC_DELTA = 3, /* delta against the previous copy of the page */
	WIRE_ENC_HINT = 4,  /* 24 bytes: u64 object id, u64 offset, u64 hash:
			     * read the page from shared storage */
	WIRE_ENC_ZSTD_RUN = 5,  /* first page of a run of n >= 2 descriptors:
				 * one zstd frame of exactly n * 4096 bytes */
	WIRE_ENC_ZSTD_NEXT = 6, /* a later page of that run: no payload */
};
/* Slots of the per-encoding page counters (struct wire_page_counts,
 * struct enc_counters): every page of a zstd run is a compressed page and
 * counts as WIRE_ENC_ZSTD, so RUN and NEXT have no slot of their own. */
#define WIRE_ENC__COUNT (WIRE_ENC_HINT + 1)

struct wire_hdr {
	uint16_t type;
	uint16_t flags;
	uint32_t len;
	uint32_t crc;
	uint32_t seq;
};

/* ---- CRC32C and hashing (crc32c.c, hash64.c) ---- */

/* CRC32C, SSE4.2 instruction where the CPU has it, table otherwise.
 * Start with crc = 0; chain by passing the previous result. */
uint32_t vmmig_crc32c(uint32_t crc, const void *buf, size_t len);
/* Portable implementation, exposed for tests. */
uint32_t vmmig_crc32c_sw(uint32_t crc, const void *buf, size_t len);
/* The CRC of A||B from crc(A) and crc(B) (both started from 0), B being
 * @len_b bytes long. */
uint32_t vmmig_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

/* ---- headers (record.c) ---- */

void wire_hdr_pack(uint8_t out[WIRE_HDR_SIZE], const struct wire_hdr *h);
void wire_hdr_unpack(const uint8_t in[WIRE_HDR_SIZE], struct wire_hdr *h);
/* CRC of header bytes (crc field taken as 0) then @payload: a record's crc
 * when @payload is what its type's rule covers (PAGES: the batch header
 * and descriptors only, docs/wire-format.md section 3). */
uint32_t wire_record_crc(const uint8_t hdr[WIRE_HDR_SIZE],
			 const struct iovec *payload, int iovcnt);
/* The crc a whole record in one buffer (@len >= WIRE_HDR_SIZE bytes: header
 * and payload, or as much of it as is there) carries, by its type's rule:
 * for tests, fuzzing and tools that rewrite streams. */
uint32_t wire_record_crc_flat(const uint8_t *rec, size_t len);
/* The header of a record with @payload into @hdr, crc left 0. */
void wire_record_frame(uint8_t hdr[WIRE_HDR_SIZE], uint16_t type,
		       uint16_t flags, uint32_t seq,
		       const struct iovec *payload, int iovcnt);
/* Build the header of a record with @payload into @hdr (crc filled in). */
void wire_record_seal(uint8_t hdr[WIRE_HDR_SIZE], uint16_t type,
		      uint16_t flags, uint32_t seq, const struct iovec *payload,
		      int iovcnt);

/* ---- control payloads (control.c) ---- */

struct wire_region {
	uint32_t id;
	uint32_t flags; /* 0 */
	uint64_t gpa;
	uint64_t size;
};

struct wire_hello {
	uint32_t magic;   /* WIRE_MAGIC */
	uint16_t version; /* WIRE_VERSION */
	uint16_t flags;   /* WIRE_HELLO_RESUME, WIRE_HELLO_VERIFY */
	uint8_t uuid[16];
	uint16_t channel; /* index of this channel */
	uint16_t nchannels;
	uint32_t page_size;
	uint32_t nregions;
	uint32_t attempt; /* RESUME: the source's reconnection attempt, from
			   * 1; 0 otherwise */
	/* followed by nregions x struct wire_region (24 bytes each) */
};

/* HELLO flag: reconnecting to a post-copy migration whose link broke. */
#define WIRE_HELLO_RESUME 1u
#define WIRE_HELLO_VERIFY 2u /* end-to-end memory check: hash pages as they land */

/* Encode: return payload bytes written, or -ENOSPC. */
int wire_hello_pack(uint8_t *buf, size_t cap, const struct wire_hello *h,
		    const struct wire_region *regions);
/* Decode and validate magic, version, page size, region count and layout.
 * @regions must hold WIRE_MAX_REGIONS. Return 0 or -EPROTO with @err set. */
int wire_hello_unpack(const uint8_t *buf, size_t len, struct wire_hello *h,
		      struct wire_region *regions, char *err, size_t errlen);

/* HELLO_ACK, ERROR and ACK share one layout: i32 status, u32 aux, text. */
struct wire_status {
	int32_t status; /* 0 or -errno */
	uint32_t aux;   /* ACK: verified (1/0, 0xffffffff unchecked) */
	char text[200]; /* NUL terminated after unpack */
};
int wire_status_pack(uint8_t *buf, size_t cap, const struct wire_status *s);
int wire_status_unpack(const uint8_t *buf, size_t len, struct wire_status *s,
		       char *err, size_t errlen);

/* STATE: one chunk of a blob. */
#define WIRE_STATE_LAST 1u /* header flag: last chunk of this blob */
struct wire_state {
	uint32_t blob_id;
	uint32_t reserved;
	uint64_t total_len; /* whole blob */
	uint64_t offset;    /* of this chunk */
	/* after unpack: the chunk bytes that follow, in the payload; its
	 * range [offset, offset + chunk_len) lies inside the blob */
	const uint8_t *chunk;
	size_t chunk_len;
};
#define WIRE_STATE_HEAD 24
/* The head only (chunk, chunk_len are not read): the bytes follow it. */
void wire_state_pack(uint8_t out[WIRE_STATE_HEAD], const struct wire_state *s);
int wire_state_unpack(const uint8_t *buf, size_t len, struct wire_state *s,
		      char *err, size_t errlen);

/* END: the channel's last record. */
#define WIRE_END_MAIN 1u     /* flag: channel 0, state blobs precede it */
#define WIRE_END_HASH 2u     /* flag: mem_hash is valid */
struct wire_end {
	uint64_t pages;      /* pages sent on this channel (PAGES, ZERO runs) */
	uint32_t flags;
	uint32_t nblobs;     /* MAIN: state blobs sent */
	uint64_t mem_hash;   /* HASH: page-sum hash of all guest memory
				(docs/wire-format.md section 7) */
};
#define WIRE_END_SIZE 24
void wire_end_pack(uint8_t out[WIRE_END_SIZE], const struct wire_end *e);
int wire_end_unpack(const uint8_t *buf, size_t len, struct wire_end *e,
		    char *err, size_t errlen);

/* ROUND (optional record). */
#define WIRE_ROUND_SIZE 16
struct wire_round {
	uint32_t round;
	uint32_t reserved;
	uint64_t dirty_pages;
};
void wire_round_pack(uint8_t out[WIRE_ROUND_SIZE], const struct wire_round *r);
/* 0, or -EPROTO with @err set (length, reserved field). */
int wire_round_unpack(const uint8_t *buf, size_t len, struct wire_round *r,
		      char *err, size_t errlen);

/* ---- post-copy and cache-restore payloads (postcopy_msgs.c) ---- */

/* POSTCOPY: u32 flags, u32 reserved (0). */
#define WIRE_POSTCOPY_SIZE 8
#define WIRE_POSTCOPY_VERIFY 1u /* END will carry the page-sum hash */
void wire_postcopy_pack(uint8_t out[WIRE_POSTCOPY_SIZE], uint32_t flags);
/* 0 with *@flags set, or -EPROTO with @err set. */
int wire_postcopy_unpack(const uint8_t *buf, size_t len, uint32_t *flags,
			 char *err, size_t errlen);

/* DISCARD: a run of the pending-page bitmap of one region: 16 bytes of
 * head, @nwords little-endian u64 words (a sender's bitmap as it lies in
 * memory, postcopy_msgs.c; read through wire_discard_word()/_apply()). */
#define WIRE_DISCARD_HEAD 16
#define WIRE_DISCARD_MAX_WORDS ((WIRE_MAX_PAYLOAD - WIRE_DISCARD_HEAD) / 8)
struct wire_discard {
	uint32_t region_id;
	uint32_t nwords;     /* bitmap words that follow */
	uint64_t first_word; /* index of the first word in the region bitmap */
	const uint8_t *words; /* after unpack: the words, in the payload */
};
/* The head only (@d->words is not read): the words follow it. */
void wire_discard_pack(uint8_t out[WIRE_DISCARD_HEAD],
		       const struct wire_discard *d);
/* DISCARD header flag: sent before SWITCH, ahead of a DRAIN, while the
 * guest still runs on the source: drop these pages at the DRAIN barrier. */
#define WIRE_DISCARD_EARLY 1u
/* Validates the length against nwords; @d is zeroed first, so it is
 * defined even on failure. 0 or -EPROTO with @err set. */
int wire_discard_unpack(const uint8_t *buf, size_t len, struct wire_discard *d,
			char *err, size_t errlen);
/* Check an unpacked DISCARD against its region of @npages pages: the words
 * lie inside the region's bitmap and name no page past its end. 0 or
 * -EPROTO. */
int wire_discard_check(const struct wire_discard *d, uint64_t npages,
		       char *err, size_t errlen);
/* Word @i (0-based) of an unpacked DISCARD; 0 past its last word. */
uint64_t wire_discard_word(const struct wire_discard *d, uint32_t i);
/* OR the words into @bm[first_word ...] (@bm checked by
 * wire_discard_check() to hold them); with @replace, store instead. */
void wire_discard_apply(const struct wire_discard *d, uint64_t *bm,
			bool replace);

/* HINT page payload (its PAGES descriptor has encoding WIRE_ENC_HINT). */
#define WIRE_HINT_SIZE 24
struct wire_hint {
	uint64_t object_id;
	uint64_t offset;
	uint64_t hash;
};
void wire_hint_pack(uint8_t out[WIRE_HINT_SIZE], const struct wire_hint *h);
/* 0, or -EPROTO with @err set when @len is not WIRE_HINT_SIZE. */
int wire_hint_unpack(const uint8_t *buf, size_t len, struct wire_hint *h,
		     char *err, size_t errlen);

/* REQ: pages of one region the destination faulted on, 8 bytes of head
 * then @count little-endian u64 page indices. */
#define WIRE_REQ_HEAD 8
#define WIRE_REQ_MAX 512
#define WIRE_REQ_MAX_SIZE (WIRE_REQ_HEAD + 8 * WIRE_REQ_MAX)
/* REQ header flag: pages whose restore from storage failed; send their
 * contents even if they were hinted (or already sent) before. */
#define WIRE_REQ_REFETCH 1u
struct wire_req {
	uint32_t region_id;
	uint32_t count;      /* 1..WIRE_REQ_MAX page indices follow (u64) */
	const uint8_t *pages; /* after unpack: the indices, in the payload */
};
/* The whole payload: head and the @q->count indices of @pages (@q->pages
 * is not read). Return its length, -EINVAL (count 0 or over
 * WIRE_REQ_MAX) or -ENOSPC (@cap too small). */
int wire_req_pack(uint8_t *buf, size_t cap, const struct wire_req *q,
		  const uint64_t *pages);
/* Validates count and length; @q is zeroed first. 0 or -EPROTO. */
int wire_req_unpack(const uint8_t *buf, size_t len, struct wire_req *q,
		    char *err, size_t errlen);
/* Page index @i of an unpacked REQ; UINT64_MAX (beyond every region) past
 * its count. */
uint64_t wire_req_page(const struct wire_req *q, uint32_t i);

/* DONE: post-copy finished on the destination, with its fault figures. */
#define WIRE_DONE_SIZE 40
struct wire_done {
	int32_t status;
	uint32_t verified;   /* 1, 0, or 0xffffffff: not checked */
	uint64_t faults;
	uint64_t fault_p50_us;
	uint64_t fault_p99_us;
	uint64_t placed;     /* pages placed after the switch */
};
void wire_done_pack(uint8_t out[WIRE_DONE_SIZE], const struct wire_done *d);
int wire_done_unpack(const uint8_t *buf, size_t len, struct wire_done *d,
		     char *err, size_t errlen);

/* READY, COMMIT, STARTED, DIGEST: the switchover (switchover.c). */
#define WIRE_SW_SIZE 16
#define WIRE_SW_DIGEST 1u    /* flag: digest is valid (READY, DIGEST) */
struct wire_sw {
	int32_t status;      /* 0 or -errno (STARTED: what start() returned) */
	uint32_t flags;      /* WIRE_SW_DIGEST or 0 */
	uint64_t digest;     /* page-sum memory hash, with WIRE_SW_DIGEST */
};
void wire_sw_pack(uint8_t out[WIRE_SW_SIZE], const struct wire_sw *s);
int wire_sw_unpack(const uint8_t *buf, size_t len, struct wire_sw *s,
		   char *err, size_t errlen);

/* ---- destination side: reading records (reader.c) ---- */

/* Reads exactly the bytes described by @iov, or fails with -errno. */
typedef int (*wire_read_fn)(void *cookie, const struct iovec *iov, int iovcnt);

/* What the reader checks PAGES against: the region's id and size. */
struct wire_dest_region {
	uint32_t id;
	uint64_t npages;
};

struct wire_page_counts {
	uint64_t pages[WIRE_ENC__COUNT];
	uint64_t bytes; /* wire bytes of records read */
};

/* One validated PAGES descriptor, as the page sink sees it. */
struct wire_page_desc {
	uint64_t page; /* index in the region, < its npages */
	uint32_t len;  /* encoded bytes, valid for @enc */
	uint8_t enc;   /* enum wire_enc */
};

/*
 * Where decoded pages land (the destination's: lib/dest/dest_sink.c), with
 * one cookie. @ri: the region's index in the wire_reader_set_regions()
 * table. Called on the reader's thread, in wire_reader_next(): once per
 * record (begin), page (place or hint), ZERO run (zero, zero_range.h).
 */
struct wire_page_sink_ops {
	/*
	 * A PAGES record was validated (@n descriptors, its CRC over header
	 * and descriptors matched), none of its page bytes read yet: contents for these pages are coming; -errno
	 * refuses the record. For a RAW or DELTA descriptor @i, @into[i]
	 * (NULL on entry) may be set to the page's 4096 bytes: RAW is then
	 * received there, DELTA patched there, and place() gets that
	 * pointer. Left NULL: RAW goes through a reader buffer, DELTA is
	 * refused (no copy to apply it to, as after the post-copy switch).
	 */
	int (*begin)(void *cookie, unsigned ri, const struct wire_page_desc *d,
		     unsigned n, void **into);
	/* Page @page decoded, after all of its record arrived: @data is its
	 * contents (NULL: all zero; == into[i] when already in place).
	 * 0, or -errno to fail the reader (-EPROTO: a page not expected). */
	int (*place)(void *cookie, unsigned ri, uint64_t page,
		     const void *data);
	/* A HINT page: read it from storage instead. NULL: hints are a
	 * protocol error. 0 or -errno. */
	int (*hint)(void *cookie, unsigned ri, uint64_t page,
		    const struct wire_hint *h);
	int (*zero)(void *cookie, unsigned ri, uint64_t first, uint64_t n);
};

struct wire_reader; /* holds scratch buffers and the zstd context */

int wire_reader_new(wire_read_fn fn, void *cookie,
		    const struct wire_dest_region *regions, unsigned nregions,
		    struct wire_reader **out);
void wire_reader_free(struct wire_reader *r);
/*
 * Replace the regions PAGES may name (copied). A destination reads the
 * HELLO with none, so that nothing a peer sends before it is accepted can
 * reach a page sink, then sets them. Return 0, -EINVAL or -ENOMEM.
 */
int wire_reader_set_regions(struct wire_reader *r,
			    const struct wire_dest_region *regions,
			    unsigned nregions);
/* Where PAGES land from the next record on (@ops and what @cookie points
 * to must outlive their use). Without a sink PAGES are a protocol error.
 * Return 0, or -EINVAL (@ops without begin or place). */
int wire_reader_set_sink(struct wire_reader *r,
			 const struct wire_page_sink_ops *ops, void *cookie);
/*
 * Read the next record. PAGES records are validated (region id, page
 * indices, encodings, lengths, CRC), decoded and handed to the page sink
 * before returning. For any other known type the payload is returned in
 * *@payload (owned by the reader, valid until the next call). Unknown
 * optional records are skipped. Return 0, -EPROTO (message in
 * wire_reader_error()), or the read fn's or the sink's error.
 */
int wire_reader_next(struct wire_reader *r, struct wire_hdr *h,
		     const uint8_t **payload, struct wire_page_counts *cnt);
const char *wire_reader_error(const struct wire_reader *r);
/* Number of pages applied so far (PAGES entries and pages of ZERO runs). */
uint64_t wire_reader_pages(const struct wire_reader *r);
/*
 * Read-ahead, for streams of small records where each receive costs more
 * than the bytes it moves (post-copy requests and urgent pages). @fn
 * receives at least @min and at most @max bytes: the count or -errno.
 * With it set, the reader keeps a @cap-byte buffer and serves its reads
 * from there, refilling it with one @fn call when it runs dry: a small
 * record, or several, then costs one receive instead of one per part. It
 * never asks @fn for more than the record being read still lacks, so it
 * does not wait on records not sent yet. Payloads too large for the buffer
 * go straight into place through the read fn. Call at a record boundary,
 * once (read-ahead stays on: bytes read ahead belong to the stream).
 * Return 0, -EBUSY (already on), -EINVAL or -ENOMEM.
 */
typedef int (*wire_read_some_fn)(void *cookie, void *buf, size_t min,
				 size_t max);
/* What the core uses: a one-page record fifteen times over. */
#define WIRE_READAHEAD_CAP (64u << 10)
/* A PAGES record's header, batch head and descriptors at most. */
#define WIRE_PAGES_HEAD_MAX (WIRE_HDR_SIZE + 8 + 16 * WIRE_MAX_BATCH)
int wire_reader_set_readahead(struct wire_reader *r, wire_read_some_fn fn,
			      size_t cap);

/* ---- writing other records (record.c) ---- */

/* Send a non-PAGES record: seal a header for @payload and call @fn with
 * [header, payload]. */
typedef int (*wire_write_fn)(void *cookie, const struct iovec *iov, int iovcnt);
int wire_write_record(wire_write_fn fn, void *cookie, uint16_t type,
		      uint16_t flags, uint32_t seq, const void *payload,
		      size_t len);

#endif /* VMMIG_LIB_WIRE_H */
