/* SPDX-License-Identifier: Apache-2.0 */
/* Data-driven golden tests: one folder per case, input and expected output side by side. */
#ifndef VTPM_TEST_GOLDEN_H
#define VTPM_TEST_GOLDEN_H

#include <stddef.h>
#include <stdio.h>

/* One case: a folder under tests/data/<area>/. */
typedef struct {
    char name[128];   /* the folder name */
    char dir[1024];   /* its full path */
} vtpm_golden_case;

/*
 * Produces the actual output of a case into @out (an open memory stream).
 * Returns 0, or -1 when the case cannot even be run (a broken test).
 */
typedef int (*vtpm_golden_fn)(const vtpm_golden_case *c, FILE *out);

/* Returns a new NUL-terminated copy of @path (free()), or NULL; *@len is its size. */
char *vtpm_golden_read(const char *path, size_t *len);

/* $VTPM_TEST_SRCDIR/data/@area, or NULL after a cmocka failure message. */
const char *vtpm_golden_area(const char *area, char *buf, size_t size);

struct CMUnitTest;

/*
 * Appends one cmocka test per case folder of tests/data/@area (sorted) to
 * *@tests (*@n entries; grown with realloc). Each test is named
 * "@area/<folder>"; it compares @fn's output with the case's @expected file,
 * or writes that file when VTPM_TEST_REGENERATE=1. Returns 0, or -1 when the
 * area is missing or empty (a message is printed).
 */
int vtpm_golden_add(struct CMUnitTest **tests, size_t *n, const char *area,
                    const char *expected, vtpm_golden_fn fn);

/* Appends @count fixed tests to *@tests. */
void vtpm_tests_add(struct CMUnitTest **tests, size_t *n, const struct CMUnitTest *fixed,
                    size_t count);

/* Runs *@tests as one cmocka group (one TAP plan), then frees them. */
int vtpm_tests_run(const char *group, struct CMUnitTest *tests, size_t n);

#endif /* VTPM_TEST_GOLDEN_H */
