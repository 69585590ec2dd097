/* SPDX-License-Identifier: Apache-2.0 */
/* The operation guard, table-driven from tests/data/guard/: C API and vtpm-filter guard. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static char *tmpdir;

/* Parses {"flavor": @flavor, "image": @image} into @req through the JSON reader. */
static void
request_load(vtpm_request *req, json_t *flavor, json_t *image)
{
    json_t *doc = json_pack("{s:O?, s:O?}", "flavor", flavor, "image", image);
    char *text = vt_json_text(doc);
    vtpm_error err = { 0 };

    if (vtpm_request_parse_json(req, text, strlen(text), &err) != VTPM_OK)
        fail_msg("vtpm_request_parse_json: %s", err.message);
    free(text);
    json_decref(doc);
}

/* The guard's decision as the CLI prints it. */
static json_t *
guard_result_json(const vtpm_result *res, vtpm_operation op)
{
    json_t *j;

    if (vtpm_result_accepted(res)) {
        assert_string_equal(vtpm_result_message(res), "");
        j = json_pack("{s:s, s:s}", "result", "allow", "operation", vtpm_operation_name(op));
    } else {
        const char *msg = vtpm_result_message(res);

        assert_true(strlen(msg) > 0);
        assert_null(strchr(msg, '\n'));
        j = json_pack("{s:s, s:s, s:s}", "result", "refuse",
                      "code", vtpm_code_name(vtpm_result_code(res)), "message", msg);
    }
    assert_non_null(j);
    return j;
}

static void
test_guard_case(void **state)
{
    vt_case *c = *state;
    json_t *request = json_object_get(c->doc, "request");
    json_t *instance = json_object_get(request, "instance");
    json_t *requester = json_object_get(request, "requester");
    json_t *roles_json = json_object_get(requester, "roles");
    json_t *override = json_object_get(c->doc, "override_roles");
    vtpm_filter *filter = vt_case_filter(c);
    vtpm_request *inst = vtpm_request_new(), *newf = vtpm_request_new();
    vtpm_result *res = vtpm_result_new();
    vtpm_guard_request greq = { 0 };
    const char *roles[16], *argv[32];
    json_t *actual, *cli_json, *v;
    char *path;
    size_t i;
    int argc = 0;
    vt_run run;

    assert_non_null(instance);
    json_array_foreach(override, i, v)
        assert_int_equal(vtpm_filter_add_owner_override_role(filter, json_string_value(v)),
                         VTPM_OK);

    request_load(inst, json_object_get(instance, "flavor"), json_object_get(instance, "image"));
    greq.instance = inst;
    greq.owner = json_string_value(json_object_get(instance, "owner"));
    greq.operation = vtpm_operation_from_name(
        json_string_value(json_object_get(request, "operation")));
    if (greq.operation == VTPM_OP_RESIZE) {
        /* A resize keeps the image and changes the flavor. */
        request_load(newf, json_object_get(request, "new_flavor"),
                     json_object_get(instance, "image"));
        greq.new_flavor = newf;
    }
    greq.requester = json_string_value(json_object_get(requester, "user"));
    assert_true(json_array_size(roles_json) <= 16);
    json_array_foreach(roles_json, i, v)
        roles[i] = json_string_value(v);
    greq.roles = roles_json ? roles : NULL;
    greq.n_roles = json_array_size(roles_json);

    assert_int_equal(vtpm_filter_guard(filter, &greq, res), VTPM_OK);
    actual = guard_result_json(res, greq.operation);

    /* vtpm-filter guard, in process. */
    path = vt_json_file(tmpdir, "guard.json", request);
    argv[argc++] = "vtpm-filter";
    argv[argc++] = "guard";
    argv[argc++] = "--profile";
    argv[argc++] = vt_case_string(c, "profile", "current");
    if (vt_case_bool(c, "strict", false))
        argv[argc++] = "--strict";
    json_array_foreach(override, i, v) {
        argv[argc++] = "--override-role";
        argv[argc++] = json_string_value(v);
    }
    argv[argc++] = path;
    argv[argc] = NULL;
    vt_cli_run(argv, &run);
    free(path);
    if (run.err_len != 0)
        fail_msg("%s: vtpm-filter printed to stderr: %s", c->name, run.err);
    assert_int_equal(run.status, vtpm_result_accepted(res) ? 0 : 1);
    assert_ptr_equal(strchr(run.out, '\n'), run.out + run.out_len - 1);
    cli_json = json_loads(run.out, 0, NULL);
    assert_non_null(cli_json);
    vt_assert_json_equal(cli_json, actual, "vtpm-filter guard output vs C API");
    json_decref(cli_json);
    vt_run_clear(&run);

    vtpm_result_free(res);
    vtpm_request_free(newf);
    vtpm_request_free(inst);
    vtpm_filter_free(filter);
    vt_case_check(c, actual);
}

static void
test_guard_refuses_invalid_arguments(void **state)
{
    vtpm_filter *filter = vtpm_filter_new(VTPM_PROFILE_CURRENT, 0, NULL);
    vtpm_request *req = vtpm_request_new();
    vtpm_result *res = vtpm_result_new();
    vtpm_guard_request greq = { .instance = req, .operation = VTPM_OP_REBUILD };

    (void)state;
    assert_int_equal(vtpm_request_set_flavor_spec(req, "hw:tpm_version", "2.0"), VTPM_OK);
    assert_int_equal(vtpm_filter_guard(NULL, &greq, res), VTPM_ERR_INVALID_ARG);
    assert_int_equal(vtpm_filter_guard(filter, NULL, res), VTPM_ERR_INVALID_ARG);
    assert_int_equal(vtpm_filter_guard(filter, &greq, NULL), VTPM_ERR_INVALID_ARG);
    greq.instance = NULL;
    assert_int_equal(vtpm_filter_guard(filter, &greq, res), VTPM_ERR_INVALID_ARG);
    greq.instance = req;
    greq.operation = VTPM_OP_COUNT;
    assert_int_equal(vtpm_filter_guard(filter, &greq, res), VTPM_ERR_INVALID_ARG);
    greq.operation = (vtpm_operation)-1;
    assert_int_equal(vtpm_filter_guard(filter, &greq, res), VTPM_ERR_INVALID_ARG);
    /* resize needs the new flavor */
    greq.operation = VTPM_OP_RESIZE;
    assert_int_equal(vtpm_filter_guard(filter, &greq, res), VTPM_ERR_INVALID_ARG);
    greq.operation = VTPM_OP_REBUILD;
    assert_int_equal(vtpm_filter_guard(filter, &greq, res), VTPM_OK);
    assert_false(vtpm_result_accepted(res));
    assert_int_equal(vtpm_result_code(res), VTPM_CODE_OPERATION_UNSUPPORTED);

    assert_int_equal(vtpm_filter_add_owner_override_role(NULL, "admin"), VTPM_ERR_INVALID_ARG);
    assert_int_equal(vtpm_filter_add_owner_override_role(filter, NULL), VTPM_ERR_INVALID_ARG);
    assert_int_equal(vtpm_filter_add_owner_override_role(filter, ""), VTPM_ERR_INVALID_ARG);

    vtpm_result_free(res);
    vtpm_request_free(req);
    vtpm_filter_free(filter);
}

/* NULL entries in the roles array are skipped; a NULL array with a count is no roles. */
static void
test_guard_roles_tolerate_null_entries(void **state)
{
    vtpm_filter *filter = vtpm_filter_new(VTPM_PROFILE_CURRENT, 0, NULL);
    vtpm_request *req = vtpm_request_new();
    vtpm_result *res = vtpm_result_new();
    const char *roles[] = { NULL, "member", NULL, "admin" };
    vtpm_guard_request greq = {
        .instance = req, .owner = "alice", .operation = VTPM_OP_COLD_MIGRATE,
        .requester = "bob", .roles = roles, .n_roles = 4,
    };

    (void)state;
    assert_int_equal(vtpm_request_set_flavor_spec(req, "hw:tpm_version", "2.0"), VTPM_OK);
    assert_int_equal(vtpm_filter_guard(filter, &greq, res), VTPM_OK);
    assert_int_equal(vtpm_result_code(res), VTPM_CODE_OWNER_ONLY);
    assert_int_equal(vtpm_filter_add_owner_override_role(filter, "admin"), VTPM_OK);
    assert_int_equal(vtpm_filter_guard(filter, &greq, res), VTPM_OK);
    assert_true(vtpm_result_accepted(res));
    greq.roles = NULL;
    assert_int_equal(vtpm_filter_guard(filter, &greq, res), VTPM_OK);
    assert_int_equal(vtpm_result_code(res), VTPM_CODE_OWNER_ONLY);

    vtpm_result_free(res);
    vtpm_request_free(req);
    vtpm_filter_free(filter);
}

int
main(void)
{
    static const struct CMUnitTest extra[] = {
        cmocka_unit_test(test_guard_refuses_invalid_arguments),
        cmocka_unit_test(test_guard_roles_tolerate_null_entries),
    };
    vt_suite suite;
    int failed;

    vt_suite_load(&suite, "guard", test_guard_case);
    tmpdir = vt_tmpdir_new();
    failed = vt_suite_run(&suite, "guard", extra, sizeof(extra) / sizeof(extra[0]));
    vt_tmpdir_remove(tmpdir);
    free(tmpdir);
    vt_suite_free(&suite);
    return failed;
}
