/* SPDX-License-Identifier: MIT */
/*
 * A fake guest for the session tests: memfd-backed memory (so another
 * process can map and compare it), a writer thread that keeps dirtying
 * random pages like a running guest, and the pause/resume/state callbacks a
 * hypervisor would provide.
 */
#ifndef VMMIG_TEST_GUEST_H
#define VMMIG_TEST_GUEST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <vmmig/vmmig.h>

enum guest_fill { FILL_RANDOM, FILL_ZERO, FILL_HALF, FILL_TEXT };

struct guest {
	int memfd;
	uint8_t *mem;
	size_t size;
	uint8_t *shadow;          /* every byte the writer wrote, if kept */
	struct vmmig_tracker *manual; /* marks writes here when set */

	pthread_t writer;
	bool writer_running;
	atomic_bool stop;
	atomic_bool pause_req;    /* writer must park */
	atomic_bool parked;       /* writer is parked */
	atomic_uint_fast64_t writes;  /* pages written: the "heartbeat" */
	uint64_t seed;
	unsigned delay_us;        /* between writes; 0 = flat out */

	atomic_int pauses, resumes;
	uint64_t cpu_state;       /* stands for vCPU registers */
};

int guest_init(struct guest *g, size_t size, enum guest_fill fill,
	       bool shadow);
/* Stops the writer, frees the memory and g->manual (free the source that
 * uses the tracker first). */
void guest_destroy(struct guest *g);
/* Start the writer; writes go through the manual tracker if g->manual. */
int guest_run(struct guest *g, unsigned delay_us);
void guest_stop(struct guest *g);
/* Callback tables backed by a struct guest (opaque = the guest). */
extern const struct vmmig_source_ops guest_source_ops;
extern const struct vmmig_dest_ops guest_dest_ops;
/* Fill @buf with deterministic pseudo-random bytes from @seed. */
void fill_random(void *buf, size_t len, uint64_t seed);

#endif
