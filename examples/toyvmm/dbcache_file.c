/* SPDX-License-Identifier: MIT */
/*
 * The dbcache data file on the "shared storage" directory and the pool's
 * initial fill from it (the VMM plays the DBMS's start-up reads: the toy
 * guest does no I/O of its own).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbcache_vmm.h"

#define CHUNK_BLOCKS 256u /* 1 MiB per write */

int dbcache__path(const char *dir, char *path, size_t len)
{
	int n = snprintf(path, len, "%s/%s", dir, DB_FILE_NAME);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Every byte of [@off, @off + @len) of @fd, read into or written from
 * @buf (short transfers and EINTR retried). */
static int pio_all(int fd, void *buf, size_t len, off_t off, bool write)
{
	char *p = buf;

	while (len) {
		ssize_t n = write ? pwrite(fd, p, len, off)
				  : pread(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* Blocks [@from, @nblocks) of the file open at @fd. */
static int write_blocks(int fd, uint64_t from, uint64_t nblocks)
{
	uint64_t *buf = malloc(CHUNK_BLOCKS * DB_PAGE);
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	for (uint64_t b = from; b < nblocks && !ret; b += CHUNK_BLOCKS) {
		uint64_t n = nblocks - b < CHUNK_BLOCKS ? nblocks - b :
			     CHUNK_BLOCKS;

		for (uint64_t i = 0; i < n; i++)
			db_block_fill(buf + i * (DB_PAGE / 8), b + i);
		ret = pio_all(fd, buf, n * DB_PAGE, (off_t)(b * DB_PAGE), true);
	}
	free(buf);
	return ret;
}

/* Written under a temporary name and renamed, so that a reader (another
 * toyvmm, the destination) never sees half a file. */
static int create(const char *path, uint64_t nblocks)
{
	char tmp[4200];
	int fd, ret;

	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	ret = write_blocks(fd, 0, nblocks);
	if (!ret && close(fd))
		ret = -errno;
	else if (ret)
		close(fd);
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (ret)
		unlink(tmp);
	return ret;
}

/* A file made for a smaller pool: append the missing blocks. Contents are
 * a function of the block number, so the blocks already there stay valid
 * for anyone reading them meanwhile. */
static int extend(const char *path, uint64_t have, uint64_t nblocks)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = write_blocks(fd, have, nblocks);
	if (close(fd) && !ret)
		ret = -errno;
	return ret;
}

int dbcache__datafile(const char *dir, uint64_t nblocks)
{
	char path[4096];
	struct stat st;
	int ret = dbcache__path(dir, path, sizeof(path));

	if (ret)
		return ret;
	if (stat(path, &st) == 0)
		return (uint64_t)st.st_size >= nblocks * DB_PAGE ? 0 :
		       extend(path, (uint64_t)st.st_size / DB_PAGE, nblocks);
	if (errno != ENOENT)
		return -errno;
	return create(path, nblocks);
}

int dbcache__fill(struct toyvm *vm, const char *dir, uint32_t arg)
{
	struct db_layout l;
	char path[4096];
	int fd, ret;

	if (db_layout(vm->mem_size, arg, &l))
		return -EINVAL;
	ret = dbcache__datafile(dir, l.nframes);
	if (!ret)
		ret = dbcache__path(dir, path, sizeof(path));
	if (ret)
		return ret;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* Extent by extent, in the pool's (permuted) order. */
	for (uint64_t e = 0; e < l.nextents && !ret; e++) {
		uint64_t frame = e * DB_EXTENT_PAGES;

		ret = pio_all(fd, vm->mem + l.pool_gpa + frame * DB_PAGE,
			      DB_EXTENT,
			      (off_t)(db_block_of(&l, frame) * DB_PAGE), false);
	}
	close(fd);
	return ret;
}
