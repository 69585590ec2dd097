/* SPDX-License-Identifier: Apache-2.0 */
/* Request translation, table-driven from tests/data/translate/: C API (two ways) and CLI. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* One request object reused by every case, as a scheduler would. */
static vtpm_request *shared_req;
static char *tmpdir;

/* Translates @req with the case's filter and returns the CLI-shaped result. */
static json_t *
translate_json(vtpm_filter *filter, const vtpm_request *req)
{
    vtpm_result *res = vtpm_result_new();
    json_t *j;

    assert_non_null(res);
    assert_int_equal(vtpm_filter_translate(filter, req, res), VTPM_OK);
    j = vt_result_json(res);
    vtpm_result_free(res);
    return j;
}

static void
test_translate_case(void **state)
{
    vt_case *c = *state;
    json_t *request = json_object_get(c->doc, "request");
    vtpm_filter *filter = vt_case_filter(c);
    vtpm_error err = { 0 };
    json_t *via_json, *via_set, *cli_json;
    char *text, *path;
    const char *argv[8];
    int argc = 0;
    vt_run run;
    bool accepted;

    assert_non_null(request);

    /* 1. The library's JSON reader. */
    text = vt_json_text(request);
    if (vtpm_request_parse_json(shared_req, text, strlen(text), &err) != VTPM_OK)
        fail_msg("%s: vtpm_request_parse_json: %s", c->name, err.message);
    free(text);
    via_json = translate_json(filter, shared_req);

    /* 2. The setters a scheduler calls for each extra spec and property. */
    vt_request_fill_direct(shared_req, request);
    via_set = translate_json(filter, shared_req);
    vt_assert_json_equal(via_set, via_json, "result through vtpm_request_set_*");
    json_decref(via_set);

    /* 3. vtpm-filter check, in process. */
    path = vt_json_file(tmpdir, "request.json", request);
    argv[argc++] = "vtpm-filter";
    argv[argc++] = "check";
    argv[argc++] = "--profile";
    argv[argc++] = vt_case_string(c, "profile", "current");
    if (vt_case_bool(c, "strict", false))
        argv[argc++] = "--strict";
    argv[argc++] = path;
    argv[argc] = NULL;
    vt_cli_run(argv, &run);
    free(path);
    accepted = strcmp(json_string_value(json_object_get(via_json, "result")), "accept") == 0;
    if (run.err_len != 0)
        fail_msg("%s: vtpm-filter printed to stderr: %s", c->name, run.err);
    assert_int_equal(run.status, accepted ? 0 : 1);
    assert_true(run.out_len > 0 && run.out[run.out_len - 1] == '\n');
    /* exactly one line */
    assert_ptr_equal(strchr(run.out, '\n'), run.out + run.out_len - 1);
    /* The CLI carries the request's "id" into its result, first. */
    if (json_object_get(request, "id")) {
        json_t *with_id = json_pack("{s:O}", "id", json_object_get(request, "id"));

        assert_non_null(with_id);
        assert_int_equal(json_object_update(with_id, via_json), 0);
        json_decref(via_json);
        via_json = with_id;
    }
    cli_json = json_loads(run.out, 0, NULL);
    assert_non_null(cli_json);
    vt_assert_json_equal(cli_json, via_json, "vtpm-filter check output vs C API");
    json_decref(cli_json);
    vt_run_clear(&run);

    vtpm_filter_free(filter);
    vt_case_check(c, via_json);
}

static void
test_translate_refuses_null_arguments(void **state)
{
    vtpm_filter *filter = vtpm_filter_new(VTPM_PROFILE_CURRENT, 0, NULL);
    vtpm_request *req = vtpm_request_new();
    vtpm_result *res = vtpm_result_new();

    (void)state;
    assert_non_null(filter);
    assert_non_null(req);
    assert_non_null(res);
    assert_int_equal(vtpm_filter_translate(NULL, req, res), VTPM_ERR_INVALID_ARG);
    assert_int_equal(vtpm_filter_translate(filter, NULL, res), VTPM_ERR_INVALID_ARG);
    assert_int_equal(vtpm_filter_translate(filter, req, NULL), VTPM_ERR_INVALID_ARG);
    assert_int_equal(vtpm_filter_translate(filter, req, res), VTPM_OK);
    assert_true(vtpm_result_accepted(res));
    assert_int_equal(vtpm_request_set_flavor_spec(NULL, "hw:tpm_version", "2.0"),
                     VTPM_ERR_INVALID_ARG);
    assert_int_equal(vtpm_request_set_flavor_spec(req, NULL, "2.0"), VTPM_ERR_INVALID_ARG);
    assert_int_equal(vtpm_request_set_image_property(NULL, "hw_tpm_version", "2.0"),
                     VTPM_ERR_INVALID_ARG);
    assert_int_equal(vtpm_request_set_image_property(req, NULL, "2.0"), VTPM_ERR_INVALID_ARG);
    vtpm_result_free(res);
    vtpm_request_free(req);
    vtpm_filter_free(filter);
}

static void
test_request_key_set_twice_keeps_last_value(void **state)
{
    vtpm_filter *filter = vtpm_filter_new(VTPM_PROFILE_CURRENT, 0, NULL);
    vtpm_request *req = vtpm_request_new();
    vtpm_result *res = vtpm_result_new();

    (void)state;
    assert_int_equal(vtpm_request_set_flavor_spec(req, "hw:tpm_version", "1.2"), VTPM_OK);
    assert_int_equal(vtpm_request_set_flavor_spec(req, "hw:tpm_version", "2.0"), VTPM_OK);
    assert_int_equal(vtpm_request_set_image_property(req, "hw_tpm_model", "tpm-tis"), VTPM_OK);
    assert_int_equal(vtpm_request_set_image_property(req, "hw_tpm_model", "tpm-crb"), VTPM_OK);
    assert_int_equal(vtpm_filter_translate(filter, req, res), VTPM_OK);
    assert_true(vtpm_result_accepted(res));
    assert_int_equal(vtpm_result_version(res), VTPM_VERSION_2_0);
    assert_int_equal(vtpm_result_model(res), VTPM_MODEL_CRB);

    /* NULL unsets: the version is gone, so nothing is requested. */
    assert_int_equal(vtpm_request_set_flavor_spec(req, "hw:tpm_version", NULL), VTPM_OK);
    assert_int_equal(vtpm_filter_translate(filter, req, res), VTPM_OK);
    assert_true(vtpm_result_accepted(res));
    assert_int_equal(vtpm_result_version(res), VTPM_VERSION_NONE);

    /* reset forgets everything. */
    assert_int_equal(vtpm_request_set_flavor_spec(req, "hw:tpm_version", "bogus"), VTPM_OK);
    vtpm_request_reset(req);
    assert_int_equal(vtpm_filter_translate(filter, req, res), VTPM_OK);
    assert_true(vtpm_result_accepted(res));
    assert_int_equal(vtpm_result_version(res), VTPM_VERSION_NONE);
    vtpm_request_reset(NULL);

    vtpm_result_free(res);
    vtpm_request_free(req);
    vtpm_filter_free(filter);
}

/* A request refilled many times must not keep stale values in its arena. */
static void
test_request_reused_many_times_gives_fresh_results(void **state)
{
    vtpm_filter *filter = vtpm_filter_new(VTPM_PROFILE_CURRENT, 0, NULL);
    vtpm_request *req = vtpm_request_new();
    vtpm_result *res = vtpm_result_new();
    char big[1000];
    int i;

    (void)state;
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    for (i = 0; i < 2000; i++) {
        vtpm_request_reset(req);
        assert_int_equal(vtpm_request_set_flavor_spec(req, "hw:cpu_policy", big), VTPM_OK);
        if (i % 3 == 0)
            assert_int_equal(vtpm_request_set_image_property(req, "hw_tpm_version", big),
                             VTPM_OK);
        assert_int_equal(vtpm_request_set_flavor_spec(req, "hw:tpm_version",
                                                      i % 3 ? "2.0" : ""), VTPM_OK);
        assert_int_equal(vtpm_request_set_flavor_spec(req, "hw:tpm_model",
                                                      i % 2 ? "tpm-crb" : "tpm-tis"),
                         VTPM_OK);
        assert_int_equal(vtpm_filter_translate(filter, req, res), VTPM_OK);
        if (i % 3 == 0) {
            assert_false(vtpm_result_accepted(res));
            assert_int_equal(vtpm_result_code(res), VTPM_CODE_INVALID_VERSION);
        } else {
            assert_true(vtpm_result_accepted(res));
            assert_int_equal(vtpm_result_model(res), i % 2 ? VTPM_MODEL_CRB : VTPM_MODEL_TIS);
        }
    }
    vtpm_result_free(res);
    vtpm_request_free(req);
    vtpm_filter_free(filter);
}

int
main(void)
{
    static const struct CMUnitTest extra[] = {
        cmocka_unit_test(test_translate_refuses_null_arguments),
        cmocka_unit_test(test_request_key_set_twice_keeps_last_value),
        cmocka_unit_test(test_request_reused_many_times_gives_fresh_results),
    };
    vt_suite suite;
    int failed;

    vt_suite_load(&suite, "translate", test_translate_case);
    shared_req = vtpm_request_new();
    tmpdir = vt_tmpdir_new();
    failed = vt_suite_run(&suite, "translate", extra, sizeof(extra) / sizeof(extra[0]));
    vt_tmpdir_remove(tmpdir);
    free(tmpdir);
    vtpm_request_free(shared_req);
    vt_suite_free(&suite);
    return failed;
}
