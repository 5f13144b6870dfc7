/* SPDX-License-Identifier: MIT */
/*
 * Corpus replay: feeds every file under the directories (or files) given
 * to the target's LLVMFuzzerTestOneInput, once. Built by gcc with the
 * normal build, so CI runs each corpus in the plain and the ASan+UBSan
 * build (meson test --suite fuzz). Exit 0, or 1 if a directory holds no
 * input (a corpus lost is a test lost).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long len;

	if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET)) {
		perror(path);
		return -1;
	}
	buf = malloc(len ? (size_t)len : 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		perror(path);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		struct dirent **ents;
		struct stat st;
		int n, ran = 0;

		if (stat(argv[i], &st)) {
			perror(argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (run_file(argv[i]))
				return 1;
			continue;
		}
		n = scandir(argv[i], &ents, NULL, alphasort);
		if (n < 0) {
			perror(argv[i]);
			return 1;
		}
		for (int j = 0; j < n; j++) {
			char path[4096];

			snprintf(path, sizeof(path), "%s/%s", argv[i],
				 ents[j]->d_name);
			if (ents[j]->d_name[0] != '.' && !stat(path, &st) &&
			    S_ISREG(st.st_mode)) {
				if (run_file(path))
					return 1;
				ran++;
			}
			free(ents[j]);
		}
		free(ents);
		printf("%s: %d inputs replayed\n", argv[i], ran);
		if (!ran)
			return 1;
	}
	return 0;
}
