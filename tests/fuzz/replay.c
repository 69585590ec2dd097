/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Replays a fuzzer's corpus as an ordinary TAP test: each input's outcome must
 * be valid, the same when the input is given twice, and what the input's name
 * says: "bad-" and "error-" inputs are refused, "good-" inputs accepted.
 */
#include <dirent.h>
#include <stdbool.h>
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

/* NULL when the input's outcome is right, or why it is not (in @why). */
static const char *
replay_judge(const char *name, const unsigned char *data, size_t len, char *why, size_t whylen)
{
    static char first[4096], second[4096];
    bool refused;

    if (!vtpm_fuzz_outcome(data, len, first, sizeof(first)))
        return first;
    if (!vtpm_fuzz_outcome(data, len, second, sizeof(second)))
        return second;
    if (strcmp(first, second) != 0) {
        snprintf(why, whylen, "not stable: '%s' then '%s'", first, second);
        return why;
    }
    refused = strncmp(first, "error", 5) == 0;
    if (!refused && strncmp(first, "ok", 2) != 0) {
        snprintf(why, whylen, "neither ok nor error: '%s'", first);
        return why;
    }
    if (!refused && (strncmp(name, "bad-", 4) == 0 || strncmp(name, "error-", 6) == 0)) {
        snprintf(why, whylen, "accepted: '%s'", first);
        return why;
    }
    if (refused && strncmp(name, "good-", 5) == 0) {
        snprintf(why, whylen, "refused: '%s'", first);
        return why;
    }
    return NULL;
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
            char why[8192];
            /* a crash, a trap or a sanitizer report ends the program: the test fails */
            const char *wrong = replay_judge(names[i], data, len, why, sizeof(why));

            if (wrong) {
                printf("not ok %zu - %s: %s\n", i + 1, names[i], wrong);
                failed = 1;
            } else {
                printf("ok %zu - %s (%zu bytes)\n", i + 1, names[i], len);
            }
        }
        fflush(stdout);
        free(data);
        free(names[i]);
    }
    free(names);
    return failed;
}
