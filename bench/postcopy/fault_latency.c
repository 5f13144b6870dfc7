/* SPDX-License-Identifier: MIT */
/*
 * Post-copy fault latency on loopback, as the vCPU sees it.
 *
 *   fault_latency [MIB] [BANDWIDTH_MB_S] [SAMPLES] [FAULT_CPU]
 *
 * A destination process (forked) registers MIB of anonymous guest memory;
 * the source (this process) switches to post-copy at once (no pre-copy
 * pass, VMMIG_OPT_VERIFY off). On the destination a "vCPU" thread starts
 * when the library calls start() and reads one byte of random pages; each
 * read of a page that was not resident just before (mincore) is one fault,
 * timed around the load instruction: fault entry, the library's request
 * over the return path, the source's answer on the urgent channel,
 * UFFDIO_COPY, wake-up. The background stream runs meanwhile, at
 * BANDWIDTH_MB_S (0: unlimited). Also measured in the same run: a local
 * userfaultfd round trip (a handler thread placing the page at once), the
 * floor of any post-copy fault here. With FAULT_CPU (>= 0), both sides set
 * VMMIG_OPT_FAULT_CPU and the "vCPU" thread runs on that CPU too, as does
 * the baseline's faulting thread and handler.
 * Prints one JSON object. Public API only, like an embedder.
 */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <vmmig/vmmig.h>

#define PAGE 4096ul
#define MAX_SAMPLES 20000

static int fault_cpu = -1;

/* The calling thread on FAULT_CPU, if one was given. */
static void pin_self(void)
{
	cpu_set_t set;

	if (fault_cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(fault_cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set))
		fprintf(stderr, "fault_latency: cannot pin to CPU %d\n",
			fault_cpu);
}

struct shared {                  /* child -> parent, MAP_SHARED */
	int ret;
	unsigned n;                  /* samples taken */
	uint64_t lat_ns[MAX_SAMPLES];
	uint64_t lib_p50_us, lib_p99_us, lib_faults;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct_us(uint64_t *v, unsigned n, double p)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u64);
	return (double)v[(unsigned)((n - 1) * p)] / 1000.0;
}

/* ---- destination (child) ---- */
struct vcpu {
	uint8_t *mem;
	size_t size;
	unsigned want;
	atomic_bool go;
	struct shared *sh;
};

static int dst_start(void *opaque)
{
	struct vcpu *v = opaque;

	atomic_store(&v->go, true);
	return 0;
}

static void *vcpu_main(void *arg)
{
	struct vcpu *v = arg;
	uint64_t s = 88172645463325252ull, deadline;

	pin_self();
	while (!atomic_load(&v->go))
		usleep(50);
	deadline = now_ns() + 20ull * 1000000000ull;
	for (unsigned i = 0; i < 4 * MAX_SAMPLES && v->sh->n < v->want &&
	     now_ns() < deadline; i++) {
		unsigned char in;
		uint8_t *p;

		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		p = v->mem + (s % (v->size / PAGE)) * PAGE;
		if (mincore(p, PAGE, &in) || (in & 1))
			continue; /* already here: not a fault */
		uint64_t t0 = now_ns();
		(void)*(volatile uint8_t *)p;
		v->sh->lat_ns[v->sh->n++] = now_ns() - t0;
	}
	return NULL;
}

static int dest_main(size_t size, unsigned want, struct shared *sh, int wfd)
{
	static const struct vmmig_dest_ops ops = {
		.version = VMMIG_DEST_OPS_VERSION, .start = dst_start };
	struct vmmig_stats st = { .struct_size = sizeof(st) };
	struct vcpu v = { .size = size, .want = want, .sh = sh };
	struct vmmig_dest *d = NULL;
	char uri[256] = "";
	pthread_t th;
	int ret;

	v.mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (v.mem == MAP_FAILED)
		return 2;
	ret = vmmig_dest_new(&d);
	if (!ret)
		ret = vmmig_dest_add_region(d, 0, 0, v.mem, size);
	if (!ret)
		ret = vmmig_dest_set_ops(d, &ops, &v);
	if (!ret)
		ret = vmmig_dest_set_option(d, VMMIG_OPT_FAULT_CPU, fault_cpu);
	if (!ret)
		ret = vmmig_dest_listen(d, "tcp:127.0.0.1:0", uri, sizeof(uri));
	if (!ret)
		ret = vmmig_dest_start(d);
	(void)!write(wfd, uri, strlen(uri) + 1);
	if (ret || pthread_create(&th, NULL, vcpu_main, &v)) {
		sh->ret = ret ? ret : -EAGAIN;
		vmmig_dest_free(d);
		return 1;
	}
	sh->ret = vmmig_dest_wait(d);
	atomic_store(&v.go, true); /* if start() never came */
	pthread_join(th, NULL);
	vmmig_dest_get_stats(d, &st);
	sh->lib_p50_us = st.fault_latency_p50_us;
	sh->lib_p99_us = st.fault_latency_p99_us;
	sh->lib_faults = st.postcopy_faults;
	vmmig_dest_free(d);
	return sh->ret ? 1 : 0;
}

/* ---- source (parent) ---- */
static int nop(void *opaque)
{
	(void)opaque;
	return 0;
}

static const struct vmmig_source_ops src_ops = {
	.version = VMMIG_SOURCE_OPS_VERSION, .pause = nop, .resume = nop };

static int migrate(const char *uri, uint8_t *mem, size_t size, int64_t bw,
		   struct vmmig_stats *st)
{
	struct vmmig_postcopy_config pc = { .struct_size = sizeof(pc),
		.flags = VMMIG_POSTCOPY_NO_FIRST_PASS };
	struct vmmig_policy *pol = NULL;
	struct vmmig_source *s = NULL;
	int ret = vmmig_policy_new_postcopy(&pc, &pol);

	if (!ret)
		ret = vmmig_source_new(&s);
	if (!ret)
		ret = vmmig_source_add_region(s, 0, 0, mem, size);
	if (!ret)
		ret = vmmig_source_set_ops(s, &src_ops, NULL);
	if (!ret)
		ret = vmmig_source_set_policy(s, pol);
	if (!ret)
		ret = vmmig_source_set_option(s, VMMIG_OPT_VERIFY, 0);
	if (!ret && bw)
		ret = vmmig_source_set_option(s, VMMIG_OPT_BANDWIDTH_LIMIT, bw);
	if (!ret)
		ret = vmmig_source_set_option(s, VMMIG_OPT_FAULT_CPU, fault_cpu);
	if (!ret)
		ret = vmmig_source_start(s, uri);
	if (!ret)
		ret = vmmig_source_wait(s);
	if (s) {
		st->struct_size = sizeof(*st);
		vmmig_source_get_stats(s, st);
	}
	vmmig_source_free(s);
	vmmig_policy_free(pol);
	return ret;
}

/* ---- baseline: a local userfaultfd round trip ---- */
struct uf {
	int fd;
	uint8_t *src;
	atomic_bool stop;
};

static void *uf_handler(void *arg)
{
	struct uf *u = arg;
	struct pollfd p = { .fd = u->fd, .events = POLLIN };

	pin_self();
	while (!atomic_load(&u->stop)) {
		struct uffd_msg m;

		if (poll(&p, 1, 20) <= 0)
			continue;
		if (read(u->fd, &m, sizeof(m)) != sizeof(m) ||
		    m.event != UFFD_EVENT_PAGEFAULT)
			continue;
		struct uffdio_copy c = {
			.dst = m.arg.pagefault.address & ~(PAGE - 1),
			.src = (uintptr_t)u->src, .len = PAGE };
		ioctl(u->fd, UFFDIO_COPY, &c);
	}
	return NULL;
}

static int uffd_baseline(unsigned n, uint64_t *lat, double *p50, double *p99)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uf u = { .fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK) };
	size_t size = (size_t)n * PAGE;
	uint8_t *m = MAP_FAILED;
	pthread_t th;
	int ret = -errno;

	if (u.fd < 0)
		return ret;
	u.src = aligned_alloc(PAGE, PAGE);
	m = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct uffdio_register reg = { .range = { (uintptr_t)m, size },
				       .mode = UFFDIO_REGISTER_MODE_MISSING };
	if (!u.src || m == MAP_FAILED || ioctl(u.fd, UFFDIO_API, &api) ||
	    ioctl(u.fd, UFFDIO_REGISTER, &reg) ||
	    pthread_create(&th, NULL, uf_handler, &u)) {
		ret = -EIO;
		goto out;
	}
	memset(u.src, 0x5a, PAGE);
	pin_self();
	for (unsigned i = 0; i < n; i++) {
		uint64_t t0 = now_ns();

		(void)*(volatile uint8_t *)(m + (size_t)i * PAGE);
		lat[i] = now_ns() - t0;
	}
	atomic_store(&u.stop, true);
	pthread_join(th, NULL);
	*p50 = pct_us(lat, n, 0.50);
	*p99 = pct_us(lat, n, 0.99);
	ret = 0;
out:
	if (m != MAP_FAILED)
		munmap(m, size);
	free(u.src);
	close(u.fd);
	return ret;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 256;
	int64_t bw = (argc > 2 ? strtoll(argv[2], NULL, 10) : 100) * 1000000;
	unsigned want = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 2000;
	cpu_set_t all;
	size_t size = mib << 20;
	struct vmmig_stats st = { 0 };
	static uint64_t base[4096];
	double b50 = 0, b99 = 0;
	struct shared *sh;
	char uri[256] = "";
	int pfd[2], status, ret;
	pid_t pid;

	fault_cpu = argc > 4 ? atoi(argv[4]) : -1;
	if (!mib || mib > 4096 || !want || want > MAX_SAMPLES ||
	    fault_cpu < -1 || fault_cpu >= CPU_SETSIZE)
		return 2;
	/* The baseline pins this thread; the migration's own threads start
	 * from its affinity, so restore it afterwards. */
	if (sched_getaffinity(0, sizeof(all), &all))
		return 2;
	if (uffd_baseline(4096, base, &b50, &b99))
		fprintf(stderr, "fault_latency: no userfaultfd baseline\n");
	sched_setaffinity(0, sizeof(all), &all);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint8_t *mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED || mem == MAP_FAILED || pipe(pfd))
		return 2;
	/* Non-zero content, so that every page is a real copy. */
	for (size_t off = 0; off < size; off += 8)
		*(uint64_t *)(mem + off) = off * 0x9e3779b97f4a7c15ull + 1;
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		_exit(dest_main(size, want, sh, pfd[1]));
	}
	close(pfd[1]);
	if (pid < 0 || read(pfd[0], uri, sizeof(uri)) <= 1)
		return 2;
	ret = migrate(uri, mem, size, bw, &st);
	waitpid(pid, &status, 0);
	unsigned n = sh->n;
	printf("{\"guest_mib\":%zu,\"background_bandwidth_bytes_per_s\":%lld,"
	       "\"fault_cpu\":%d,"
	       "\"result\":%d,\"dest_result\":%d,\"total_time_ms\":%.1f,"
	       "\"vcpu_faults_timed\":%u,\"vcpu_fault_us\":{\"p50\":%.1f,"
	       "\"p90\":%.1f,\"p99\":%.1f,\"max\":%.1f},"
	       "\"library_faults\":%llu,\"library_fault_us\":{\"p50\":%llu,"
	       "\"p99\":%llu},\"local_uffd_round_trip_us\":{\"p50\":%.1f,"
	       "\"p99\":%.1f}}\n",
	       mib, (long long)bw, fault_cpu, ret, sh->ret,
	       (double)st.total_time_us / 1000.0, n,
	       pct_us(sh->lat_ns, n, 0.50), pct_us(sh->lat_ns, n, 0.90),
	       pct_us(sh->lat_ns, n, 0.99), pct_us(sh->lat_ns, n, 1.0),
	       (unsigned long long)sh->lib_faults,
	       (unsigned long long)sh->lib_p50_us,
	       (unsigned long long)sh->lib_p99_us, b50, b99);
	return ret || sh->ret ? 1 : 0;
}
