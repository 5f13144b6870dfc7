/* SPDX-License-Identifier: MIT */
#include "bench_dest.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"

static int on_start(void *opaque)
{
	*(int *)opaque = 1;
	return 0;
}

static const struct vmmig_dest_ops dest_ops = {
	.version = VMMIG_DEST_OPS_VERSION,
	.start = on_start,
};

static int child_main(struct dest_child *d, size_t size, enum prefault pf,
		      int recv_staged, int wfd,
		      const struct vmmig_tls_config *tls)
{
	struct dest_result *r = d->res;
	struct vmmig_dest *dst = NULL;
	uint8_t *mem;
	double cpu0;
	int ret;

	/* Mapped here, after the fork: a new host's memory is fresh. */
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED) {
		r->ret = -errno;
		goto out;
	}
	if (pf != PREFAULT_NONE) {
		double t0 = bench_now_s();

		bench_prefault(mem, size);
		if (pf == PREFAULT_KERNEL && (ret = bench_prefault_kernel(mem,
									 size))) {
			r->ret = ret;
			goto out;
		}
		r->prefault_s = bench_now_s() - t0;
	}
	ret = vmmig_dest_new(&dst);
	if (!ret)
		ret = vmmig_dest_add_region(dst, 0, 0, mem, size);
	if (!ret)
		ret = vmmig_dest_set_ops(dst, &dest_ops, &r->started);
	if (!ret)
		ret = vmmig_dest_set_option(dst, VMMIG_OPT_RECV_DIRECT,
					    !recv_staged);
	if (!ret && tls)
		ret = vmmig_dest_set_tls(dst, tls);
	if (!ret)
		ret = vmmig_dest_listen(dst, "tcp:127.0.0.1:0", d->uri,
					sizeof(d->uri));
	if (!ret)
		ret = bench_peak_reset();
	r->rss_before = bench_status_bytes("VmRSS");
	cpu0 = bench_cpu_s();
	if (!ret)
		ret = vmmig_dest_start(dst);
	if (ret) {
		r->ret = ret;
		goto out;
	}
	(void)!write(wfd, d->uri, strlen(d->uri) + 1);
	r->ret = vmmig_dest_wait(dst);
	r->cpu_s = bench_cpu_s() - cpu0;
	r->peak_rss = bench_status_bytes("VmHWM");
	r->st.struct_size = sizeof(r->st);
	vmmig_dest_get_stats(dst, &r->st);
	if (vmmig_dest_error(dst))
		snprintf(r->error, sizeof(r->error), "%s",
			 vmmig_dest_error(dst));
	/* After the measured part: reading it all is not free here. */
	if (!r->ret)
		r->hash = bench_hash(mem, size);
out:
	vmmig_dest_free(dst);
	if (r->ret && !r->error[0])
		snprintf(r->error, sizeof(r->error), "%s",
			 vmmig_strerror(r->ret));
	return r->ret ? 1 : 0;
}

int dest_child_spawn(struct dest_child *d, size_t size, enum prefault pf,
		     int recv_staged, const struct vmmig_tls_config *tls)
{
	int pfd[2];
	ssize_t n;

	memset(d, 0, sizeof(*d));
	d->res = mmap(NULL, sizeof(*d->res), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (d->res == MAP_FAILED) {
		d->res = NULL;
		return -errno;
	}
	if (pipe2(pfd, O_CLOEXEC))
		return -errno;
	d->pid = fork();
	if (d->pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -errno;
	}
	if (d->pid == 0) {
		close(pfd[0]);
		_exit(child_main(d, size, pf, recv_staged, pfd[1], tls));
	}
	close(pfd[1]);
	n = read(pfd[0], d->uri, sizeof(d->uri));
	close(pfd[0]);
	if (n <= 1) {
		dest_child_reap(d);
		return d->res->ret ? d->res->ret : -EIO;
	}
	return 0;
}

int dest_child_reap(struct dest_child *d)
{
	int status;

	if (d->pid <= 0)
		return -1;
	while (waitpid(d->pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	d->pid = 0;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

void dest_child_release(struct dest_child *d)
{
	if (d->pid > 0) {
		kill(d->pid, SIGKILL);
		dest_child_reap(d);
	}
	if (d->res)
		munmap(d->res, sizeof(*d->res));
	memset(d, 0, sizeof(*d));
}
