/* SPDX-License-Identifier: MIT */
/* Reading an embedder's extensible struct (private).
 *
 * Public config structs start with uint32_t struct_size, which the caller
 * sets to sizeof() of the struct as its header declared it. Fields are only
 * ever appended, so a caller built against an older header passes a smaller
 * size: the fields it lacks read as 0, which every such struct defines as
 * "default". A caller built against a newer header passes a larger size: its
 * extra bytes must be 0 (it asked for nothing this library does not know),
 * else -E2BIG, the rule of Linux's extensible syscalls (openat2, clone3).
 * Header-only so that every part can use it without linking part_base. */
#ifndef VMMIG_LIB_BASE_STRUCT_IN_H
#define VMMIG_LIB_BASE_STRUCT_IN_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Copy the caller's struct @src into @dst (@size bytes, the library's own
 * sizeof), zero-filling what the caller's struct lacks. @dst's struct_size
 * becomes @size. Return: 0, -EINVAL (struct_size smaller than the field
 * itself), -E2BIG (a larger struct with non-zero bytes past @size). */
static inline int struct_copy_in(void *dst, size_t size, const void *src)
{
	const unsigned char *s = src;
	uint32_t n, own = (uint32_t)size;

	memcpy(&n, s, sizeof(n));
	if (n < sizeof(n))
		return -EINVAL;
	for (size_t i = size; i < n; i++)
		if (s[i])
			return -E2BIG;
	memset(dst, 0, size);
	memcpy(dst, s, n < size ? n : size);
	memcpy(dst, &own, sizeof(own));
	return 0;
}

#endif /* VMMIG_LIB_BASE_STRUCT_IN_H */
