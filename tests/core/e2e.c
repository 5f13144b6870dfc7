/* SPDX-License-Identifier: MIT */
#include "e2e.h"
#include "slow_pagesource.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


static int fail_load(void *opaque, uint32_t id, const void *data, size_t len)
{
	(void)opaque, (void)id, (void)data, (void)len;
	return -EINVAL;
}

/* The child's session and result, for start() to look at its own status
 * (one destination per child process). */
static struct vmmig_dest *child_dst;
static struct dest_result *child_res;

static int start_and_look(void *opaque)
{
	struct vmmig_stats st = { .struct_size = sizeof(st) };

	if (!vmmig_dest_get_stats(child_dst, &st))
		child_res->status_in_start = st.status;
	return guest_dest_ops.start(opaque);
}

static bool child_cancel_on_pause;

static void *cancel_main(void *arg)
{
	vmmig_dest_cancel(arg);
	return NULL;
}

/* ERROR lines of the child's log, the first one kept. */
static void count_errors(void *opaque, int level, const char *msg)
{
	struct dest_result *res = opaque;
	pthread_t th;

	if (level == VMMIG_LOG_ERROR && !res->log_errors++)
		snprintf(res->first_log_error, sizeof(res->first_log_error),
			 "%s", msg);
	/* The embedder cancels as the link is lost: the session thread is
	 * about to drop its channels and wait for the source. */
	if (child_cancel_on_pause && strstr(msg, "post-copy link lost") &&
	    !pthread_create(&th, NULL, cancel_main, child_dst))
		pthread_join(th, NULL);
}

struct vcpu {
	struct dest_proc *d;
	struct guest *g;
	int ms;
	pthread_t th;
	atomic_bool stop;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Reads random pages once the guest started here: in post-copy, most of
 * them fault and wait for the source. Reads only, so that the memory can
 * still be compared with the source's afterwards. */
static void *vcpu_main(void *arg)
{
	struct vcpu *v = arg;
	uint64_t s = 12345, deadline, sum = 0;

	while (!atomic_load(&v->g->resumes))
		if (atomic_load(&v->stop))
			return NULL;
		else
			usleep(100);
	deadline = mono_ms() + (uint64_t)v->ms;
	for (uint64_t n = 0; n < 1000000 && mono_ms() < deadline; n++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		sum += ((volatile uint8_t *)v->d->mem)[(s >> 20) % v->d->size];
		v->d->res->vcpu_reads++;
	}
	return (void *)(uintptr_t)sum;
}

static sigjmp_buf probe_jmp;

static void probe_fault(int sig)
{
	siglongjmp(probe_jmp, sig);
}

/* Read every page of the destination's memory: a page that never arrived
 * must fault (SIGBUS: poisoned; SIGSEGV: the fallback), never read zero. */
static void probe_memory(struct dest_proc *d)
{
	struct sigaction sa = { .sa_handler = probe_fault };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	for (volatile size_t off = 0; off < d->size; off += 4096) {
		const volatile uint64_t *w = (const volatile uint64_t *)(d->mem + off);
		uint64_t any = 0;

		int sig = sigsetjmp(probe_jmp, 1);

		if (sig) {
			if (sig == SIGBUS)
				d->res->probe_sigbus++;
			else
				d->res->probe_sigsegv++;
			continue;
		}
		for (size_t i = 0; i < 512; i++)
			any |= w[i];
		if (!any)
			d->res->probe_zero++;
	}
}

static int child_main(struct dest_proc *d, const struct dest_opts *o, int wfd)
{
	struct vmmig_dest_ops ops = guest_dest_ops;
	struct guest g = { 0 };
	struct vmmig_dest *dst;
	size_t rsize = o->region_size ? o->region_size : d->size;
	int ret;

	if (o->fail_load_state)
		ops.load_state = fail_load;
	ops.start = start_and_look;
	child_res = d->res;
	child_cancel_on_pause = o->cancel_on_pause;
	/* Page faults are expensive under shadow paging: a benchmark wants
	 * them out of the measured migration, like a VMM that preallocates. */
	if (o->prefault)
		for (size_t off = 0; off < d->size; off += 4096)
			((volatile uint8_t *)d->mem)[off] = d->mem[off];
	ret = vmmig_dest_new(&dst);
	child_dst = dst;
	if (!ret)
		ret = vmmig_dest_set_log(dst, count_errors, d->res,
					 VMMIG_LOG_DEBUG);
	if (!ret && o->uuid)
		ret = vmmig_dest_set_uuid(dst, o->uuid);
	if (!ret)
		ret = vmmig_dest_add_region(dst, 0, 0, d->mem, rsize);
	if (!ret)
		ret = vmmig_dest_set_ops(dst, &ops, &g);
	if (!ret)
		ret = vmmig_dest_set_option(dst, VMMIG_OPT_IO_TIMEOUT_MS, 5000);
	if (!ret)
		ret = vmmig_dest_set_option(dst, VMMIG_OPT_RECV_DIRECT,
					    !o->recv_staged);
	if (!ret)
		ret = vmmig_dest_set_option(dst, VMMIG_OPT_POPULATE,
					    o->populate);
	if (!ret && o->set_recovery)
		ret = vmmig_dest_set_option(dst, VMMIG_OPT_RECOVERY_TIMEOUT_MS,
					    o->recovery_ms);
	if (!ret && o->fault_cpu0)
		ret = vmmig_dest_set_option(dst, VMMIG_OPT_FAULT_CPU, 0);
	if (!ret && o->tls)
		ret = vmmig_dest_set_tls(dst, o->tls);
	if (!ret && o->accept_timeout_ms)
		ret = vmmig_dest_set_option(dst, VMMIG_OPT_ACCEPT_TIMEOUT_MS,
					    o->accept_timeout_ms);
	if (!ret && o->handshake_timeout_ms)
		ret = vmmig_dest_set_option(dst, VMMIG_OPT_HANDSHAKE_TIMEOUT_MS,
					    o->handshake_timeout_ms);
	struct vmmig_page_source *ps = NULL;
	if (!ret && o->storage)
		ret = o->slow_storage_us
			      ? slow_pagesource_new(o->storage, o->slow_storage_us,
						o->lying_pages, &ps)
			      : vmmig_page_source_new_storage(NULL, &ps);
	if (!ret && o->storage && !o->slow_storage_us)
		ret = vmmig_storage_add_object(ps, 1, o->storage);
	if (!ret && ps)
		ret = vmmig_dest_set_page_source(dst, ps);
	if (!ret)
		ret = vmmig_dest_listen(dst, o->listen, d->uri, sizeof(d->uri));
	if (!ret)
		ret = vmmig_dest_start(dst);
	if (ret) {
		d->res->ret = ret;
		(void)!write(wfd, "", 1);
		return 2;
	}
	(void)!write(wfd, d->uri, strlen(d->uri) + 1);
	struct vcpu v = { .d = d, .g = &g, .ms = o->vcpu_reads_ms };
	if (o->vcpu_reads_ms)
		pthread_create(&v.th, NULL, vcpu_main, &v);
	ret = vmmig_dest_wait(dst);
	if (o->vcpu_reads_ms) {
		atomic_store(&v.stop, true); /* if the guest never started */
		pthread_join(v.th, NULL);
	}
	d->res->ret = ret;
	d->res->started = atomic_load(&g.resumes);
	d->res->writes_loaded = atomic_load(&g.writes);
	d->res->cpu_state = g.cpu_state;
	d->res->owner = vmmig_dest_owner(dst);
	d->res->st.struct_size = sizeof(d->res->st);
	vmmig_dest_get_stats(dst, &d->res->st);
	if (vmmig_dest_error(dst))
		snprintf(d->res->error, sizeof(d->res->error), "%s",
			 vmmig_dest_error(dst));
	vmmig_dest_free(dst);
	vmmig_page_source_free(ps);
	if (o->probe_lost)
		probe_memory(d);
	return ret ? 1 : 0;
}

int dest_spawn(struct dest_proc *d, size_t size, const struct dest_opts *o)
{
	int pfd[2];
	ssize_t n;

	memset(d, 0, sizeof(*d));
	d->size = size;
	d->memfd = memfd_create("dest", MFD_CLOEXEC);
	if (d->memfd < 0 || ftruncate(d->memfd, (off_t)size))
		return -errno;
	d->mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, d->memfd,
		      0);
	d->res = mmap(NULL, sizeof(*d->res), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (d->mem == MAP_FAILED || d->res == MAP_FAILED)
		return -errno;
	if (o->fill)
		memset(d->mem, o->fill, size);
	if (pipe(pfd))
		return -errno;
	d->pid = fork();
	if (d->pid < 0)
		return -errno;
	if (d->pid == 0) {
		close(pfd[0]);
		_exit(child_main(d, o, pfd[1]));
	}
	close(pfd[1]);
	n = read(pfd[0], d->uri, sizeof(d->uri));
	close(pfd[0]);
	if (n <= 1) {
		dest_reap(d);
		return d->res->ret ? d->res->ret : -EIO;
	}
	return 0;
}

int dest_reap(struct dest_proc *d)
{
	int status;

	if (d->pid <= 0)
		return -1;
	if (waitpid(d->pid, &status, 0) < 0)
		return -1;
	d->pid = 0;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

void dest_release(struct dest_proc *d)
{
	if (d->pid > 0) {
		kill(d->pid, SIGKILL);
		dest_reap(d);
	}
	if (d->mem && d->mem != MAP_FAILED)
		munmap(d->mem, d->size);
	if (d->res && d->res != MAP_FAILED)
		munmap(d->res, sizeof(*d->res));
	if (d->memfd > 0)
		close(d->memfd);
	memset(d, 0, sizeof(*d));
}
