/* SPDX-License-Identifier: MIT */
/* toyvmm dest: an empty VM that receives a guest and runs it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dbcache_vmm.h"

struct dest_ctx {
	struct toyvm *vm;
	atomic_bool started;   /* start() ran the guest */
};

static int check_header(struct toyvm *vm, const void *data, size_t len)
{
	struct blob_header h;

	if (len != sizeof(h))
		return -EINVAL;
	memcpy(&h, data, len);
	if (h.magic != TOY_MAGIC || h.mem_size != vm->mem_size ||
	    h.nvcpus == 0 || h.nvcpus > TOY_MAX_VCPUS ||
	    (h.flags & ~BLOB_HDR_DIRTY_RING))
		return -EINVAL;
	if (strncmp(h.backend, vm->ops->name, sizeof(h.backend))) {
		fprintf(stderr, "toyvmm: the source runs a %.16s guest, this "
			"destination a %s one (use --backend)\n", h.backend,
			vm->ops->name);
		return -EPROTO;
	}
	vm->nvcpus = h.nvcpus;
	vm->dirty_ring = h.flags & BLOB_HDR_DIRTY_RING;
	vm->kind = h.kind;
	vm->header_seen = true;
	return 0;
}

static int dst_load(void *opaque, uint32_t id, const void *data, size_t len)
{
	struct dest_ctx *c = opaque;

	if (id == BLOB_HEADER)
		return check_header(c->vm, data, len);
	if (!c->vm->header_seen)
		return -EPROTO;
	return c->vm->ops->load(c->vm, id, data, len);
}

static int dst_start(void *opaque)
{
	struct dest_ctx *c = opaque;
	int ret;

	if (!c->vm->header_seen)
		return -EPROTO;
	/* No guest memory access here: after a post-copy switch most pages
	 * are still at the source, and this runs on the library's receiving
	 * thread. The guest's own thread notes the heartbeat it starts from
	 * (toyvm__note_start) and waits for that page like any other. */
	ret = c->vm->ops->start(c->vm);
	if (!ret)
		atomic_store(&c->started, true);
	return ret;
}

static const struct vmmig_dest_ops dest_ops = {
	.version = VMMIG_DEST_OPS_VERSION,
	.load_state = dst_load,
	.start = dst_start,
};

static int dst_stats(void *obj, struct vmmig_stats *st)
{
	return vmmig_dest_get_stats(obj, st);
}

static int publish_uri(const char *path, const char *uri)
{
	char tmp[4096];
	FILE *f;

	/* Write then rename: a reader polling for the file sees all of it. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "%s\n", uri);
	if (fclose(f) || rename(tmp, path))
		return -errno;
	return 0;
}

int migrate__dest(const struct opts *o)
{
	struct toyvm vm;
	struct dest_ctx ctx = { .vm = &vm };
	struct vmmig_dest *dst = NULL;
	struct vmmig_page_source *ps = NULL; /* --storage: cache-restore */
	struct dbcache_report dr = { 0 };
	char extra[1024];
	struct progress prog;
	struct report r = { .role = "dest", .workload = "-", .mode = "-" };
	char uri[512], bound[512];
	int ret, code = 2;

	ret = toyvm__setup(&vm, o, false);
	if (ret)
		goto out;
	r.backend = vm.ops->name;
	if (!strncmp(o->listen, "tcp:", 4) || !strncmp(o->listen, "unix:", 5))
		snprintf(uri, sizeof(uri), "%s", o->listen);
	else
		snprintf(uri, sizeof(uri), "tcp:%s", o->listen);
	ret = vmmig_dest_new(&dst);
	if (!ret)
		ret = vmmig_dest_add_region(dst, 0, 0, vm.mem, vm.mem_size);
	if (!ret)
		ret = vmmig_dest_set_ops(dst, &dest_ops, &ctx);
	if (!ret && o->recovery_ms >= 0)
		ret = vmmig_dest_set_option(dst, VMMIG_OPT_RECOVERY_TIMEOUT_MS,
					    o->recovery_ms);
	if (!ret && o->io_timeout_ms >= 0)
		ret = vmmig_dest_set_option(dst, VMMIG_OPT_IO_TIMEOUT_MS,
					    o->io_timeout_ms);
	if (!ret)
		ret = vmmig_dest_set_option(dst, VMMIG_OPT_FAULT_CPU,
					    o->fault_cpu);
	if (!ret && o->recv_direct >= 0)
		ret = vmmig_dest_set_option(dst, VMMIG_OPT_RECV_DIRECT,
					    o->recv_direct);
	if (!ret && o->storage)
		ret = dbcache__dest_storage(dst, o->storage, &ps);
	if (!ret && o->handshake_ms >= 0)
		ret = vmmig_dest_set_option(dst, VMMIG_OPT_HANDSHAKE_TIMEOUT_MS,
					    o->handshake_ms);
	if (!ret && o->accept_ms >= 0)
		ret = vmmig_dest_set_option(dst, VMMIG_OPT_ACCEPT_TIMEOUT_MS,
					    o->accept_ms);
	struct vmmig_tls_config tls;
	if (!ret && tls__config(o, &tls))
		ret = vmmig_dest_set_tls(dst, &tls);
	if (!ret)
		ret = vmmig_dest_listen(dst, uri, bound, sizeof(bound));
	if (!ret)
		ret = vmmig_dest_start(dst);
	if (ret) {
		fprintf(stderr, "toyvmm: dest on %s: %s\n", uri,
			vmmig_strerror(ret));
		goto out;
	}
	printf("listening on %s\n", bound);
	fflush(stdout);
	if (o->uri_file && publish_uri(o->uri_file, bound))
		fprintf(stderr, "toyvmm: can't write %s\n", o->uri_file);

	progress__start(&prog, o, "dest", dst_stats, dst, &vm);
	r.result = vmmig_dest_wait(dst);
	progress__stop(&prog);
	r.error = vmmig_dest_error(dst);
	r.st.struct_size = sizeof(r.st);
	vmmig_dest_get_stats(dst, &r.st);
	/* The guest thread notes its first heartbeat as it starts; give it a
	 * moment (bounded) if it has not got that far yet. */
	for (int i = 0; i < 200 && atomic_load(&ctx.started) &&
	     !atomic_load(&vm.here); i++)
		sleep_ms(5);
	if (atomic_load(&vm.here)) {
		r.nvcpus = vm.nvcpus;
		memcpy(r.hb_start_v, vm.hb_at_start, sizeof(r.hb_start_v));
		for (unsigned i = 0; i < vm.nvcpus; i++)
			r.hb_start += vm.hb_at_start[i];
	}
	if (vm.header_seen && vm.kind >= WL_IDLE && vm.kind <= WL_CRASH)
		r.workload = (const char *[]){ "idle", "memwrite", "matmul",
					      "refresh", "dbcache", "crash" }
			[vm.kind - WL_IDLE];
	/* A guest that died here runs no more: stop watching it early. */
	for (unsigned t = 0; atomic_load(&ctx.started) && t < o->run_after_ms &&
	     !vm.ops->health(&vm); t += 20)
		sleep_ms(o->run_after_ms - t < 20 ? o->run_after_ms - t : 20);
	/* Guest memory is only ours to read once the guest ran here. */
	if (atomic_load(&vm.here)) {
		r.hb_end = toyvm__heartbeat(&vm);
		toyvm__heartbeats(&vm, r.hb_end_v);
	}
	r.guest_error = vm.ops->health(&vm);
	if (atomic_load(&vm.here) && vm.kind == WL_DBCACHE)
		dbcache__guest_report(&vm, &dr);
	if (ps || vm.kind == WL_DBCACHE) {
		if (dbcache__json(extra, sizeof(extra), &dr, ps) > 0)
			r.extra_json = extra;
	}
	report__print(&r);
	if (ps || vm.kind == WL_DBCACHE)
		dbcache__print("dest", &dr, ps);
	if (o->json && report__json(&r, o->json))
		fprintf(stderr, "toyvmm: can't write %s\n", o->json);
	code = r.guest_error ? EXIT_GUEST_DIED : r.result ? 1 : 0;
out:
	vmmig_dest_free(dst);
	vmmig_page_source_free(ps); /* borrowed by the session: after it */
	toyvm__teardown(&vm);
	return code;
}
