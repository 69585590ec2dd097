/* SPDX-License-Identifier: Apache-2.0 */
/* Checks the Placement tests share: reports, publishes, captured stderr, fixture and reporter runs. */
#ifndef VTPM_TEST_PLACEMENT_HARNESS_H
#define VTPM_TEST_PLACEMENT_HARNESS_H

#include <stddef.h>

#include "placement.h"

/* Fills @r for @host: the traits in @present present, every other managed trait absent. */
void vtpm_test_report_init(vtpm_report *r, const char *host, vtpm_traitset present);

/*
 * Publishes @present for @host once through a fresh client made from @conf
 * and frees it; fails the test when the client cannot be made.
 */
vtpm_publish_status vtpm_test_publish_once(const vtpm_placement_conf *conf, const char *host,
                                           vtpm_traitset present, vtpm_publish_result *res);

/*
 * Fills @conf for Keystone password auth as the fixture's admin user
 * (keystone.sh: user and project "admin") to Placement at @url, creating
 * the provider. The strings are borrowed.
 */
void vtpm_test_password_conf(vtpm_placement_conf *conf, const char *url, const char *auth_url,
                             const char *password);

/* One vtpm_test_publish_once() with its outcome, to run through a void *. */
typedef struct {
    const vtpm_placement_conf *conf;
    const char *host;
    vtpm_traitset present;
    vtpm_publish_result res;
    vtpm_publish_status status;
} vtpm_test_publish_call;

/* Runs vtpm_test_publish_once() for @call, a vtpm_test_publish_call. */
void vtpm_test_publish_call_run(void *call);

/* Fails the test, showing the whole of @text, when @text lacks @needle. */
void vtpm_test_assert_has(const char *text, const char *needle);

/* Runs @fn(@opaque) with stderr sent to a file; returns what was written (free it). */
char *vtpm_test_capture_stderr(void (*fn)(void *), void *opaque);

/*
 * Runs the fixture script @script (relative to the source root) as
 * `script CMD DIR [A [B]]`; its first line of stdout into @line (may be
 * NULL). Returns its exit status, or -1.
 */
int vtpm_test_fixture(const char *script, const char *cmd, const char *dir, const char *a,
                      const char *b, char *line, size_t len);

/* One `vtpm-reporter run`: what to run it on, and what it did. */
typedef struct {
    const char *dir;          /* where the config file and its lock go */
    const char *config;       /* the YAML text */
    char line[512];           /* first line of stdout */
    int status;               /* exit status, -1 when it did not run */
} vtpm_test_reporter_call;

/*
 * Writes call->config to call->dir/reporter.yaml and runs the built
 * `vtpm-reporter run --no-delay --config` on it. @call is a
 * vtpm_test_reporter_call (void * to suit vtpm_test_capture_stderr()).
 */
void vtpm_test_reporter_call_run(void *call);

#endif /* VTPM_TEST_PLACEMENT_HARNESS_H */
