/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the filter tests: data files, golden cases, in-process CLI runs, spawning. */
#ifndef VTPM_TESTS_FILTER_TESTUTIL_H
#define VTPM_TESTS_FILTER_TESTUTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>

#include <cmocka.h>
#include <jansson.h>

#include <vtpm/filter.h>

#include "filter-priv.h"

/* $VTPM_TEST_SRCDIR (tests/ in the source tree); fails the test when unset. */
const char *vt_srcdir(void);

/* True when VTPM_TEST_REGENERATE=1: golden tests rewrite their expectations. */
bool vt_regenerate(void);

/* Returns a new string "@dir/@name" (free with free). */
char *vt_path(const char *dir, const char *name);

/*
 * Reads all of @path into a new NUL-terminated buffer; *@len (may be NULL)
 * gets its length. Returns NULL when the file does not exist; fails the test
 * on any other error.
 */
char *vt_file_read(const char *path, size_t *len);

/* Writes @len bytes of @data to @path, replacing it; fails the test on error. */
void vt_file_write(const char *path, const char *data, size_t len);

/*
 * Lists the entries of @dir whose names end in @suffix ("" for all but "."
 * and ".."), sorted. Returns a NULL-terminated array (free with
 * vt_strv_free); *@n gets the count.
 */
char **vt_dir_list(const char *dir, const char *suffix, size_t *n);
void vt_strv_free(char **v);

/* A fresh private directory under $TMPDIR (free the name, vt_tmpdir_remove the tree). */
char *vt_tmpdir_new(void);
void vt_tmpdir_remove(const char *dir);

/* Replaces every occurrence of @from in @s (a malloc'd string) by @to. */
char *vt_str_replace(char *s, const char *from, const char *to);

/* What an in-process run of vtpm-filter printed. */
typedef struct {
    int status;
    char *out;
    size_t out_len;
    char *err;
    size_t err_len;
} vt_run;

/* Runs vtpm_filter_cli_main with the NULL-terminated @argv (argv[0] included). */
void vt_cli_run(const char *const *argv, vt_run *run);
void vt_run_clear(vt_run *run);

/*
 * Spawns @argv (no shell) with @env_extra ("NAME=value" entries, NULL-
 * terminated, may be NULL) added to the environment, capturing stdout and
 * stderr. Returns the exit status, or -1 - signal when killed by a signal.
 * Fails the test when the program cannot be started.
 */
int vt_spawn(const char *const *argv, const char *const *env_extra, vt_run *run);

/* Asserts that @actual equals @expected, printing both on a mismatch. */
void vt_assert_json_equal(json_t *actual, json_t *expected, const char *what);

/* ---- Golden JSONL cases ------------------------------------------------ */

/*
 * One case of a golden JSONL file: a JSON object per line with at least
 * "name" and "expect". A test fills @actual; in regenerate mode the file's
 * "expect" members are replaced by the actuals when the group ends.
 */
typedef struct vt_case vt_case;
typedef struct vt_suite vt_suite;

struct vt_case {
    vt_suite *suite;
    char *file;     /* the JSONL file (full path) */
    int line;       /* 1-based line in the file */
    char *name;     /* "file-stem/case-name" */
    json_t *doc;    /* the case (owned) */
    json_t *actual; /* set by the test (owned) */
};

struct vt_suite {
    vt_case *cases;
    size_t n;
    struct CMUnitTest *tests;
};

/*
 * Loads every *.jsonl file of $VTPM_TEST_SRCDIR/data/@area and makes one
 * cmocka test per line, run by @fn with the vt_case as state.
 */
void vt_suite_load(vt_suite *suite, const char *area, CMUnitTestFunction fn);

/*
 * Runs the suite's tests (plus @extra, @n_extra ordinary tests first), then
 * in regenerate mode rewrites the files. Returns cmocka's failure count.
 */
int vt_suite_run(vt_suite *suite, const char *group,
                 const struct CMUnitTest *extra, size_t n_extra);
void vt_suite_free(vt_suite *suite);

/*
 * Compares @c->actual with the case's "expect" (or records it in
 * regenerate mode). Takes ownership of @actual.
 */
void vt_case_check(vt_case *c, json_t *actual);

/* Member helpers for cases. */
const char *vt_case_string(vt_case *c, const char *key, const char *dflt);
bool vt_case_bool(vt_case *c, const char *key, bool dflt);

/* Dumps @j compactly as a new string (free with free). */
char *vt_json_text(const json_t *j);

/* ---- Filter helpers ---------------------------------------------------- */

/* The trait names of @set in trait order, as a new JSON array. */
json_t *vt_traits_json(vtpm_traitset set);

/* @res as the CLI's check output object (new reference). */
json_t *vt_result_json(const vtpm_result *res);

/* A new filter for the case's "profile" (default current) and "strict" (default false). */
vtpm_filter *vt_case_filter(vt_case *c);

/*
 * Fills @req from the request JSON @doc by calling vtpm_request_set_* for
 * every string or null member of flavor.extra_specs and image.properties,
 * without going through the library's JSON reader.
 */
void vt_request_fill_direct(vtpm_request *req, json_t *doc);

/*
 * Writes @doc to a temporary file in @dir named @name and returns its path
 * (free with free).
 */
char *vt_json_file(const char *dir, const char *name, json_t *doc);

#endif
