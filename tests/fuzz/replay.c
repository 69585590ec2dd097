/* SPDX-License-Identifier: Apache-2.0 */
/* Replays a fuzzer's corpus through its LLVMFuzzerTestOneInput as an ordinary TAP test. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int
replay_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static unsigned char *
replay_read(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    unsigned char *buf;
    struct stat st;

    if (!fp)
        return NULL;
    if (fstat(fileno(fp), &st) != 0 || !(buf = malloc((size_t)st.st_size + 1))) {
        fclose(fp);
        return NULL;
    }
    *len = fread(buf, 1, (size_t)st.st_size, fp);
    fclose(fp);
    return buf;
}

int
main(int argc, char **argv)
{
    char **names = NULL;
    size_t n = 0;
    DIR *d;
    struct dirent *e;
    int failed = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    d = opendir(argv[1]);
    if (!d) {
        printf("1..1\nnot ok 1 - cannot open corpus '%s'\n", argv[1]);
        return 1;
    }
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        names = realloc(names, (n + 1) * sizeof(*names));
        if (!names || !(names[n] = strdup(e->d_name)))
            abort();
        n++;
    }
    closedir(d);
    if (n == 0) {
        printf("1..1\nnot ok 1 - corpus '%s' is empty\n", argv[1]);
        return 1;
    }
    qsort(names, n, sizeof(*names), replay_cmp);
    printf("1..%zu\n", n);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        unsigned char *data;
        size_t len = 0;

        snprintf(path, sizeof(path), "%s/%s", argv[1], names[i]);
        data = replay_read(path, &len);
        if (!data) {
            printf("not ok %zu - %s: cannot read\n", i + 1, names[i]);
            failed = 1;
        } else {
            /* a crash or a sanitizer report ends the program: the test fails */
            LLVMFuzzerTestOneInput(data, len);
            printf("ok %zu - %s (%zu bytes)\n", i + 1, names[i], len);
        }
        fflush(stdout);
        free(data);
        free(names[i]);
    }
    free(names);
    return failed;
}
