/* SPDX-License-Identifier: MIT */
/*
 * VMMIG_OPT_FAULT_CPU: the threads a post-copy fault waits on (destination:
 * fault thread and urgent receiver; source: return-path thread) run on one
 * CPU. Each hands the fault on to the next and then blocks, so on one CPU
 * every hand-over is a local wake-up instead of an inter-processor
 * interrupt, which a nested hypervisor makes expensive (vCPU p50 97-110 us
 * -> 73-76 us measured on one, the vCPU thread pinned to the same CPU).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "base.h"

void affinity_pin_fault(const struct options *o, const struct logger *lg,
			const char *what)
{
	int64_t cpu = o->v[VMMIG_OPT_FAULT_CPU];
	cpu_set_t set;
	int ret;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET((int)cpu, &set);
	ret = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	/* Not fatal: the migration works anywhere, only slower. */
	if (ret)
		log_msg(lg, VMMIG_LOG_WARN, "%s: cannot run on CPU %lld: %s",
			what, (long long)cpu, strerror(ret));
}
