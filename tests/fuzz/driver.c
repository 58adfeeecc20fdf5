/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Corpus replay for builds without libFuzzer: runs LLVMFuzzerTestOneInput on every file named
 * on the command line (directories are walked one level), so every build exercises each fuzz
 * target on its seed corpus and on every crash found earlier.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* fuzz_cstr() is in driver_fuzz.c, shared with the libFuzzer builds. */

static int run_file(const char *path)
{
        FILE *f = fopen(path, "rb");
        unsigned char *buf;
        long n;

        if (!f)
                return -1;
        if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
                (void)fclose(f);
                return -1;
        }
        buf = malloc((size_t)n + 1);
        if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
                free(buf);
                (void)fclose(f);
                return -1;
        }
        (void)fclose(f);
        (void)LLVMFuzzerTestOneInput(buf, (size_t)n);
        free(buf);
        return 0;
}

int main(int argc, char **argv)
{
        int files = 0;

        for (int i = 1; i < argc; i++) {
                struct stat st;
                DIR *d;
                struct dirent *e;

                if (stat(argv[i], &st) < 0)
                        return 1;
                if (!S_ISDIR(st.st_mode)) {
                        if (run_file(argv[i]) < 0)
                                return 1;
                        files++;
                        continue;
                }
                d = opendir(argv[i]);
                if (!d)
                        return 1;
                /* NOLINTNEXTLINE(concurrency-mt-unsafe): single-threaded replay */
                while ((e = readdir(d)) != NULL) {
                        char path[4096];

                        if (e->d_name[0] == '.')
                                continue;
                        (void)snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
                        if (run_file(path) < 0) {
                                (void)closedir(d);
                                return 1;
                        }
                        files++;
                }
                (void)closedir(d);
        }
        (void)printf("replayed %d inputs\n", files);
        return files > 0 ? 0 : 1;
}
