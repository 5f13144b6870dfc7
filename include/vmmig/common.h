/* SPDX-License-Identifier: MIT */
/*
 * libvmmig — common definitions shared by every part of the API.
 *
 * Conventions (all headers):
 *   - Calls return 0 (or a count) on success and a negative errno on failure.
 *     The library never touches the global errno as a way of reporting, never
 *     exits and never aborts.
 *   - Objects are opaque; *_new() allocates, *_free() releases and accepts NULL.
 *   - Memory and file descriptors handed to the library are borrowed: they must
 *     outlive the object they were handed to.
 *
 * The four pluggable interfaces (dirty tracker, policy, page source,
 * transport) follow one set of rules:
 *   - A backend is a const ops table whose first member is its version; its
 *     private state is allocated by the library (priv_size, or chan_size and
 *     listener_size for a transport), zeroed, and handed to every method.
 *   - Members are only ever appended. A table declares the version it was
 *     written for: any from 1 to the header's current *_OPS_VERSION is
 *     accepted, and the library reads a member added in a later version only
 *     when the table's version has it. Other versions, and a mandatory
 *     member left NULL, are refused with -EINVAL when the table is handed
 *     over (*_new(), or *_start_transport() / *_listen_transport()).
 *     Optional members may be NULL.
 *   - Methods return 0 (or the count their documentation names) on success
 *     and a negative errno on failure: the library reads any value >= 0 as
 *     success and never passes a positive value on as an error.
 *   - The library reaches a backend only through its wrappers, which check
 *     the arguments and the object's state first (a method is never called
 *     on an object in the wrong state), so a backend may trust them.
 *   - Once init() was called, destroy() is called exactly once, even if
 *     init() failed. A transport has no init(): close() follows each
 *     successful connect() or accept(), listener_close() a successful
 *     listen().
 *   - The built-in backends are made through these same tables.
 */
#ifndef VMMIG_COMMON_H
#define VMMIG_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(VMMIG_BUILDING) && defined(__GNUC__)
#define VMMIG_API __attribute__((visibility("default")))
#else
#define VMMIG_API
#endif

#define VMMIG_VERSION_MAJOR 0
#define VMMIG_VERSION_MINOR 1
#define VMMIG_VERSION_PATCH 0

/* The granule of tracking and transfer. Regions must be multiples of it. */
#define VMMIG_PAGE_SIZE 4096u
#define VMMIG_PAGE_SHIFT 12u

/* Size of a migration UUID (libuuid's uuid_t). */
#define VMMIG_UUID_SIZE 16

/**
 * vmmig_version() - the library's version.
 *
 * Thread: any thread, any time.
 * Callbacks: none.
 * Return: a constant string "major.minor.patch" (VMMIG_VERSION_* of the
 * library that runs, which may be newer than the header's).
 */
VMMIG_API const char *vmmig_version(void);

/**
 * vmmig_strerror() - human readable text for an error the library returned.
 * @err: a negative errno (the positive value is accepted too)
 *
 * Some errors get a wording of the library's (e.g. -EPROTO: "malformed or
 * incompatible migration stream"), the rest the C library's.
 *
 * Thread: any thread, any time.
 * Callbacks: none.
 * Return: a constant string, never NULL.
 */
VMMIG_API const char *vmmig_strerror(int err);

enum vmmig_log_level {
	VMMIG_LOG_ERROR = 0,
	VMMIG_LOG_WARN = 1,
	VMMIG_LOG_INFO = 2,
	VMMIG_LOG_DEBUG = 3,
};

/**
 * vmmig_log_fn - log sink set by the embedder per session. Called from
 * library threads; must be thread-safe. @msg has no trailing newline.
 */
typedef void (*vmmig_log_fn)(void *opaque, int level, const char *msg);

#ifdef __cplusplus
}
#endif
#endif /* VMMIG_COMMON_H */
