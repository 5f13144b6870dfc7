/* SPDX-License-Identifier: MIT */
/* JSON into a fixed buffer (private). */
#ifndef VMMIG_LIB_BASE_JSON_H
#define VMMIG_LIB_BASE_JSON_H

#include <stdbool.h>
#include <stddef.h>

/* ---- JSON into a fixed buffer (json.c) ---- */
/* Appends; remembers overflow instead of failing early. */
struct jbuf {
	char *p;
	size_t len, used;
	bool overflow;
};
void json_printf(struct jbuf *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* @s as a quoted, escaped JSON string. */
void json_string(struct jbuf *j, const char *s);
/* "@k": as the next member of the object being written, after a comma
 * unless *@first (which it then clears). */
void jkey(struct jbuf *j, bool *first, const char *k);
/* The length written, or -ENOSPC (output truncated, NUL terminated). */
int json_finish(struct jbuf *j);

#endif /* VMMIG_LIB_BASE_JSON_H */
