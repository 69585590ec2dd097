/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer harness: a request document through vtpm_request_parse_json, every profile's translation, and every guard. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vtpm/filter.h>

#include "filter-priv.h"
#include "fuzz.h"

#define CHECK(cond) \
    do { \
        if (!(cond)) \
            __builtin_trap(); \
    } while (0)

/* current, current+strict, legacy, legacy+strict */
static vtpm_filter *filters[4];
static vtpm_request *req;
static vtpm_result *res, *res2;

static void
fuzz_setup(void)
{
    int i;

    if (req)
        return;
    for (i = 0; i < 4; i++) {
        filters[i] = vtpm_filter_new(i < 2 ? VTPM_PROFILE_CURRENT : VTPM_PROFILE_LEGACY,
                                     i % 2 ? VTPM_FILTER_STRICT : 0, NULL);
        CHECK(filters[i]);
        CHECK(vtpm_filter_add_owner_override_role(filters[i], "admin") == VTPM_OK);
    }
    req = vtpm_request_new();
    res = vtpm_result_new();
    res2 = vtpm_result_new();
    CHECK(req && res && res2);
}

/* A message for people: printable ASCII, one line. */
static void
check_printable(const char *msg, size_t size)
{
    size_t i;

    vtpm_fuzz_check_string(msg, size);
    for (i = 0; msg[i]; i++)
        CHECK(msg[i] >= 0x20 && msg[i] < 0x7f);
}

/* A code that has a name, as the CLI's JSON prints it. */
static void
check_code_named(vtpm_code code)
{
    const char *name = vtpm_code_name(code);

    CHECK(code > VTPM_CODE_NONE && code < VTPM_CODE_COUNT);
    CHECK(name && name[0] != '\0' && strcmp(name, "unknown") != 0);
}

/* Appends one result to the outcome: "accept VERSION MODEL TRAITS" or "reject CODE". */
static void
append_result(const vtpm_result *r, char *out, size_t outlen)
{
    if (vtpm_result_accepted(r))
        vtpm_fuzz_append(out, outlen, " accept:%s:%s:%llx", vtpm_version_name(vtpm_result_version(r)),
                         vtpm_model_name(vtpm_result_model(r)),
                         (unsigned long long)vtpm_result_required_traits(r));
    else
        vtpm_fuzz_append(out, outlen, " reject:%s", vtpm_code_name(vtpm_result_code(r)));
}

/* What every translation result must look like. */
static void
check_translation(const vtpm_filter *f, const vtpm_result *r)
{
    vtpm_traitset req_traits = vtpm_result_required_traits(r);
    const char *msg = vtpm_result_message(r);

    if (!vtpm_result_accepted(r)) {
        vtpm_code code = vtpm_result_code(r);

        CHECK(code >= VTPM_CODE_FLAVOR_IMAGE_CONFLICT && code <= VTPM_CODE_UNKNOWN_KEY);
        check_code_named(code);
        if (!(vtpm_filter_flags(f) & VTPM_FILTER_STRICT))
            CHECK(code <= VTPM_CODE_INVALID_SECRET_SECURITY);
        CHECK(msg[0] != '\0');
        check_printable(msg, strlen(msg) + 1);
        CHECK(req_traits == 0);
        return;
    }
    CHECK(vtpm_result_code(r) == VTPM_CODE_NONE);
    CHECK(msg[0] == '\0');
    CHECK((req_traits & ~VTPM_TRAITSET_ALL) == 0);
    if (vtpm_result_version(r) == VTPM_VERSION_NONE) {
        CHECK(req_traits == 0);
        return;
    }
    CHECK(vtpm_result_model(r) == VTPM_MODEL_TIS || vtpm_result_model(r) == VTPM_MODEL_CRB);
    if (vtpm_result_model(r) == VTPM_MODEL_CRB)
        CHECK(vtpm_result_version(r) == VTPM_VERSION_2_0);
    if (vtpm_filter_profile(f) == VTPM_PROFILE_LEGACY) {
        CHECK(vtpm_traitset_count(req_traits) == 1);
        CHECK(vtpm_result_secret_security(r) == VTPM_SECRET_SECURITY_NONE);
    } else {
        CHECK(vtpm_traitset_count(req_traits) == 3);
        CHECK(vtpm_result_secret_security(r) != VTPM_SECRET_SECURITY_NONE);
    }
}

bool
vtpm_fuzz_outcome(const uint8_t *data, size_t size, char *out, size_t outlen)
{
    vtpm_error err;
    vtpm_status st;
    int i, op;

    fuzz_setup();
    out[0] = '\0';
    memset(&err, 0, sizeof(err));
    st = vtpm_request_parse_json(req, (const char *)data, size, &err);
    if (st != VTPM_OK) {
        CHECK(st == VTPM_ERR_BAD_INPUT || st == VTPM_ERR_NO_MEMORY);
        CHECK(err.status == st);
        vtpm_fuzz_check_message(err.message, sizeof(err.message));
        check_printable(err.message, sizeof(err.message));
        /* A failed parse leaves an empty request: no vTPM. */
        CHECK(vtpm_filter_translate(filters[1], req, res) == VTPM_OK);
        CHECK(vtpm_result_accepted(res) && vtpm_result_version(res) == VTPM_VERSION_NONE);
        vtpm_fuzz_append(out, outlen, "error %s: %s", vtpm_status_name(st), err.message);
        return true;
    }
    vtpm_fuzz_append(out, outlen, "ok translate");

    for (i = 0; i < 4; i += 2) {
        /* Strict only adds rejections, after Nova's own. */
        CHECK(vtpm_filter_translate(filters[i], req, res) == VTPM_OK);
        CHECK(vtpm_filter_translate(filters[i + 1], req, res2) == VTPM_OK);
        check_translation(filters[i], res);
        check_translation(filters[i + 1], res2);
        append_result(res, out, outlen);
        append_result(res2, out, outlen);
        if (!vtpm_result_accepted(res))
            CHECK(vtpm_result_code(res2) == vtpm_result_code(res));
        if (vtpm_result_accepted(res2))
            CHECK(vtpm_result_accepted(res) &&
                  vtpm_result_required_traits(res) == vtpm_result_required_traits(res2));
    }

    /* Every operation on a server with this request, by its owner and by another user. */
    vtpm_fuzz_append(out, outlen, " guard");
    for (i = 0; i < 4; i++) {
        CHECK(vtpm_filter_translate(filters[i], req, res2) == VTPM_OK);
        for (op = VTPM_OP_OTHER; op < VTPM_OP_COUNT; op++) {
            const char *roles[] = { "member", (op & 1) ? "admin" : NULL };
            vtpm_guard_request greq = {
                .instance = req, .owner = "alice", .operation = (vtpm_operation)op,
                .new_flavor = req, .requester = (op & 2) ? "bob" : "alice",
                .roles = roles, .n_roles = 2,
            };
            const char *msg;

            CHECK(vtpm_filter_guard(filters[i], &greq, res) == VTPM_OK);
            vtpm_fuzz_append(out, outlen, " %s", vtpm_result_accepted(res) ? "a" :
                             vtpm_code_name(vtpm_result_code(res)));
            msg = vtpm_result_message(res);
            check_printable(msg, strlen(msg) + 1);
            if (op == VTPM_OP_UNKNOWN) {
                /* What the guard cannot classify never runs, vTPM or not. */
                CHECK(vtpm_result_code(res) == VTPM_CODE_UNKNOWN_OPERATION);
            } else if (!vtpm_result_accepted(res2)) {
                /* The server's own request does not translate: that is the answer. */
                CHECK(vtpm_result_code(res) == vtpm_result_code(res2));
            } else if (vtpm_result_version(res2) == VTPM_VERSION_NONE) {
                CHECK(vtpm_result_accepted(res));
            } else if (!vtpm_result_accepted(res)) {
                CHECK(vtpm_result_code(res) >= VTPM_CODE_OPERATION_UNSUPPORTED &&
                      vtpm_result_code(res) < VTPM_CODE_COUNT);
                check_code_named(vtpm_result_code(res));
                CHECK(msg[0] != '\0');
            }
        }
    }
    return true;
}

VTPM_FUZZ_ENTRY_POINT
