/* SPDX-License-Identifier: Apache-2.0 */
/* Host checks: trait catalogue, bitsets, single and batch checks (tests/data/host/), vtpm-filter host. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static char *tmpdir;

/* The os-traits names, in the ABI's bit order (include/vtpm/traits.h). */
static const char *const trait_names[VTPM_TRAIT_COUNT] = {
    "COMPUTE_SECURITY_TPM_1_2",
    "COMPUTE_SECURITY_TPM_2_0",
    "COMPUTE_SECURITY_TPM_TIS",
    "COMPUTE_SECURITY_TPM_CRB",
    "COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER",
    "COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST",
    "COMPUTE_SECURITY_TPM_SECRET_SECURITY_DEPLOYMENT",
};

/* Builds a trait set from a JSON array of names both ways and checks they agree. */
static vtpm_traitset
traits_from_json(json_t *arr)
{
    const char *names[64];
    vtpm_traitset by_names, by_one = 0;
    size_t i;
    json_t *v;

    assert_true(json_array_size(arr) <= 64);
    json_array_foreach(arr, i, v) {
        int t;

        names[i] = json_string_value(v);
        assert_non_null(names[i]);
        t = vtpm_trait_from_name(names[i]);
        if (t >= 0)
            by_one |= VTPM_TRAITSET_BIT(t);
    }
    by_names = vtpm_traitset_from_names(names, json_array_size(arr));
    assert_int_equal(by_names, by_one);
    return by_names;
}

static json_t *
verdict_json(const char *host, vtpm_traitset required, vtpm_traitset traits)
{
    vtpm_traitset missing = ~(vtpm_traitset)0, missing2 = ~(vtpm_traitset)0;
    bool pass = vtpm_host_check(required, traits, &missing);
    json_t *o = json_object();

    /* The inline check and the exported one agree, and NULL is allowed. */
    assert_int_equal(vtpm_host_passes(required, traits, &missing2), pass);
    assert_int_equal(missing, missing2);
    assert_int_equal(vtpm_host_check(required, traits, NULL), pass);
    assert_int_equal(pass, missing == 0);
    assert_non_null(o);
    if (host)
        json_object_set_new(o, "host", json_string(host));
    json_object_set_new(o, "result", json_string(pass ? "pass" : "fail"));
    json_object_set_new(o, "required_traits", vt_traits_json(required));
    json_object_set_new(o, "missing_traits", vt_traits_json(missing));
    return o;
}

/* Translates the case's request; returns NULL when accepted, else the reject object. */
static json_t *
case_translate(vt_case *c, vtpm_result *res)
{
    vtpm_filter *filter = vt_case_filter(c);
    vtpm_request *req = vtpm_request_new();
    char *text = vt_json_text(json_object_get(c->doc, "request"));
    vtpm_error err = { 0 };
    json_t *rej = NULL;

    if (vtpm_request_parse_json(req, text, strlen(text), &err) != VTPM_OK)
        fail_msg("%s: %s", c->name, err.message);
    assert_int_equal(vtpm_filter_translate(filter, req, res), VTPM_OK);
    if (!vtpm_result_accepted(res))
        rej = vt_result_json(res);
    free(text);
    vtpm_request_free(req);
    vtpm_filter_free(filter);
    return rej;
}

/* Runs vtpm-filter host with the case's profile and strictness plus @args. */
static void
case_cli(vt_case *c, const char *const *args, vt_run *run)
{
    const char *argv[16];
    char *path = vt_json_file(tmpdir, "request.json", json_object_get(c->doc, "request"));
    int argc = 0;

    argv[argc++] = "vtpm-filter";
    argv[argc++] = "host";
    argv[argc++] = "--profile";
    argv[argc++] = vt_case_string(c, "profile", "current");
    if (vt_case_bool(c, "strict", false))
        argv[argc++] = "--strict";
    while (*args)
        argv[argc++] = *args++;
    argv[argc++] = path;
    argv[argc] = NULL;
    vt_cli_run(argv, run);
    free(path);
}

/* Parses every output line of @run into a JSON array. */
static json_t *
output_lines(vt_run *run)
{
    json_t *arr = json_array();
    char *line = run->out, *nl;

    assert_true(run->out_len == 0 || run->out[run->out_len - 1] == '\n');
    while ((nl = strchr(line, '\n'))) {
        json_error_t jerr;
        json_t *j;

        *nl = '\0';
        j = json_loads(line, 0, &jerr);
        if (!j)
            fail_msg("output line is not JSON (%s): %s", jerr.text, line);
        json_array_append_new(arr, j);
        line = nl + 1;
    }
    return arr;
}

static void
test_host_case(void **state)
{
    vt_case *c = *state;
    json_t *hosts = json_object_get(c->doc, "hosts");
    vtpm_result *res = vtpm_result_new();
    json_t *actual, *rej, *cli;
    bool any_pass = false;
    vt_run run;

    rej = case_translate(c, res);
    if (!hosts) {
        /* One host: --traits LIST. */
        json_t *names = json_object_get(c->doc, "traits");
        char list[2048] = "";
        const char *args[3] = { "--traits", list, NULL };
        size_t i, used = 0;
        json_t *v;

        json_array_foreach(names, i, v) {
            int n = snprintf(list + used, sizeof(list) - used, "%s%s", i ? "," : "",
                             json_string_value(v));

            assert_true(n > 0 && (size_t)n < sizeof(list) - used);
            used += (size_t)n;
        }
        actual = rej ? json_incref(rej)
                     : verdict_json(NULL, vtpm_result_required_traits(res),
                                    traits_from_json(names));
        any_pass = !rej && strcmp(json_string_value(json_object_get(actual, "result")),
                                  "pass") == 0;
        case_cli(c, args, &run);
        cli = output_lines(&run);
        assert_int_equal(json_array_size(cli), 1);
        vt_assert_json_equal(json_array_get(cli, 0), actual, "vtpm-filter host output vs C API");
    } else {
        /* Many hosts: vtpm_hosts_filter and --hosts FILE. */
        size_t n = json_array_size(hosts), i, n_pass, k = 0;
        vtpm_traitset *sets = calloc(n ? n : 1, sizeof(*sets));
        size_t *passing = calloc(n ? n : 1, sizeof(*passing));
        const char *args[3] = { "--hosts", NULL, NULL };
        char *hosts_path, *text;
        json_t *v;
        FILE *f;

        assert_non_null(sets);
        assert_non_null(passing);
        json_array_foreach(hosts, i, v)
            sets[i] = traits_from_json(json_object_get(v, "traits"));
        n_pass = vtpm_hosts_filter(vtpm_result_required_traits(res), sets, n, passing);
        if (rej) {
            actual = json_pack("[O]", rej);
        } else {
            actual = json_array();
            json_array_foreach(hosts, i, v) {
                json_t *o = verdict_json(json_string_value(json_object_get(v, "name")),
                                         vtpm_result_required_traits(res), sets[i]);
                bool pass = strcmp(json_string_value(json_object_get(o, "result")), "pass") == 0;

                /* The batch call lists exactly the passing hosts, in input order. */
                if (pass) {
                    assert_true(k < n_pass);
                    assert_int_equal(passing[k], i);
                    k++;
                }
                json_array_append_new(actual, o);
            }
            assert_int_equal(k, n_pass);
            any_pass = n_pass > 0;
        }

        hosts_path = vt_path(tmpdir, "hosts.jsonl");
        f = fopen(hosts_path, "w");
        assert_non_null(f);
        json_array_foreach(hosts, i, v) {
            text = vt_json_text(v);
            fprintf(f, "%s\n", text);
            free(text);
        }
        fclose(f);
        args[1] = hosts_path;
        case_cli(c, args, &run);
        free(hosts_path);
        cli = output_lines(&run);
        vt_assert_json_equal(cli, actual, "vtpm-filter host --hosts output vs C API");
        free(passing);
        free(sets);
    }
    if (run.err_len != 0)
        fail_msg("%s: vtpm-filter printed to stderr: %s", c->name, run.err);
    assert_int_equal(run.status, any_pass ? 0 : 1);
    json_decref(cli);
    vt_run_clear(&run);
    json_decref(rej);
    vtpm_result_free(res);
    vt_case_check(c, actual);
}

static void
test_trait_names_round_trip(void **state)
{
    int t;

    (void)state;
    for (t = 0; t < VTPM_TRAIT_COUNT; t++) {
        assert_string_equal(vtpm_trait_name((vtpm_trait)t), trait_names[t]);
        assert_int_equal(vtpm_trait_from_name(trait_names[t]), t);
    }
    assert_null(vtpm_trait_name(VTPM_TRAIT_COUNT));
    assert_null(vtpm_trait_name((vtpm_trait)-1));
    assert_int_equal(vtpm_trait_from_name(NULL), -1);
    assert_int_equal(vtpm_trait_from_name(""), -1);
    assert_int_equal(vtpm_trait_from_name("COMPUTE_SECURITY_TPM_"), -1);
    assert_int_equal(vtpm_trait_from_name("COMPUTE_SECURITY_TPM_2_0X"), -1);
    assert_int_equal(vtpm_trait_from_name("compute_security_tpm_2_0"), -1);
    assert_int_equal(vtpm_trait_from_name("HW_CPU_X86_AVX2"), -1);
    assert_int_equal(VTPM_TRAITSET_ALL, 0x7f);
}

static void
test_traitset_from_names_ignores_unknown_and_null(void **state)
{
    const char *names[] = {
        "CUSTOM_FOO", NULL, "COMPUTE_SECURITY_TPM_CRB", "COMPUTE_SECURITY_TPM_CRB",
        "COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST", "", "COMPUTE_SECURITY_TPM_1_2",
    };
    vtpm_traitset set;

    (void)state;
    set = vtpm_traitset_from_names(names, sizeof(names) / sizeof(names[0]));
    assert_int_equal(set, VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_CRB) |
                          VTPM_TRAITSET_BIT(VTPM_TRAIT_SECRET_SECURITY_HOST) |
                          VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2));
    assert_int_equal(vtpm_traitset_count(set), 3);
    assert_int_equal(vtpm_traitset_from_names(names, 0), 0);
    assert_int_equal(vtpm_traitset_from_names(trait_names, VTPM_TRAIT_COUNT), VTPM_TRAITSET_ALL);
    assert_int_equal(vtpm_traitset_count(0), 0);
    assert_int_equal(vtpm_traitset_count(VTPM_TRAITSET_ALL), VTPM_TRAIT_COUNT);
    assert_int_equal(vtpm_traitset_count(~(vtpm_traitset)0), 64);
}

static void
test_host_check_with_no_requirement_passes_everything(void **state)
{
    vtpm_traitset missing = 1;

    (void)state;
    assert_true(vtpm_host_check(0, 0, &missing));
    assert_int_equal(missing, 0);
    assert_true(vtpm_host_check(0, VTPM_TRAITSET_ALL, NULL));
    assert_false(vtpm_host_check(VTPM_TRAITSET_ALL, 0, &missing));
    assert_int_equal(missing, VTPM_TRAITSET_ALL);
}

static void
test_hosts_filter_handles_empty_and_null(void **state)
{
    vtpm_traitset hosts[1] = { 0 };
    size_t passing[1] = { 99 };

    (void)state;
    assert_int_equal(vtpm_hosts_filter(0, hosts, 0, passing), 0);
    assert_int_equal(vtpm_hosts_filter(0, NULL, 1, passing), 0);
    assert_int_equal(vtpm_hosts_filter(0, hosts, 1, NULL), 0);
    assert_int_equal(vtpm_hosts_filter(0, hosts, 1, passing), 1);
    assert_int_equal(passing[0], 0);
    assert_int_equal(vtpm_hosts_filter(1, hosts, 1, passing), 0);
}

/* 100,000 pseudo-random hosts against every possible requirement: same as a plain loop. */
static void
test_hosts_filter_matches_one_by_one_checks(void **state)
{
    enum { N = 100000 };
    vtpm_traitset *hosts = malloc(N * sizeof(*hosts));
    size_t *passing = malloc(N * sizeof(*passing));
    unsigned int seed = 12345;
    vtpm_traitset required;
    size_t i;

    (void)state;
    assert_non_null(hosts);
    assert_non_null(passing);
    for (i = 0; i < N; i++) {
        seed = seed * 1103515245u + 12345u;
        /* Some bits beyond the catalogue too: they must not matter. */
        hosts[i] = (vtpm_traitset)(seed >> 8) & 0x3ff;
    }
    for (required = 0; required <= VTPM_TRAITSET_ALL; required += 7) {
        size_t n = vtpm_hosts_filter(required, hosts, N, passing), k = 0;

        for (i = 0; i < N; i++) {
            if ((hosts[i] & required) == required) {
                assert_true(k < n);
                assert_int_equal(passing[k], i);
                k++;
            }
        }
        assert_int_equal(k, n);
    }
    free(passing);
    free(hosts);
}

int
main(void)
{
    static const struct CMUnitTest extra[] = {
        cmocka_unit_test(test_trait_names_round_trip),
        cmocka_unit_test(test_traitset_from_names_ignores_unknown_and_null),
        cmocka_unit_test(test_host_check_with_no_requirement_passes_everything),
        cmocka_unit_test(test_hosts_filter_handles_empty_and_null),
        cmocka_unit_test(test_hosts_filter_matches_one_by_one_checks),
    };
    vt_suite suite;
    int failed;

    vt_suite_load(&suite, "host", test_host_case);
    tmpdir = vt_tmpdir_new();
    failed = vt_suite_run(&suite, "host", extra, sizeof(extra) / sizeof(extra[0]));
    vt_tmpdir_remove(tmpdir);
    free(tmpdir);
    vt_suite_free(&suite);
    return failed;
}
