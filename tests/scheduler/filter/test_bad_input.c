/* SPDX-License-Identifier: Apache-2.0 */
/* Bad input: golden cases from tests/data/translate/bad/ and generated giants; bad_input or exit 2, never a crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define TEN_MB (10u << 20)

static char *tmpdir;
static char *bad_dir;

/* A message for people: one line of printable ASCII. */
static void
assert_printable_line(const char *msg, size_t len)
{
    size_t i;

    assert_true(len > 0);
    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)msg[i];

        if (ch < 0x20 || ch > 0x7e)
            fail_msg("message byte %zu is 0x%02x, not printable: %.*s", i, ch, (int)len, msg);
    }
}

/* Checks every line of CLI output is printable (stdout lines are JSON). */
static void
assert_printable_lines(const char *text)
{
    const char *line = text, *nl;

    while ((nl = strchr(line, '\n'))) {
        assert_printable_line(line, (size_t)(nl - line));
        line = nl + 1;
    }
    assert_string_equal(line, "");
}

/* Parses @data through the C API; must fail with BAD_INPUT. Returns the error as JSON. */
static json_t *
api_parse_bad(const char *data, size_t len)
{
    vtpm_request *req = vtpm_request_new();
    vtpm_filter *filter = vtpm_filter_new(VTPM_PROFILE_CURRENT, 0, NULL);
    vtpm_result *res = vtpm_result_new();
    vtpm_error err = { 0 };
    vtpm_status st;
    json_t *j;
    /* An exact-size copy: the parser must not read past @len. */
    char *copy = malloc(len ? len : 1);

    assert_non_null(copy);
    memcpy(copy, data, len);
    /* Something in the request first: a failed parse must leave it empty. */
    assert_int_equal(vtpm_request_set_flavor_spec(req, "hw:tpm_version", "2.0"), VTPM_OK);
    st = vtpm_request_parse_json(req, copy, len, &err);
    assert_int_equal(st, VTPM_ERR_BAD_INPUT);
    assert_int_equal(err.status, st);
    assert_printable_line(err.message, strlen(err.message));
    assert_int_equal(vtpm_filter_translate(filter, req, res), VTPM_OK);
    assert_true(vtpm_result_accepted(res));
    assert_int_equal(vtpm_result_version(res), VTPM_VERSION_NONE);
    /* And the same without an error struct. */
    assert_int_equal(vtpm_request_parse_json(req, copy, len, NULL), VTPM_ERR_BAD_INPUT);
    j = json_pack("{s:s, s:i, s:i, s:s}", "status", vtpm_status_name(st),
                  "line", err.line, "column", err.column, "message", err.message);
    assert_non_null(j);
    free(copy);
    vtpm_result_free(res);
    vtpm_filter_free(filter);
    vtpm_request_free(req);
    return j;
}

/* Runs vtpm-filter @command [--jsonl] on @path; returns {"status","stdout","stderr"}. */
static json_t *
cli_run_file(const char *command, bool jsonl, const char *path)
{
    const char *argv[] = { "vtpm-filter", command, jsonl ? "--jsonl" : path,
                           jsonl ? path : NULL, NULL };
    vt_run run;
    json_t *j;

    vt_cli_run(argv, &run);
    run.err = vt_str_replace(run.err, path, "@input");
    run.out = vt_str_replace(run.out, path, "@input");
    assert_printable_lines(run.out);
    assert_printable_lines(run.err);
    j = json_pack("{s:i, s:s, s:s}", "status", run.status, "stdout", run.out,
                  "stderr", run.err);
    assert_non_null(j);
    vt_run_clear(&run);
    return j;
}

static void
test_bad_file(void **state)
{
    const char *name = *state;
    char *in_path, *expect_path, *tmp_path;
    size_t len, stem = strlen(name) - strlen(".in");
    char *data, *expect_name;
    json_t *actual, *cli, *expected;

    in_path = vt_path(bad_dir, name);
    data = vt_file_read(in_path, &len);
    assert_non_null(data);

    actual = json_object();
    json_object_set_new(actual, "api", api_parse_bad(data, len));
    tmp_path = vt_path(tmpdir, name);
    vt_file_write(tmp_path, data, len);
    cli = cli_run_file("check", false, tmp_path);
    /* Unreadable input: exit status 2, whatever else. */
    assert_int_equal(json_integer_value(json_object_get(cli, "status")), 2);
    json_object_set_new(actual, "cli", cli);
    unlink(tmp_path);

    expect_name = malloc(stem + sizeof(".expect"));
    assert_non_null(expect_name);
    snprintf(expect_name, stem + sizeof(".expect"), "%.*s.expect", (int)stem, name);
    expect_path = vt_path(bad_dir, expect_name);
    if (vt_regenerate()) {
        char *text = json_dumps(actual, JSON_INDENT(2));

        assert_non_null(text);
        text = realloc(text, strlen(text) + 2);
        assert_non_null(text);
        memcpy(text + strlen(text), "\n", 2);
        vt_file_write(expect_path, text, strlen(text));
        free(text);
    } else {
        json_error_t jerr;

        expected = json_load_file(expect_path, JSON_REJECT_DUPLICATES, &jerr);
        if (!expected)
            fail_msg("%s: %s (create it with VTPM_TEST_REGENERATE=1)", expect_path, jerr.text);
        vt_assert_json_equal(actual, expected, expect_path);
        json_decref(expected);
    }
    json_decref(actual);
    free(expect_path);
    free(expect_name);
    free(tmp_path);
    free(data);
    free(in_path);
}

/* ---- Generated inputs: too big or too deep for data files -------------- */

static char *
repeat(const char *head, char ch, size_t n, const char *tail, size_t *len)
{
    size_t hl = strlen(head), tl = strlen(tail);
    char *s = malloc(hl + n + tl + 1);

    assert_non_null(s);
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): the tail's copy ends with the NUL */
    memcpy(s, head, hl);
    memset(s + hl, ch, n);
    memcpy(s + hl + n, tail, tl + 1);
    *len = hl + n + tl;
    return s;
}

static void
test_ten_megabyte_line_of_garbage_is_bad_input(void **state)
{
    size_t len;
    char *s = repeat("", 'x', TEN_MB, "", &len);
    json_t *j = api_parse_bad(s, len);
    char *path = vt_path(tmpdir, "garbage.json");
    json_t *cli;

    (void)state;
    assert_string_equal(json_string_value(json_object_get(j, "message")),
                        "invalid JSON at line 1, column 10485760: '[' or '{' expected");
    vt_file_write(path, s, len);
    cli = cli_run_file("check", false, path);
    assert_int_equal(json_integer_value(json_object_get(cli, "status")), 2);
    assert_string_equal(json_string_value(json_object_get(cli, "stderr")),
                        "vtpm-filter: line 1, column 10485760: invalid JSON: '[' or '{' expected\n");
    json_decref(cli);
    json_decref(j);
    unlink(path);
    free(path);
    free(s);
}

/* A huge value is parsed, judged, and quoted short in the message. */
static void
test_ten_megabyte_version_value_gives_a_short_message(void **state)
{
    size_t len;
    char *s = repeat("{\"flavor\":{\"extra_specs\":{\"hw:tpm_version\":\"", '9', TEN_MB,
                     "\"}}}", &len);
    vtpm_request *req = vtpm_request_new();
    vtpm_filter *filter = vtpm_filter_new(VTPM_PROFILE_CURRENT, 0, NULL);
    vtpm_result *res = vtpm_result_new();
    vtpm_error err = { 0 };
    const char *msg;

    (void)state;
    assert_int_equal(vtpm_request_parse_json(req, s, len, &err), VTPM_OK);
    assert_int_equal(vtpm_filter_translate(filter, req, res), VTPM_OK);
    assert_int_equal(vtpm_result_code(res), VTPM_CODE_INVALID_VERSION);
    msg = vtpm_result_message(res);
    assert_true(strlen(msg) < 200);
    assert_non_null(strstr(msg, "invalid TPM version '9999"));
    assert_non_null(strstr(msg, "'... in flavor extra spec hw:tpm_version"));
    vtpm_result_free(res);
    vtpm_filter_free(filter);
    vtpm_request_free(req);
    free(s);
}

/* --jsonl: a 10 MB bad line in the middle gets its bad_input line and the run goes on. */
static void
test_jsonl_ten_megabyte_bad_line_in_the_middle(void **state)
{
    static const char good[] = "{\"flavor\":{\"extra_specs\":{\"hw:tpm_version\":\"2.0\"}}}\n";
    static const char accepted[] =
        "{\"result\":\"accept\",\"vtpm\":{\"version\":\"2.0\",\"model\":\"tpm-tis\","
        "\"secret_security\":\"user\"},\"required_traits\":[\"COMPUTE_SECURITY_TPM_2_0\","
        "\"COMPUTE_SECURITY_TPM_TIS\",\"COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER\"]}\n";
    char *path = vt_path(tmpdir, "big.jsonl");
    size_t len;
    char *big = repeat("{\"flavor\":", '[', TEN_MB, "\n", &len);
    FILE *f = fopen(path, "w");
    json_t *cli;
    char expected[1024];

    (void)state;
    assert_non_null(f);
    fputs(good, f);
    fwrite(big, 1, len, f);
    fputs(good, f);
    fclose(f);
    cli = cli_run_file("check", true, path);
    assert_int_equal(json_integer_value(json_object_get(cli, "status")), 2);
    snprintf(expected, sizeof(expected), "%s%s%s", accepted,
             "{\"result\":\"reject\",\"code\":\"bad_input\",\"message\":\"line 2, column 2058: "
             "invalid JSON: maximum parsing depth reached near '['\"}\n", accepted);
    assert_string_equal(json_string_value(json_object_get(cli, "stdout")), expected);
    json_decref(cli);
    unlink(path);
    free(path);
    free(big);
}

static void
test_hundred_thousand_open_brackets_are_bad_input(void **state)
{
    size_t len;
    char *s = repeat("", '[', 100000, "", &len);
    json_t *j = api_parse_bad(s, len);
    char *path = vt_path(tmpdir, "deep.json");
    json_t *cli;

    (void)state;
    assert_string_equal(json_string_value(json_object_get(j, "message")),
                        "invalid JSON at line 1, column 2049: maximum parsing depth reached near '['");
    vt_file_write(path, s, len);
    cli = cli_run_file("check", false, path);
    assert_int_equal(json_integer_value(json_object_get(cli, "status")), 2);
    json_decref(cli);
    json_decref(j);
    unlink(path);
    free(path);
    free(s);
}

/* Deep nesting where a TPM value belongs: still the parser's depth limit, not a crash. */
static void
test_deeply_nested_tpm_value_is_bad_input(void **state)
{
    static const char head[] = "{\"flavor\":{\"extra_specs\":{\"hw:tpm_version\":";
    size_t n = 100000, i, len;
    char *s = malloc(n * 6 + 100), *p;
    json_t *j;

    (void)state;
    assert_non_null(s);
    memcpy(s, head, sizeof(head) - 1);
    p = s + sizeof(head) - 1;
    for (i = 0; i < n; i++) {
        memcpy(p, "{\"a\":", 5);
        p += 5;
    }
    *p++ = '1';
    for (i = 0; i < n; i++)
        *p++ = '}';
    memcpy(p, "}}}", 3);
    p += 3;
    len = (size_t)(p - s);
    j = api_parse_bad(s, len);
    assert_non_null(strstr(json_string_value(json_object_get(j, "message")),
                           "maximum parsing depth reached"));
    json_decref(j);
    free(s);
}

static void
test_parse_json_argument_errors(void **state)
{
    vtpm_request *req = vtpm_request_new();
    vtpm_error err = { 0 };

    (void)state;
    assert_int_equal(vtpm_request_parse_json(NULL, "{}", 2, &err), VTPM_ERR_INVALID_ARG);
    assert_int_equal(err.status, VTPM_ERR_INVALID_ARG);
    assert_int_equal(vtpm_request_parse_json(req, NULL, 5, &err), VTPM_ERR_INVALID_ARG);
    assert_int_equal(vtpm_request_parse_json(req, NULL, 0, &err), VTPM_ERR_BAD_INPUT);
    assert_string_equal(err.message, "empty input");
    /* Only @len bytes count: what follows is not read. */
    assert_int_equal(vtpm_request_parse_json(req, "{}garbage", 2, &err), VTPM_OK);
    assert_int_equal(vtpm_request_parse_json(req, "{}", 1, &err), VTPM_ERR_BAD_INPUT);
    vtpm_request_free(req);
}

/* Valid JSON numbers beyond jansson's range are read where their value is
 * not used; where it would be (a TPM key), they stay refused. */
static void
test_out_of_range_numbers_in_other_keys_are_accepted(void **state)
{
    static const char *const good[] = {
        "{\"flavor\":{\"extra_specs\":{\"hw:cpu_count\":1e999999}}}",
        "{\"image\":{\"properties\":{\"hw_disk\":18446744073709551615,"
        "\"x\":-1e400,\"y\":[1E+400],\"z\":\"1e400\\\"\",\"hw_tpm_version\":\"2.0\"}}}",
        "{\"id\":\"id\",\"image\":{\"properties\":{\"id\":-99999999999999999999}}}",
    };
    vtpm_request *req = vtpm_request_new();
    vtpm_filter *filter = vtpm_filter_new(VTPM_PROFILE_CURRENT, 0, NULL);
    vtpm_result *res = vtpm_result_new();
    vtpm_error err = { 0 };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(vtpm_request_parse_json(req, good[i], strlen(good[i]), &err), VTPM_OK);
        assert_int_equal(vtpm_filter_translate(filter, req, res), VTPM_OK);
        assert_true(vtpm_result_accepted(res));
    }
    assert_int_equal(vtpm_result_version(res), VTPM_VERSION_NONE);
    assert_int_equal(vtpm_request_parse_json(req, good[1], strlen(good[1]), &err), VTPM_OK);
    assert_int_equal(vtpm_filter_translate(filter, req, res), VTPM_OK);
    assert_int_equal(vtpm_result_version(res), VTPM_VERSION_2_0);
    vtpm_result_free(res);
    vtpm_filter_free(filter);
    vtpm_request_free(req);
}

int
main(void)
{
    static const struct CMUnitTest extra[] = {
        cmocka_unit_test(test_parse_json_argument_errors),
        cmocka_unit_test(test_ten_megabyte_line_of_garbage_is_bad_input),
        cmocka_unit_test(test_ten_megabyte_version_value_gives_a_short_message),
        cmocka_unit_test(test_jsonl_ten_megabyte_bad_line_in_the_middle),
        cmocka_unit_test(test_hundred_thousand_open_brackets_are_bad_input),
        cmocka_unit_test(test_deeply_nested_tpm_value_is_bad_input),
        cmocka_unit_test(test_out_of_range_numbers_in_other_keys_are_accepted),
    };
    size_t n, i, n_extra = sizeof(extra) / sizeof(extra[0]);
    char **names;
    struct CMUnitTest *tests;
    int failed;

    bad_dir = vt_path(vt_srcdir(), "data/translate/bad");
    names = vt_dir_list(bad_dir, ".in", &n);
    tests = calloc(n + n_extra, sizeof(*tests));
    assert_non_null(tests);
    for (i = 0; i < n_extra; i++)
        tests[i] = extra[i];
    for (i = 0; i < n; i++) {
        tests[n_extra + i].name = names[i];
        tests[n_extra + i].test_func = test_bad_file;
        tests[n_extra + i].initial_state = names[i];
    }
    tmpdir = vt_tmpdir_new();
    failed = _cmocka_run_group_tests("bad_input", tests, n + n_extra, NULL, NULL);
    vt_tmpdir_remove(tmpdir);
    free(tmpdir);
    free(tests);
    vt_strv_free(names);
    free(bad_dir);
    return failed;
}
