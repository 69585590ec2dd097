/* SPDX-License-Identifier: Apache-2.0 */
/* reporter/core/state.c: the heartbeat decision, the records' files and the state folder. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "file.h"
#include "report_fixture.h"
#include "state.h"

static char dir[64];

static const vtpm_state_target pg_target = { "postgres", "dbname=vtpm" };
static const vtpm_state_target both_targets[] = {
    { "postgres", "dbname=vtpm" },
    { "placement", "http://127.0.0.1/placement provider h" },
};

/* A record of @r published to @targets at @when, read back as a run reads it. */
static json_t *
record(const vtpm_report *r, const vtpm_state_target *targets, size_t n, time_t when)
{
    char err[256], why[256];
    bool absent;
    json_t *doc;

    assert_int_equal(vtpm_state_published_write(dir, r, targets, n, when, err, sizeof(err)), 0);
    doc = vtpm_state_published_load(dir, &absent, why, sizeof(why));
    assert_non_null(doc);
    return doc;
}

/* Whether @r may skip at @now against @doc; @want in the reason. */
static void
assert_fresh(const json_t *doc, const vtpm_report *r, const vtpm_state_target *targets,
             size_t n, time_t now, bool fresh, const char *want)
{
    char why[256];

    assert_int_equal(vtpm_state_published_fresh(doc, r, targets, n, 300, now, why, sizeof(why)),
                     fresh);
    if (!strstr(why, want))
        fail_msg("'%s' lacks '%s'", why, want);
}

static void
test_state_heartbeat_decision(void **state)
{
    vtpm_report r, other;
    json_t *doc;
    char why[128];

    (void)state;
    vtpm_test_report_init(&r, "h", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0));
    doc = record(&r, &pg_target, 1, 1000);
    assert_fresh(doc, &r, &pg_target, 1, 1299, true, "published 299 s ago");
    assert_fresh(doc, &r, &pg_target, 1, 1300, false, "last published 300 s ago");
    assert_fresh(doc, &r, &pg_target, 1, 999, false, "in the future");
    assert_fresh(NULL, &r, &pg_target, 1, 1001, false, "no successful publish");
    assert_fresh(doc, &r, both_targets, 2, 1001, false, "no publish to placement");
    {
        vtpm_state_target moved = { "postgres", "dbname=elsewhere" };

        assert_fresh(doc, &r, &moved, 1, 1001, false, "postgres inventory changed");
    }
    other = r;
    vtpm_strfmt(other.host, sizeof(other.host), "h2");
    assert_fresh(doc, &other, &pg_target, 1, 1001, false, "host or provider changed");
    other = r;
    vtpm_strfmt(other.provider_uuid, sizeof(other.provider_uuid),
                "0b3e1f5a-7c55-4c1e-9a57-3b1f0e6f1a11");
    assert_fresh(doc, &other, &pg_target, 1, 1001, false, "host or provider changed");
    other = r;
    other.traits[VTPM_TRAIT_TPM_1_2].state = VTPM_TRAIT_STATE_PRESENT;
    assert_fresh(doc, &other, &pg_target, 1, 1001, false, "traits or reasons changed");
    other = r;
    other.traits[VTPM_TRAIT_TPM_1_2].reason_code = "swtpm_no_tpm_1_2";
    assert_fresh(doc, &other, &pg_target, 1, 1001, false, "traits or reasons changed");
    other = r;
    other.inconclusive = true;
    assert_fresh(doc, &other, &pg_target, 1, 1001, false, "did not conclude");
    assert_false(vtpm_state_published_fresh(doc, &r, &pg_target, 1, 0, 1001, why, sizeof(why)));
    assert_non_null(strstr(why, "heartbeat is 0"));
    json_decref(doc);

    /* both: a record of each; either one at another place publishes */
    doc = record(&r, both_targets, 2, 1000);
    assert_fresh(doc, &r, both_targets, 2, 1001, true, "unchanged");
    assert_fresh(doc, &r, &both_targets[1], 1, 1001, true, "unchanged");
    json_decref(doc);
}

static void
test_state_published_traits_per_target(void **state)
{
    vtpm_traitset set;
    vtpm_state_target elsewhere = { "placement", "http://other/ provider h" };
    vtpm_report r;
    json_t *doc;

    (void)state;
    vtpm_test_report_init(&r, "h", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2) |
                                   VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_CRB));
    doc = record(&r, both_targets, 2, 1000);
    assert_true(vtpm_state_published_traits(doc, &both_targets[1], &set));
    assert_int_equal(set, VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2) |
                          VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_CRB));
    assert_false(vtpm_state_published_traits(doc, &elsewhere, &set));
    json_decref(doc);
    doc = record(&r, &pg_target, 1, 1000);
    assert_false(vtpm_state_published_traits(doc, &both_targets[1], &set));
    assert_false(vtpm_state_published_traits(NULL, &both_targets[1], &set));
    json_decref(doc);
}

static void
test_state_refuses_what_is_not_a_record(void **state)
{
    static const char *const bad[] = {
        "[]",
        "{\"format\": 2, \"host\": \"h\", \"provider_uuid\": null, \"time\": 1, "
        "\"targets\": {}, \"traits\": {}}",
        "{\"format\": 1, \"host\": \"h\", \"provider_uuid\": null, \"time\": \"1\", "
        "\"targets\": {}, \"traits\": {}}",
        "{\"format\": 1, \"host\": \"h\", \"provider_uuid\": null, \"time\": 1, "
        "\"targets\": {\"postgres\": 7}, \"traits\": {}}",
        "{\"format\": 1, \"host\": \"h\", \"provider_uuid\": null, \"time\": 1, "
        "\"targets\": {}, \"traits\": {\"CUSTOM_X\": {\"present\": true}}}",
        "{\"format\": 1, \"format\": 1, \"host\": \"h\", \"provider_uuid\": null, "
        "\"time\": 1, \"targets\": {}, \"traits\": {}}",
    };
    char path[128], why[256];
    bool absent;
    char *big;
    int fd;

    (void)state;
    snprintf(path, sizeof(path), "%s/" VTPM_STATE_PUBLISHED_FILE, dir);
    unlink(path);
    assert_null(vtpm_state_published_load(dir, &absent, why, sizeof(why)));
    assert_true(absent);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(vtpm_file_write_atomic(path, bad[i], strlen(bad[i]), 0600), 0);
        assert_null(vtpm_state_published_load(dir, &absent, why, sizeof(why)));
        assert_false(absent);
        if (!strstr(why, "is not a publish record"))
            fail_msg("case %zu: %s", i, why);
    }
    big = calloc(1, VTPM_STATE_FILE_MAX + 2);
    assert_non_null(big);
    memset(big, ' ', VTPM_STATE_FILE_MAX + 1);
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_int_equal(write(fd, big, VTPM_STATE_FILE_MAX + 1), VTPM_STATE_FILE_MAX + 1);
    close(fd);
    free(big);
    assert_null(vtpm_state_published_load(dir, &absent, why, sizeof(why)));
    assert_false(absent);
    assert_non_null(strstr(why, "too large"));
    /* a folder in its place */
    unlink(path);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_null(vtpm_state_published_load(dir, &absent, why, sizeof(why)));
    assert_false(absent);
    assert_non_null(strstr(why, "not a regular file"));
    rmdir(path);
}

static void
test_state_result_is_never_an_inconclusive_one(void **state)
{
    vtpm_report r;
    char err[256];

    (void)state;
    vtpm_test_report_init(&r, "h", 0);
    r.inconclusive = true;
    assert_int_equal(vtpm_state_result_write(dir, &r, NULL, 1000, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "did not conclude"));
}

static void
test_state_dir_must_be_an_absolute_folder(void **state)
{
    char err[256], file[128];

    (void)state;
    assert_int_equal(vtpm_state_dir_prepare("relative/state", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not an absolute path"));
    snprintf(file, sizeof(file), "%s/a-file", dir);
    assert_int_equal(vtpm_file_write_atomic(file, "x", 1, 0600), 0);
    assert_int_equal(vtpm_state_dir_prepare(file, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a folder"));
    unlink(file);
    assert_int_equal(vtpm_state_dir_prepare(dir, err, sizeof(err)), 0);
}

static int
group_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/vtpm-test-state-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int
group_teardown(void **state)
{
    char path[128];

    (void)state;
    snprintf(path, sizeof(path), "%s/" VTPM_STATE_PUBLISHED_FILE, dir);
    unlink(path);
    rmdir(dir);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_heartbeat_decision),
        cmocka_unit_test(test_state_published_traits_per_target),
        cmocka_unit_test(test_state_refuses_what_is_not_a_record),
        cmocka_unit_test(test_state_result_is_never_an_inconclusive_one),
        cmocka_unit_test(test_state_dir_must_be_an_absolute_folder),
    };

    return cmocka_run_group_tests_name("state", tests, group_setup, group_teardown);
}
