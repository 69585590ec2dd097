/* SPDX-License-Identifier: Apache-2.0 */
/* Allocation-failure injection: every allocating call fails cleanly at each allocation, leaks nothing, stays usable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include <vtpm/filter.h>

#include "alloc_inject.h"

static bool in_jansson;         /* the allocation being made is jansson's */
static bool injected_in_jansson;
/* Shared with the parent of a forked test, so that it survives a crash. */
static volatile bool *shared_in_jansson;

/* Notes whose allocation was refused (tests/common/alloc_inject.c calls it). */
static void
note_refusal(void)
{
    injected_in_jansson = in_jansson;
    if (shared_in_jansson)
        *shared_in_jansson = in_jansson;
}

/* Fails the @n-th allocation from now on (counting from 1). */
static void
arm(unsigned long n)
{
    injected_in_jansson = false;
    vtpm_test_alloc_on_refuse = note_refusal;
    vtpm_test_alloc_refuse(n);
}

/* Stops failing; returns whether a failure was injected. */
static bool
disarm(void)
{
    return vtpm_test_alloc_allow();
}

/* Runs the body for N = 1, 2, ... until it completes without an injected failure. */
#define FOR_EACH_ALLOCATION(n) VTPM_FOR_EACH_ALLOCATION(n)

static void
test_filter_new_fails_cleanly(void **state)
{
    (void)state;
    FOR_EACH_ALLOCATION(n) {
        long before = vtpm_test_alloc_live;
        vtpm_error err = { 0 };
        vtpm_filter *f;

        arm(n);
        f = vtpm_filter_new(VTPM_PROFILE_LEGACY, VTPM_FILTER_STRICT, &err);
        if (disarm()) {
            assert_null(f);
            assert_int_equal(err.status, VTPM_ERR_NO_MEMORY);
            assert_string_equal(err.message, "out of memory");
            assert_int_equal(vtpm_test_alloc_live, before);
            continue;
        }
        assert_non_null(f);
        assert_int_equal(vtpm_filter_profile(f), VTPM_PROFILE_LEGACY);
        vtpm_filter_free(f);
        assert_int_equal(vtpm_test_alloc_live, before);
        done_ = 1;
    }
}

/* Guard of a "user" server by bob holding @role: true when allowed. */
static bool
bob_may_act(const vtpm_filter *f, const char *role)
{
    vtpm_request *req = vtpm_request_new();
    vtpm_result *res = vtpm_result_new();
    const char *roles[] = { role };
    vtpm_guard_request greq = {
        .owner = "alice", .operation = VTPM_OP_COLD_MIGRATE, .requester = "bob",
        .roles = roles, .n_roles = 1,
    };
    bool ok;

    assert_non_null(req);
    assert_non_null(res);
    assert_int_equal(vtpm_request_set_flavor_spec(req, "hw:tpm_version", "2.0"), VTPM_OK);
    greq.instance = req;
    assert_int_equal(vtpm_filter_guard(f, &greq, res), VTPM_OK);
    ok = vtpm_result_accepted(res);
    vtpm_result_free(res);
    vtpm_request_free(req);
    return ok;
}

static void
test_add_owner_override_role_fails_cleanly(void **state)
{
    vtpm_filter *f = vtpm_filter_new(VTPM_PROFILE_CURRENT, 0, NULL);

    (void)state;
    assert_non_null(f);
    assert_int_equal(vtpm_filter_add_owner_override_role(f, "admin"), VTPM_OK);
    assert_int_equal(vtpm_filter_add_owner_override_role(f, "cloud-admin"), VTPM_OK);
    FOR_EACH_ALLOCATION(n) {
        long before = vtpm_test_alloc_live;
        vtpm_status st;

        arm(n);
        st = vtpm_filter_add_owner_override_role(f, "operator");
        if (disarm()) {
            assert_int_equal(st, VTPM_ERR_NO_MEMORY);
            assert_int_equal(vtpm_test_alloc_live, before);
            /* Nothing changed: the old roles work, the new one does not. */
            assert_true(bob_may_act(f, "admin"));
            assert_true(bob_may_act(f, "cloud-admin"));
            assert_false(bob_may_act(f, "operator"));
            continue;
        }
        assert_int_equal(st, VTPM_OK);
        assert_true(bob_may_act(f, "operator"));
        assert_true(bob_may_act(f, "admin"));
        done_ = 1;
    }
    vtpm_filter_free(f);
}

static void
test_request_and_result_new_fail_cleanly(void **state)
{
    (void)state;
    FOR_EACH_ALLOCATION(n) {
        long before = vtpm_test_alloc_live;
        vtpm_request *req;

        arm(n);
        req = vtpm_request_new();
        if (disarm()) {
            assert_null(req);
            assert_int_equal(vtpm_test_alloc_live, before);
            continue;
        }
        assert_non_null(req);
        vtpm_request_free(req);
        done_ = 1;
    }
    FOR_EACH_ALLOCATION(n) {
        long before = vtpm_test_alloc_live;
        vtpm_result *res;

        arm(n);
        res = vtpm_result_new();
        if (disarm()) {
            assert_null(res);
            assert_int_equal(vtpm_test_alloc_live, before);
            continue;
        }
        assert_non_null(res);
        assert_true(vtpm_result_accepted(res));
        vtpm_result_free(res);
        done_ = 1;
    }
}

typedef vtpm_status (*setter)(vtpm_request *, const char *, const char *);

static const char *
dash(const char *s)
{
    return s ? s : "-";
}

/* Translates @req; returns "code" or "version/model/secret" as a static string. */
static const char *
outcome(const vtpm_filter *f, const vtpm_request *req)
{
    static char buf[128];
    vtpm_result *res = vtpm_result_new();

    assert_non_null(res);
    assert_int_equal(vtpm_filter_translate(f, req, res), VTPM_OK);
    if (!vtpm_result_accepted(res))
        snprintf(buf, sizeof(buf), "%s", vtpm_code_name(vtpm_result_code(res)));
    else
        snprintf(buf, sizeof(buf), "%s/%s/%s",
                 dash(vtpm_version_name(vtpm_result_version(res))),
                 dash(vtpm_model_name(vtpm_result_model(res))),
                 dash(vtpm_secret_security_name(vtpm_result_secret_security(res))));
    vtpm_result_free(res);
    return buf;
}

/*
 * Sets @key to a value long enough to grow the arena, on a request that
 * already holds a version, failing each allocation in turn.
 */
static void
setter_fails_cleanly(setter set, const char *key, const char *after)
{
    vtpm_filter *f = vtpm_filter_new(VTPM_PROFILE_CURRENT, VTPM_FILTER_STRICT, NULL);
    char big[300];

    assert_non_null(f);
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    FOR_EACH_ALLOCATION(n) {
        vtpm_request *req = vtpm_request_new();
        long before;
        vtpm_status st;

        assert_non_null(req);
        /* Both the first allocation of the arena and its growth. */
        arm(n);
        st = vtpm_request_set_flavor_spec(req, "hw:tpm_version", "2.0");
        if (disarm()) {
            assert_int_equal(st, VTPM_ERR_NO_MEMORY);
            assert_string_equal(outcome(f, req), "-/-/-");
            vtpm_request_free(req);
            continue;
        }
        assert_int_equal(st, VTPM_OK);
        before = vtpm_test_alloc_live;
        arm(n);
        st = set(req, key, big);
        if (disarm()) {
            assert_int_equal(st, VTPM_ERR_NO_MEMORY);
            assert_int_equal(vtpm_test_alloc_live, before);
            /* The request is as it was, and still takes values. */
            assert_string_equal(outcome(f, req), "2.0/tpm-tis/user");
            assert_int_equal(set(req, key, big), VTPM_OK);
            assert_string_equal(outcome(f, req), after);
            vtpm_request_free(req);
            continue;
        }
        assert_int_equal(st, VTPM_OK);
        assert_string_equal(outcome(f, req), after);
        vtpm_request_free(req);
        done_ = 1;
    }
    vtpm_filter_free(f);
}

static void
test_set_flavor_spec_growth_fails_cleanly(void **state)
{
    (void)state;
    setter_fails_cleanly(vtpm_request_set_flavor_spec, "hw:tpm_model", "invalid_model");
    setter_fails_cleanly(vtpm_request_set_flavor_spec, "hw:tpm_secret_security",
                         "invalid_secret_security");
    /* An unknown key is stored too (strict mode names it). */
    setter_fails_cleanly(vtpm_request_set_flavor_spec, "hw:tpm_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "unknown_key");
}

static void
test_set_image_property_growth_fails_cleanly(void **state)
{
    (void)state;
    setter_fails_cleanly(vtpm_request_set_image_property, "hw_tpm_model", "invalid_model");
    setter_fails_cleanly(vtpm_request_set_image_property, "hw_tpm_version",
                         "flavor_image_conflict");
    setter_fails_cleanly(vtpm_request_set_image_property, "hw_tpm_secret_security",
                         "unknown_key");
}

/* What a child process saw when allocation @n failed inside vtpm_request_parse_json. */
enum {
    PARSE_DONE = 0,          /* no allocation failed: the loop is over */
    PARSE_OURS_NOMEM = 10,   /* the library's allocation failed: no_memory */
    PARSE_JANSSON_NOMEM = 11,
    PARSE_JANSSON_BAD = 12,  /* jansson reported its own failure as a syntax error */
    PARSE_JANSSON_IGNORED = 13, /* jansson went on without the memory (its lexer's buffer) */
    PARSE_WRONG = 20,        /* a test failure; any other status is a crash */
};

static const char parse_json_doc[] =
    "{\"id\":\"r1\",\"flavor\":{\"name\":\"m1.vtpm\",\"extra_specs\":{"
    "\"hw:cpu_policy\":\"dedicated\",\"hw:tpm_version\":\"2.0\","
    "\"hw:tpm_model\":\"tpm-crb\",\"hw:tpm_secret_security\":\"host\","
    /* an unknown TPM key is stored too: this one makes the arena grow */
    "\"hw:tpm_unknown_key_long_enough_to_grow_the_request_arena_past_its_first_"
    "allocation_of_one_hundred_and_twenty_eight_bytes\":\"x\"}},"
    "\"image\":{\"name\":\"cirros\",\"properties\":{\"hw_tpm_model\":\"tpm-crb\","
    "\"hw_disk_bus\":\"scsi\",\"min_ram\":512}}}";

/* Where a child process reports what went wrong (its stderr goes to /dev/null). */
static int diag_fd = 2;

/* In a child: fails allocation @n of one parse and checks the outcome without cmocka. */
static int
parse_json_child(unsigned long n)
{
    vtpm_filter *f = vtpm_filter_new(VTPM_PROFILE_CURRENT, 0, NULL);
    vtpm_request *req = vtpm_request_new();
    vtpm_error err = { 0 };
    size_t len = strlen(parse_json_doc);
    long before;
    vtpm_status st;
    int code;

    if (!f || !req ||
        vtpm_request_set_flavor_spec(req, "hw:tpm_version", "1.2") != VTPM_OK)
        return PARSE_WRONG;
    before = vtpm_test_alloc_live;
    arm(n);
    st = vtpm_request_parse_json(req, parse_json_doc, len, &err);
    if (!disarm()) {
        if (st != VTPM_OK || strcmp(outcome(f, req), "2.0/tpm-crb/host") != 0)
            return PARSE_WRONG;
        code = PARSE_DONE;
    } else {
        if (!injected_in_jansson)
            code = st == VTPM_ERR_NO_MEMORY ? PARSE_OURS_NOMEM : PARSE_WRONG;
        else if (st == VTPM_ERR_NO_MEMORY)
            code = PARSE_JANSSON_NOMEM;
        else if (st == VTPM_OK)
            code = PARSE_JANSSON_IGNORED;
        else
            code = st == VTPM_ERR_BAD_INPUT ? PARSE_JANSSON_BAD : PARSE_WRONG;
        if (err.status != st) {
            dprintf(diag_fd, "allocation %lu: err.status %d for status %d\n", n,
                    (int)err.status, (int)st);
            code = PARSE_WRONG;
        }
        /* Nothing leaked, the request is empty and still usable. */
        if (vtpm_test_alloc_live != before) {
            dprintf(diag_fd, "allocation %lu: %ld blocks leaked\n", n, vtpm_test_alloc_live - before);
            code = PARSE_WRONG;
        }
        if ((code != PARSE_JANSSON_IGNORED && strcmp(outcome(f, req), "-/-/-") != 0) ||
            vtpm_request_parse_json(req, parse_json_doc, len, &err) != VTPM_OK ||
            strcmp(outcome(f, req), "2.0/tpm-crb/host") != 0)
            code = PARSE_WRONG;
        if (code == PARSE_WRONG)
            dprintf(diag_fd, "allocation %lu (%s) failed: got %s: %s\n", n,
                    injected_in_jansson ? "jansson" : "library", vtpm_status_name(st),
                    err.message);
    }
    vtpm_request_free(req);
    vtpm_filter_free(f);
    return code;
}

/*
 * Each allocation of a parse fails in turn, in a child process: jansson 2.14
 * (Debian 12) itself crashes inside json_loadb() on some of its own
 * allocation failures, which this test reports but cannot blame on the
 * library. Failures of the library's own allocations must give no_memory.
 */
static void
test_parse_json_fails_cleanly(void **state)
{
    unsigned long ours = 0, jansson_nomem = 0, jansson_bad = 0, jansson_crash = 0;
    unsigned long jansson_ignored = 0;
    bool done = false;

    (void)state;
    shared_in_jansson = mmap(NULL, sizeof(bool), PROT_READ | PROT_WRITE,
                             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(shared_in_jansson != MAP_FAILED);
    for (unsigned long n = 1; !done && n < 10000; n++) {
        int status;
        pid_t pid;

        *shared_in_jansson = false;
        fflush(NULL);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            /* A crash must end the child, not return into cmocka's runner;
             * what sanitizers or valgrind say about jansson goes nowhere. */
            int null_fd = open("/dev/null", O_WRONLY);

            diag_fd = dup(2);
            dup2(null_fd, 2);
            signal(SIGSEGV, SIG_DFL);
            signal(SIGBUS, SIG_DFL);
            signal(SIGABRT, SIG_DFL);
            signal(SIGILL, SIG_DFL);
            signal(SIGFPE, SIG_DFL);
            _exit(parse_json_child(n));
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (WIFSIGNALED(status) ||
            (WEXITSTATUS(status) != PARSE_WRONG && WEXITSTATUS(status) > 13) ||
            (WEXITSTATUS(status) > 0 && WEXITSTATUS(status) < 10)) {
            /* A crash (or a sanitizer's report of one). Where was it? */
            if (!*shared_in_jansson)
                fail_msg("allocation %lu failed in the library and the process crashed", n);
            jansson_crash++;
            print_message("# allocation %lu of the parse fails inside jansson and jansson "
                          "crashes (a jansson bug, not the library's)\n", n);
            continue;
        }
        switch (WEXITSTATUS(status)) {
        case PARSE_DONE:
            done = true;
            break;
        case PARSE_OURS_NOMEM:
            ours++;
            break;
        case PARSE_JANSSON_NOMEM:
            jansson_nomem++;
            break;
        case PARSE_JANSSON_BAD:
            jansson_bad++;
            break;
        case PARSE_JANSSON_IGNORED:
            jansson_ignored++;
            break;
        default:
            fail_msg("allocation %lu: the parse did not fail cleanly (see stderr)", n);
        }
    }
    assert_true(done);
    print_message("# parse_json: %lu failed allocations in the library (no_memory); in jansson: "
                  "%lu no_memory, %lu reported by jansson as syntax errors, %lu ignored by "
                  "jansson, %lu jansson crashes\n", ours, jansson_nomem, jansson_bad,
                  jansson_ignored, jansson_crash);
    assert_true(ours >= 1);
    assert_true(jansson_nomem + jansson_bad + jansson_ignored + jansson_crash > 10);
    munmap((void *)shared_in_jansson, sizeof(bool));
    shared_in_jansson = NULL;
}

/* The hot path promises no allocation at all; a refilled request stops allocating. */
static void
test_translate_guard_and_refill_do_not_allocate(void **state)
{
    vtpm_filter *f = vtpm_filter_new(VTPM_PROFILE_CURRENT, VTPM_FILTER_STRICT, NULL);
    vtpm_request *req = vtpm_request_new(), *newf = vtpm_request_new();
    vtpm_result *res = vtpm_result_new();
    vtpm_traitset hosts[3] = { 0, VTPM_TRAITSET_ALL, 3 };
    size_t passing[3];
    const char *roles[] = { "admin" };
    vtpm_guard_request greq = {
        .owner = "alice", .operation = VTPM_OP_RESIZE, .requester = "bob",
        .roles = roles, .n_roles = 1,
    };
    int round;

    (void)state;
    assert_int_equal(vtpm_filter_add_owner_override_role(f, "admin"), VTPM_OK);
    assert_int_equal(vtpm_request_set_flavor_spec(newf, "hw:tpm_version", "2.0"), VTPM_OK);
    assert_int_equal(vtpm_request_set_flavor_spec(req, "hw:tpm_version", "2.0"), VTPM_OK);
    assert_int_equal(vtpm_request_set_image_property(req, "hw_tpm_model", "tpm-crb"), VTPM_OK);
    greq.instance = req;
    greq.new_flavor = newf;
    for (round = 0; round < 3; round++) {
        arm(1);
        if (round > 0) {
            /* Reset and refill: the arena is reused. */
            vtpm_request_reset(req);
            assert_int_equal(vtpm_request_set_flavor_spec(req, "hw:tpm_version", "2.0"), VTPM_OK);
            assert_int_equal(vtpm_request_set_image_property(req, "hw_tpm_model", "tpm-crb"),
                             VTPM_OK);
        }
        assert_int_equal(vtpm_filter_translate(f, req, res), VTPM_OK);
        assert_true(vtpm_result_accepted(res));
        assert_true(vtpm_filter_required_traits(f, req, NULL, NULL));
        assert_int_equal(vtpm_filter_guard(f, &greq, res), VTPM_OK);
        assert_true(vtpm_result_accepted(res));
        assert_int_equal(vtpm_hosts_filter(vtpm_result_required_traits(res), hosts, 3, passing),
                         1);
        assert_false(disarm());
        assert_int_equal(vtpm_test_alloc_seen(), 0);
    }
    vtpm_result_free(res);
    vtpm_request_free(newf);
    vtpm_request_free(req);
    vtpm_filter_free(f);
}

static void *
json_malloc_counted(size_t size)
{
    void *p;

    in_jansson = true;
    p = __wrap_malloc(size);
    in_jansson = false;
    return p;
}

static void
json_free_counted(void *p)
{
    __wrap_free(p);
}

int
main(void)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_new_fails_cleanly),
        cmocka_unit_test(test_add_owner_override_role_fails_cleanly),
        cmocka_unit_test(test_request_and_result_new_fail_cleanly),
        cmocka_unit_test(test_set_flavor_spec_growth_fails_cleanly),
        cmocka_unit_test(test_set_image_property_growth_fails_cleanly),
        cmocka_unit_test(test_parse_json_fails_cleanly),
        cmocka_unit_test(test_translate_guard_and_refill_do_not_allocate),
    };
    long start;
    int failed;

    /* Before anything else, so that every jansson block is counted both ways. */
    json_set_alloc_funcs(json_malloc_counted, json_free_counted);
    start = vtpm_test_alloc_live;
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (failed == 0 && vtpm_test_alloc_live != start) {
        fprintf(stderr, "# %ld blocks allocated through the library were never freed\n",
                vtpm_test_alloc_live - start);
        return 1;
    }
    return failed;
}
