/* SPDX-License-Identifier: MIT */
/* Switchover payloads: READY, COMMIT, STARTED, DIGEST (docs/wire-format.md
 * section 6.5). All four share one 16-byte layout. */
#include <errno.h>
#include <stdio.h>

#include "le.h"
#include "wire.h"

void wire_sw_pack(uint8_t out[WIRE_SW_SIZE], const struct wire_sw *s)
{
	put_le32(out, (uint32_t)s->status);
	put_le32(out + 4, s->flags);
	put_le64(out + 8, s->digest);
}

int wire_sw_unpack(const uint8_t *buf, size_t len, struct wire_sw *s,
		   char *err, size_t errlen)
{
	if (len != WIRE_SW_SIZE) {
		snprintf(err, errlen, "switchover record of %zu bytes (%u "
			 "expected)", len, WIRE_SW_SIZE);
		return -EPROTO;
	}
	s->status = (int32_t)get_le32(buf);
	s->flags = get_le32(buf + 4);
	s->digest = get_le64(buf + 8);
	if (s->status > 0 || s->status < -4095) {
		snprintf(err, errlen, "switchover status %d is not 0 or -errno",
			 s->status);
		return -EPROTO;
	}
	if (s->flags & ~WIRE_SW_DIGEST) {
		snprintf(err, errlen, "switchover record has unknown flags 0x%x",
			 s->flags);
		return -EPROTO;
	}
	if (!(s->flags & WIRE_SW_DIGEST) && s->digest) {
		snprintf(err, errlen, "switchover record has a digest but no "
			 "DIGEST flag");
		return -EPROTO;
	}
	return 0;
}
