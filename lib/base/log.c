/* SPDX-License-Identifier: MIT */
/* Logging goes to the embedder's callback only; the library never prints. */
#include <stdarg.h>
#include <stdio.h>

#include "base.h"

void log_msg(const struct logger *lg, int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!lg->fn || level > lg->max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	lg->fn(lg->opaque, level, msg);
}
