/* SPDX-License-Identifier: MIT */
/* JSON written into a caller's fixed buffer (stats and history). */
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>

#include "json.h"

void jprintf(struct jbuf *j, const char *fmt, ...)
{
	size_t room = j->used < j->len ? j->len - j->used : 0;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(j->p + (room ? j->used : 0), room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room)
		j->overflow = true;
	j->used += n > 0 ? (size_t)n : 0;
}

void jstring(struct jbuf *j, const char *s)
{
	jprintf(j, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			jprintf(j, "\\%c", c);
		else if (c < 0x20)
			jprintf(j, "\\u%04x", c);
		else
			jprintf(j, "%c", c);
	}
	jprintf(j, "\"");
}

int jfinish(struct jbuf *j)
{
	if (j->overflow) {
		j->p[j->len - 1] = '\0';
		return -ENOSPC;
	}
	return (int)j->used;
}
