/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm-filter candidates against a real inventory: answers, limits, refusals, outages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "cli.h"
#include "migrate.h"
#include "pg_fixture.h"
#include "util.h"

static vtpm_test_pg pg;
static char db_dsn[512];
static PGconn *admin;
static char tmpdir[64];

#define REQ_CRB "{\"flavor\":{\"extra_specs\":{\"hw:tpm_version\":\"2.0\",\"hw:tpm_model\":\"tpm-crb\"}}}"
#define REQ_12_DEPLOYMENT                                                                  \
    "{\"flavor\":{\"extra_specs\":{\"hw:tpm_version\":\"1.2\","                            \
    "\"hw:tpm_secret_security\":\"deployment\"}}}"
#define REQ_CRB_12 "{\"flavor\":{\"extra_specs\":{\"hw:tpm_version\":\"1.2\",\"hw:tpm_model\":\"tpm-crb\"}}}"

typedef struct {
    int status;
    char *out;  /* what the command printed, NUL-terminated */
    char *err;
} cli_run;

static int
compare_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static char *
stream_text(FILE *f)
{
    long n;
    char *text;

    fflush(f);
    n = ftell(f);
    assert_true(n >= 0);
    text = calloc(1, (size_t)n + 1);
    assert_non_null(text);
    rewind(f);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return text;
}

/* Writes @input to a file and runs `vtpm-filter candidates ARGS... FILE` in process. */
static cli_run
run_candidates(const char *input, const char *const args[], size_t n_args)
{
    char path[128], *argv[16];
    FILE *in, *out = tmpfile(), *err = tmpfile();
    int argc = 0;
    cli_run r;

    assert_true(n_args + 3 < VTPM_N_ELEMENTS(argv));
    assert_non_null(out);
    assert_non_null(err);
    vtpm_strfmt(path, sizeof(path), "%s/request.json", tmpdir);
    in = fopen(path, "w");
    assert_non_null(in);
    fputs(input, in);
    fclose(in);
    argv[argc++] = (char *)"vtpm-filter";
    argv[argc++] = (char *)"candidates";
    for (size_t i = 0; i < n_args; i++)
        argv[argc++] = (char *)args[i];
    argv[argc++] = path;
    argv[argc] = NULL;
    r.status = vtpm_filter_cli_main(argc, argv, out, err);
    r.out = stream_text(out);
    r.err = stream_text(err);
    return r;
}

static void
cli_run_clear(cli_run *r)
{
    free(r->out);
    free(r->err);
}

static json_t *
json_line(const char *text)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, JSON_DISABLE_EOF_CHECK, &jerr);

    if (!doc)
        fail_msg("not JSON (%s): %s", jerr.text, text);
    return doc;
}

/* The uuids vtpm.candidate_uuids() gives for @traits (a text[] literal), sorted, comma-joined. */
static char *
sql_candidates(const char *traits)
{
    char sql[512];
    char *v;

    vtpm_strfmt(sql, sizeof(sql),
                "SELECT coalesce(string_agg(u::text, ',' ORDER BY u::text), '') "
                "FROM vtpm.candidate_uuids('%s') AS u", traits);
    v = vtpm_test_pg_value(admin, sql, NULL, 0);
    assert_non_null(v);
    return v;
}

/* The "candidates" array of @doc, sorted, comma-joined. */
static char *
json_candidates(json_t *doc)
{
    json_t *list = json_object_get(doc, "candidates");
    size_t n = json_array_size(list);
    size_t size = n * 37 + 1, used = 0;
    char **v = calloc(n + 1, sizeof(*v)), *joined = calloc(size, 1);

    assert_non_null(v);
    assert_non_null(joined);
    for (size_t i = 0; i < n; i++)
        v[i] = (char *)json_string_value(json_array_get(list, i));
    qsort(v, n, sizeof(*v), compare_str);
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(joined + used, size - used, "%s%s", i ? "," : "", v[i]);

        assert_true(w > 0 && (size_t)w < size - used);
        used += (size_t)w;
    }
    free(v);
    return joined;
}

static void
test_candidates_lists_exactly_the_hosts_the_inventory_has(void **state)
{
    const char *args[] = { "--dsn", db_dsn, "--max", "100000" };
    cli_run r = run_candidates(REQ_CRB, args, VTPM_N_ELEMENTS(args));
    char *want = sql_candidates("{COMPUTE_SECURITY_TPM_2_0,COMPUTE_SECURITY_TPM_CRB,"
                                "COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER}");
    json_t *doc;
    char *got;

    (void)state;
    assert_int_equal(r.status, 0);
    doc = json_line(r.out);
    assert_string_equal(json_string_value(json_object_get(doc, "result")), "accept");
    got = json_candidates(doc);
    assert_true(strlen(want) > 0);
    assert_string_equal(got, want);
    assert_int_equal(json_integer_value(json_object_get(doc, "count")),
                     json_array_size(json_object_get(doc, "candidates")));
    free(got);
    free(want);
    json_decref(doc);
    cli_run_clear(&r);
}

static void
test_candidates_max_limits_the_list_not_the_count(void **state)
{
    const char *args[] = { "--dsn", db_dsn, "--max", "2" };
    cli_run r = run_candidates(REQ_CRB, args, VTPM_N_ELEMENTS(args));
    char *all = sql_candidates("{COMPUTE_SECURITY_TPM_2_0,COMPUTE_SECURITY_TPM_CRB,"
                               "COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER}");
    size_t n_all = 1;
    json_t *doc;

    (void)state;
    for (const char *p = all; *p; p++)
        n_all += *p == ',';
    assert_int_equal(r.status, 0);
    doc = json_line(r.out);
    assert_int_equal(json_array_size(json_object_get(doc, "candidates")), 2);
    assert_int_equal(json_integer_value(json_object_get(doc, "count")), n_all);
    json_decref(doc);
    free(all);
    cli_run_clear(&r);
}

static void
test_candidates_none_fits_exits_1_with_an_empty_list(void **state)
{
    const char *args[] = { "--dsn", db_dsn };
    cli_run r = run_candidates(REQ_12_DEPLOYMENT, args, VTPM_N_ELEMENTS(args));
    char *want = sql_candidates("{COMPUTE_SECURITY_TPM_1_2,COMPUTE_SECURITY_TPM_TIS,"
                                "COMPUTE_SECURITY_TPM_SECRET_SECURITY_DEPLOYMENT}");
    json_t *doc;

    (void)state;
    assert_string_equal(want, "");
    assert_int_equal(r.status, 1);
    doc = json_line(r.out);
    assert_string_equal(json_string_value(json_object_get(doc, "result")), "accept");
    assert_int_equal(json_integer_value(json_object_get(doc, "count")), 0);
    assert_int_equal(json_array_size(json_object_get(doc, "candidates")), 0);
    json_decref(doc);
    free(want);
    cli_run_clear(&r);
}

static void
test_candidates_refused_request_needs_no_inventory(void **state)
{
    /* Nobody listens there: the refusal comes before any connection. */
    const char *args[] = { "--dsn", "host=/nonexistent port=1" };
    cli_run r = run_candidates(REQ_CRB_12, args, VTPM_N_ELEMENTS(args));
    json_t *doc;

    (void)state;
    assert_int_equal(r.status, 1);
    doc = json_line(r.out);
    assert_string_equal(json_string_value(json_object_get(doc, "result")), "reject");
    assert_string_equal(json_string_value(json_object_get(doc, "code")), "crb_requires_2_0");
    assert_string_equal(r.err, "");
    json_decref(doc);
    cli_run_clear(&r);
}

static void
test_candidates_unreachable_inventory_exits_5_without_the_password(void **state)
{
    const char *args[] = { "--dsn", "host=/nonexistent port=1 password=hunter2 connect_timeout=2" };
    cli_run r = run_candidates(REQ_CRB, args, VTPM_N_ELEMENTS(args));
    json_t *doc;

    (void)state;
    assert_int_equal(r.status, 5);
    doc = json_line(r.out);
    assert_string_equal(json_string_value(json_object_get(doc, "result")), "error");
    assert_string_equal(json_string_value(json_object_get(doc, "code")), "inventory_unavailable");
    assert_non_null(strstr(r.err, "vtpm-filter: candidates: "));
    assert_null(strstr(r.err, "hunter2"));
    assert_null(strstr(r.out, "hunter2"));
    json_decref(doc);
    cli_run_clear(&r);
}

static void
test_candidates_unmigrated_database_exits_6_and_says_migrate(void **state)
{
    char dsn[512];
    const char *args[] = { "--dsn", dsn };
    cli_run r;

    (void)state;
    assert_int_equal(vtpm_test_pg_create_db(&pg, "empty", dsn, sizeof(dsn)), 0);
    r = run_candidates(REQ_CRB, args, VTPM_N_ELEMENTS(args));
    assert_int_equal(r.status, 6);
    assert_non_null(strstr(r.err, "vtpm-inventory migrate"));
    cli_run_clear(&r);
}

static void
test_candidates_unparsable_dsn_is_a_usage_error(void **state)
{
    const char *args[] = { "--dsn", "host=/nonexistent password=hunter2 =" };
    cli_run r = run_candidates(REQ_CRB, args, VTPM_N_ELEMENTS(args));

    (void)state;
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "vtpm-filter: candidates: "));
    assert_null(strstr(r.err, "hunter2"));
    cli_run_clear(&r);
}

static void
test_candidates_jsonl_answers_every_line_from_one_load(void **state)
{
    const char *args[] = { "--dsn", db_dsn, "--jsonl" };
    cli_run r = run_candidates(REQ_CRB "\n" REQ_CRB_12 "\n" REQ_12_DEPLOYMENT "\n{\"flavor\":{}}\n",
                               args, VTPM_N_ELEMENTS(args));
    const char *results[] = { "accept", "reject", "accept", "accept" };
    char *line = r.out;

    (void)state;
    assert_int_equal(r.status, 1);
    for (size_t i = 0; i < VTPM_N_ELEMENTS(results); i++) {
        json_t *doc;

        assert_non_null(line);
        doc = json_line(line);
        assert_string_equal(json_string_value(json_object_get(doc, "result")), results[i]);
        json_decref(doc);
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    cli_run_clear(&r);
}

static void
test_candidates_takes_the_dsn_from_vtpm_dsn(void **state)
{
    cli_run r;

    (void)state;
    assert_int_equal(setenv("VTPM_DSN", db_dsn, 1), 0);
    r = run_candidates(REQ_CRB, NULL, 0);
    unsetenv("VTPM_DSN");
    assert_int_equal(r.status, 0);
    cli_run_clear(&r);
}

static void
test_candidates_options_are_checked(void **state)
{
    static const char *const bad_max[][2] = { { "--max", "-1" }, { "--max", "ten" }, { "--max", "" } };
    cli_run r;

    (void)state;
    for (size_t i = 0; i < VTPM_N_ELEMENTS(bad_max); i++) {
        r = run_candidates(REQ_CRB, bad_max[i], 2);
        assert_int_equal(r.status, 2);
        assert_non_null(strstr(r.err, "invalid --max"));
        cli_run_clear(&r);
    }
    {
        /* --dsn belongs to candidates only. */
        char *argv[] = { (char *)"vtpm-filter", (char *)"check", (char *)"--dsn", db_dsn, NULL };
        FILE *out = tmpfile(), *err = tmpfile();
        char *o, *e;

        assert_int_equal(vtpm_filter_cli_main(4, argv, out, err), 2);
        o = stream_text(out);
        e = stream_text(err);
        assert_non_null(strstr(e, "--dsn and --max apply to the candidates command only"));
        free(o);
        free(e);
    }
}

/* Hosts 0-63 with trait bits equal to their number (none has secret security
 * 'deployment', bit 6), published as a reporter would. */
static int
group_setup(void **state)
{
    char err[1024];
    char tmpl[] = "/tmp/vtpm-fcand-XXXXXX";
    char *v;

    (void)state;
    if (!mkdtemp(tmpl))
        return -1;
    vtpm_strfmt(tmpdir, sizeof(tmpdir), "%s", tmpl);
    if (vtpm_test_pg_start_inventory(&pg, "vtpm_test", db_dsn, sizeof(db_dsn), &admin) < 0)
        return -1;
    v = vtpm_test_pg_value(admin,
        "SELECT count(p.*) FROM generate_series(0, 63) AS i, LATERAL vtpm.publish("
        "'fc-' || i, NULL, false, NULL, (SELECT jsonb_object_agg(t.name, jsonb_build_object("
        "'present', (i >> t.bit) & 1 = 1, 'code', 'c', 'reason', 'r')) "
        "FROM vtpm.traits t WHERE t.bit IS NOT NULL), NULL) AS p", err, sizeof(err));
    if (!v || strcmp(v, "64") != 0) {
        fprintf(stderr, "cannot publish the hosts: %s\n", v ? v : err);
        free(v);
        return -1;
    }
    free(v);
    return 0;
}

static int
group_teardown(void **state)
{
    char path[128];

    (void)state;
    PQfinish(admin);
    vtpm_test_pg_destroy(&pg);
    vtpm_strfmt(path, sizeof(path), "%s/request.json", tmpdir);
    unlink(path);
    rmdir(tmpdir);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_candidates_lists_exactly_the_hosts_the_inventory_has),
        cmocka_unit_test(test_candidates_max_limits_the_list_not_the_count),
        cmocka_unit_test(test_candidates_none_fits_exits_1_with_an_empty_list),
        cmocka_unit_test(test_candidates_refused_request_needs_no_inventory),
        cmocka_unit_test(test_candidates_unreachable_inventory_exits_5_without_the_password),
        cmocka_unit_test(test_candidates_unmigrated_database_exits_6_and_says_migrate),
        cmocka_unit_test(test_candidates_unparsable_dsn_is_a_usage_error),
        cmocka_unit_test(test_candidates_jsonl_answers_every_line_from_one_load),
        cmocka_unit_test(test_candidates_takes_the_dsn_from_vtpm_dsn),
        cmocka_unit_test(test_candidates_options_are_checked),
    };

    return cmocka_run_group_tests_name("filter-candidates", tests, group_setup, group_teardown);
}
