/* SPDX-License-Identifier: Apache-2.0 */
/* Data-driven golden tests over cmocka, with a VTPM_TEST_REGENERATE=1 switch. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "golden.h"

typedef struct {
    char test_name[200];
    vtpm_golden_case c;
    const char *expected;
    vtpm_golden_fn fn;
} golden_state;

char *
vtpm_golden_read(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, used = 0;

    if (!fp)
        return NULL;
    for (;;) {
        size_t n;

        if (cap - used < 4096) {
            char *grown = realloc(buf, cap + 65536);

            if (!grown) {
                free(buf);
                fclose(fp);
                return NULL;
            }
            buf = grown;
            cap += 65536;
        }
        n = fread(buf + used, 1, cap - used - 1, fp);
        used += n;
        if (n == 0)
            break;
    }
    fclose(fp);
    buf[used] = '\0';
    if (len)
        *len = used;
    return buf;
}

const char *
vtpm_golden_area(const char *area, char *buf, size_t size)
{
    const char *src = getenv("VTPM_TEST_SRCDIR");

    if (!src) {
        fprintf(stderr, "VTPM_TEST_SRCDIR is not set: run the tests with 'meson test'\n");
        return NULL;
    }
    snprintf(buf, size, "%s/data/%s", src, area);
    return buf;
}

static void
golden_case_test(void **state)
{
    golden_state *g = *state;
    char path[1200 + 64];
    char *actual = NULL, *expected;
    size_t actual_len = 0;
    FILE *out = open_memstream(&actual, &actual_len);
    const char *regen = getenv("VTPM_TEST_REGENERATE");

    assert_non_null(out);
    if (g->fn(&g->c, out) < 0) {
        fclose(out);
        free(actual);
        fail_msg("case '%s' could not be run", g->c.name);
        return;
    }
    fclose(out);
    snprintf(path, sizeof(path), "%s/%s", g->c.dir, g->expected);
    if (regen && strcmp(regen, "1") == 0) {
        FILE *fp = fopen(path, "w");

        assert_non_null(fp);
        fputs(actual, fp);
        assert_int_equal(fclose(fp), 0);
        print_message("# regenerated %s\n", path);
    }
    expected = vtpm_golden_read(path, NULL);
    if (!expected) {
        free(actual);
        fail_msg("cannot read '%s' (VTPM_TEST_REGENERATE=1 writes it)", path);
        return;
    }
    if (strcmp(expected, actual) != 0) {
        print_error("case %s: output differs from %s\n--- expected\n%s--- actual\n%s---\n",
                    g->c.name, path, expected, actual);
        free(expected);
        free(actual);
        fail_msg("golden mismatch in '%s' (review, then VTPM_TEST_REGENERATE=1)", g->c.name);
        return;
    }
    free(expected);
    free(actual);
}

static int
golden_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void
vtpm_tests_add(struct CMUnitTest **tests, size_t *n, const struct CMUnitTest *fixed,
               size_t count)
{
    struct CMUnitTest *grown = realloc(*tests, (*n + count) * sizeof(**tests));

    if (!grown)
        abort();
    memcpy(grown + *n, fixed, count * sizeof(*fixed));
    *tests = grown;
    *n += count;
}

int
vtpm_golden_add(struct CMUnitTest **tests, size_t *n, const char *area, const char *expected,
                vtpm_golden_fn fn)
{
    char base[512];
    DIR *d;
    struct dirent *e;
    char **names = NULL;
    size_t count = 0;

    if (!vtpm_golden_area(area, base, sizeof(base)))
        return -1;
    d = opendir(base);
    if (!d) {
        fprintf(stderr, "cannot open test data '%s'\n", base);
        return -1;
    }
    while ((e = readdir(d))) {
        char path[1024];
        struct stat st;

        snprintf(path, sizeof(path), "%s/%s", base, e->d_name);
        if (e->d_name[0] == '.' || stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        names = realloc(names, (count + 1) * sizeof(*names));
        if (!names || !(names[count] = strdup(e->d_name)))
            abort();
        count++;
    }
    closedir(d);
    if (count == 0) {
        fprintf(stderr, "no test cases in '%s'\n", base);
        free(names);
        return -1;
    }
    qsort(names, count, sizeof(*names), golden_cmp);
    for (size_t i = 0; i < count; i++) {
        golden_state *s = calloc(1, sizeof(*s));
        struct CMUnitTest t = { 0 };

        if (!s)
            abort();
        snprintf(s->test_name, sizeof(s->test_name), "%s/%s", area, names[i]);
        snprintf(s->c.name, sizeof(s->c.name), "%s", names[i]);
        snprintf(s->c.dir, sizeof(s->c.dir), "%s/%s", base, names[i]);
        s->expected = expected;
        s->fn = fn;
        t.name = s->test_name;
        t.test_func = golden_case_test;
        t.initial_state = s;
        vtpm_tests_add(tests, n, &t, 1);
        free(names[i]);
    }
    free(names);
    return 0;
}

int
vtpm_tests_run(const char *group, struct CMUnitTest *tests, size_t n)
{
    int rc = _cmocka_run_group_tests(group, tests, n, NULL, NULL);

    for (size_t i = 0; i < n; i++)
        if (tests[i].test_func == golden_case_test)
            free(tests[i].initial_state);
    free(tests);
    return rc;
}
