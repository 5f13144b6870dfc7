/* SPDX-License-Identifier: MIT */
/* JSON written into a caller's fixed buffer (stats and history). */
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>

#include "json.h"

void json_printf(struct jbuf *j, const char *fmt, ...)
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

void json_string(struct jbuf *j, const char *s)
{
	json_printf(j, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			json_printf(j, "\\%c", c);
		else if (c < 0x20)
			json_printf(j, "\\u%04x", c);
		else
			json_printf(j, "%c", c);
	}
	json_printf(j, "\"");
}

void jkey(struct jbuf *j, bool *first, const char *k)
{
	json_printf(j, "%s", *first ? "" : ",");
	*first = false;
	json_string(j, k);
	json_printf(j, ":");
}

int json_finish(struct jbuf *j)
{
	if (j->overflow) {
		j->p[j->len - 1] = '\0';
		return -ENOSPC;
	}
	return (int)j->used;
}
