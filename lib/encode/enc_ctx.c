/* SPDX-License-Identifier: MIT */
/* The per-channel encoder context: zstd compressor, its effort, and the
 * delta cache. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <vmmig/session.h>

#include "encode.h"

int enc_ctx_new(const struct enc_config *cfg, struct enc_ctx **out)
{
	struct enc_ctx *e;
	int ret;

	*out = NULL;
	if (!cfg || (cfg->compression != VMMIG_COMPRESS_NONE &&
		     cfg->compression != VMMIG_COMPRESS_ZSTD))
		return -EINVAL;
	if (cfg->compression == VMMIG_COMPRESS_ZSTD &&
	    (cfg->zstd_level < ZSTD_minCLevel() ||
	     cfg->zstd_level > ZSTD_maxCLevel()))
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->cfg = *cfg;
	e->sched_fd = -1;
	enc_adapt_init(&e->adapt);
	if (!cfg->zstd_adaptive) {
		/* Every page: no sends feed the effort. */
		e->adapt.level = ENC_ADAPT_LEVELS;
		e->adapt.effort = ENC_ADAPT_ONE;
	}
	if (cfg->compression == VMMIG_COMPRESS_ZSTD) {
		ret = -ENOMEM;
		e->zc = zpage_cctx_new(cfg->zstd_level);
		e->run_cap = ZSTD_compressBound(ENC_RUN_MAX * ENC_PAGE);
		e->run_buf = malloc(e->run_cap);
		if (!e->zc || !e->run_buf)
			goto fail;
	}
	/* Less than one page of cache means no cache (delta off). */
	if (cfg->delta_cache_bytes >= ENC_PAGE) {
		ret = dcache_new(cfg->delta_cache_bytes, &e->cache);
		if (ret < 0)
			goto fail;
	}
	*out = e;
	return 0;
fail:
	enc_ctx_free(e);
	return ret;
}

void enc_ctx_free(struct enc_ctx *e)
{
	if (!e)
		return;
	ZSTD_freeCCtx(e->zc);
	free(e->run_buf);
	dcache_free(e->cache);
	if (e->sched_fd >= 0)
		close(e->sched_fd);
	free(e);
}

void enc_ctx_set_first_send(struct enc_ctx *e, bool on)
{
	if (e)
		e->first_send = on;
}

void enc_ctx_drop_cache(struct enc_ctx *e)
{
	if (!e)
		return;
	dcache_free(e->cache);
	e->cache = NULL;
}
