/* SPDX-License-Identifier: MIT */
/* Not a libvmmig header: what the doc-comments check must refuse (test
 * doc-comments-refuses). Each call lacks one part of its doc block. */

/**
 * vmmig_no_callbacks() - lacks its Callbacks: part.
 * @a: an argument
 *
 * Thread: any thread.
 * Return: 0.
 */
VMMIG_API int vmmig_no_callbacks(int a);

/**
 * vmmig_no_arg() - does not name its argument b.
 * @a: an argument
 *
 * Thread: any thread.
 * Callbacks: none.
 * Return: 0.
 */
VMMIG_API int vmmig_no_arg(int a, int b);

/* vmmig_no_summary: no "name() - summary" line. */
VMMIG_API int vmmig_no_summary(void);
