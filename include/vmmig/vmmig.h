/* SPDX-License-Identifier: MIT */
/*
 * libvmmig — live migration of virtual machines, as a library.
 *
 * Read in this order:
 *   common.h     errors, logging, version, page size
 *   session.h    source and destination sessions, options, callbacks
 *   stats.h      progress and statistics, JSON rendering
 *   tracker.h    dirty trackers (manual, uffd-wp, soft-dirty, ...)
 *   policy.h     path-selection policies (precopy, ...)
 *   transport.h  transports (io_uring TCP / Unix, in-process)
 *   pagesource.h page sources on the destination (shared storage for
 *                cache-restore)
 *   tls.h        TLS (PSK or mutual x509) on every channel
 *
 * Each call has a man page (section 3, e.g. man vmmig_source_start), made
 * from the doc block above its declaration; docs/architecture.md shows the
 * layers, the threads of each side and the life of a page.
 */
#ifndef VMMIG_H
#define VMMIG_H

#include <vmmig/common.h>
#include <vmmig/pagesource.h>
#include <vmmig/policy.h>
#include <vmmig/session.h>
#include <vmmig/stats.h>
#include <vmmig/tls.h>
#include <vmmig/tracker.h>
#include <vmmig/transport.h>

#endif /* VMMIG_H */
