/* SPDX-License-Identifier: Apache-2.0 */
/* The outcome table: vtpm_filter_required_traits and vtpm_filter_translate decide every request exactly as the rules do. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter-priv.h"
#include "testutil.h"
#include "util.h"

/*
 * The reference is vtpm_filter_translate_rules(): Nova's rules run on the
 * request itself, which test_translate.c pins against docs/filter.md. The table
 * path must agree with it on every request, whatever its strings: every
 * field of the result, the message included, and the one-call decision.
 */

typedef struct {
    vtpm_profile profile;
    unsigned int flags;
    const char *name;
} filter_kind;

static const filter_kind filter_kinds[] = {
    { VTPM_PROFILE_CURRENT, 0, "current" },
    { VTPM_PROFILE_CURRENT, VTPM_FILTER_STRICT, "current --strict" },
    { VTPM_PROFILE_LEGACY, 0, "legacy" },
    { VTPM_PROFILE_LEGACY, VTPM_FILTER_STRICT, "legacy --strict" },
};
#define N_KINDS (sizeof(filter_kinds) / sizeof(filter_kinds[0]))

/* What was set on the request under test, for failure messages. */
typedef struct {
    char text[2048];
    size_t len;
} request_log;

static void
log_add(request_log *log, const char *where, const char *key, const char *value)
{
    char q[96];
    int n;

    if (log->len >= sizeof(log->text))
        return;
    n = snprintf(log->text + log->len, sizeof(log->text) - log->len, " %s %s=%s",
                 where, key, value ? vtpm_quote(q, sizeof(q), value) : "NULL");
    if (n > 0)
        log->len += (size_t)n;
}

static void
set_flavor(vtpm_request *req, request_log *log, const char *key, const char *value)
{
    assert_int_equal(vtpm_request_set_flavor_spec(req, key, value), VTPM_OK);
    log_add(log, "flavor", key, value);
}

static void
set_image(vtpm_request *req, request_log *log, const char *key, const char *value)
{
    assert_int_equal(vtpm_request_set_image_property(req, key, value), VTPM_OK);
    log_add(log, "image", key, value);
}

/*
 * Decides @req three ways under @filter: the rules, vtpm_filter_translate
 * and vtpm_filter_required_traits, and fails naming the request and filter
 * when any field differs. Returns whether the rules accepted it.
 */
static vtpm_result *ref, *res; /* made by main(), reused by every check */

static const char *
name_or_dash(const char *name)
{
    return name ? name : "-";
}

static bool
decide_all_ways(const vtpm_filter *filter, const char *filter_name,
                const vtpm_request *req, const request_log *log)
{
    vtpm_traitset required = ~(vtpm_traitset)0;
    vtpm_code code = VTPM_CODE_COUNT;
    bool accepted, ok;

    vtpm_filter_translate_rules(filter, req, ref);
    assert_int_equal(vtpm_filter_translate(filter, req, res), VTPM_OK);
    accepted = vtpm_filter_required_traits(filter, req, &required, &code);

    ok = vtpm_result_accepted(res) == vtpm_result_accepted(ref) &&
         vtpm_result_code(res) == vtpm_result_code(ref) &&
         vtpm_result_version(res) == vtpm_result_version(ref) &&
         vtpm_result_model(res) == vtpm_result_model(ref) &&
         vtpm_result_secret_security(res) == vtpm_result_secret_security(ref) &&
         vtpm_result_required_traits(res) == vtpm_result_required_traits(ref) &&
         strcmp(vtpm_result_message(res), vtpm_result_message(ref)) == 0 &&
         accepted == vtpm_result_accepted(ref) &&
         code == vtpm_result_code(ref) &&
         required == vtpm_result_required_traits(ref);
    if (!ok)
        fail_msg("%s:%s\n"
                 "  rules:           %s code=%s traits=0x%" PRIx64 " %s/%s/%s '%s'\n"
                 "  translate:       %s code=%s traits=0x%" PRIx64 " %s/%s/%s '%s'\n"
                 "  required_traits: %s code=%s traits=0x%" PRIx64,
                 filter_name, log->text,
                 vtpm_result_accepted(ref) ? "accept" : "reject",
                 vtpm_code_name(vtpm_result_code(ref)),
                 (uint64_t)vtpm_result_required_traits(ref),
                 name_or_dash(vtpm_version_name(vtpm_result_version(ref))),
                 name_or_dash(vtpm_model_name(vtpm_result_model(ref))),
                 name_or_dash(vtpm_secret_security_name(vtpm_result_secret_security(ref))),
                 vtpm_result_message(ref),
                 vtpm_result_accepted(res) ? "accept" : "reject",
                 vtpm_code_name(vtpm_result_code(res)),
                 (uint64_t)vtpm_result_required_traits(res),
                 name_or_dash(vtpm_version_name(vtpm_result_version(res))),
                 name_or_dash(vtpm_model_name(vtpm_result_model(res))),
                 name_or_dash(vtpm_secret_security_name(vtpm_result_secret_security(res))),
                 vtpm_result_message(res),
                 accepted ? "accept" : "reject", vtpm_code_name(code),
                 (uint64_t)required);
    return accepted;
}

/* ------------------------------------------------------------------------ */
/* Every state combination.                                                  */

/*
 * The values a slot is given, covering every state the table tells apart:
 * absent, unset again (a valid value then NULL: no stale value may count),
 * "", each valid value, and two different invalid strings (so that two
 * invalid values are sometimes the same string and sometimes not), one of
 * them longer than a message quotes.
 */
#define UNSET_AGAIN ((const char *)1)

static const char *const version_values[] = {
    NULL, UNSET_AGAIN, "", "1.2", "2.0", "2.0 ", "3.0",
};
static const char *const model_values[] = {
    NULL, UNSET_AGAIN, "", "tpm-tis", "tpm-crb", "TPM-CRB",
    "tpm-tis-with-a-very-long-suffix-that-is-longer-than-any-message-quotes-it",
};
static const char *const secret_security_values[] = {
    NULL, UNSET_AGAIN, "", "user", "host", "deployment", "admin",
};
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Unknown TPM keys: none, one in the flavor, one in the image, the image
 * key Nova does not have (hw_tpm_secret_security), and two of them. */
#define N_UNKNOWN 5

static void
set_value(vtpm_request *req, request_log *log, vtpm_source source,
          const char *key, const char *value, const char *valid)
{
    void (*set)(vtpm_request *, request_log *, const char *, const char *) =
        source == VTPM_SOURCE_FLAVOR ? set_flavor : set_image;

    if (!value)
        return;
    if (value == UNSET_AGAIN) {
        set(req, log, key, valid);
        set(req, log, key, NULL);
        return;
    }
    set(req, log, key, value);
}

static void
set_unknown(vtpm_request *req, request_log *log, unsigned int which)
{
    switch (which) {
    case 1:
        set_flavor(req, log, "hw:tpm_flavour", "2.0");
        break;
    case 2:
        set_image(req, log, "hw_tpm_versions", "2.0");
        break;
    case 3:
        set_image(req, log, "hw_tpm_secret_security", "host");
        break;
    case 4:
        set_flavor(req, log, "hw:tpm_", "");
        set_image(req, log, "hw_tpm_x", "y");
        break;
    default:
        break;
    }
}

static void
test_every_state_combination_decides_as_the_rules(void **state)
{
    vtpm_request *req = vtpm_request_new();
    unsigned long n = 0, n_accepted = 0;
    size_t k, fv, iv, fm, im, ss;
    unsigned int unknown;

    (void)state;
    assert_non_null(req);
    for (k = 0; k < N_KINDS; k++) {
        vtpm_filter *filter = vtpm_filter_new(filter_kinds[k].profile,
                                              filter_kinds[k].flags, NULL);

        assert_non_null(filter);
        for (fv = 0; fv < N_OF(version_values); fv++)
            for (iv = 0; iv < N_OF(version_values); iv++)
                for (fm = 0; fm < N_OF(model_values); fm++)
                    for (im = 0; im < N_OF(model_values); im++)
                        for (ss = 0; ss < N_OF(secret_security_values); ss++)
                            for (unknown = 0; unknown < N_UNKNOWN; unknown++) {
                                request_log log = { .len = 0 };

                                log.text[0] = '\0';
                                vtpm_request_reset(req);
                                set_value(req, &log, VTPM_SOURCE_FLAVOR, "hw:tpm_version",
                                          version_values[fv], "2.0");
                                set_value(req, &log, VTPM_SOURCE_IMAGE, "hw_tpm_version",
                                          version_values[iv], "1.2");
                                set_value(req, &log, VTPM_SOURCE_FLAVOR, "hw:tpm_model",
                                          model_values[fm], "tpm-crb");
                                set_value(req, &log, VTPM_SOURCE_IMAGE, "hw_tpm_model",
                                          model_values[im], "tpm-tis");
                                set_value(req, &log, VTPM_SOURCE_FLAVOR, "hw:tpm_secret_security",
                                          secret_security_values[ss], "deployment");
                                set_unknown(req, &log, unknown);
                                n_accepted += decide_all_ways(filter, filter_kinds[k].name,
                                                              req, &log);
                                n++;
                            }
        vtpm_filter_free(filter);
    }
    vtpm_request_free(req);
    /* Not vacuous: both answers occur, many times. */
    assert_true(n_accepted > n / 10);
    assert_true(n - n_accepted > n / 10);
    print_message("# %lu requests, %lu accepted\n", n, n_accepted);
}

/* ------------------------------------------------------------------------ */
/* Random requests with arbitrary strings.                                   */

static uint64_t
rng_next(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * UINT64_C(2685821657736338717);
}

static size_t
rng_below(uint64_t *s, size_t n)
{
    return (size_t)(rng_next(s) % n);
}

static const char *const flavor_keys[] = {
    "hw:tpm_version", "hw:tpm_model", "hw:tpm_secret_security",
    "hw:tpm_version", "hw:tpm_model", "hw:tpm_secret_security",
    "hw:tpm_Version", "hw:tpm_", "hw:tpm_versio", "hw:cpu_policy", "hw_tpm_version",
};
static const char *const image_keys[] = {
    "hw_tpm_version", "hw_tpm_model", "hw_tpm_version", "hw_tpm_model",
    "hw_tpm_secret_security", "hw_tpm_model ", "hw_disk_bus", "hw:tpm_model",
};
static const char *const value_pool[] = {
    "1.2", "2.0", "tpm-tis", "tpm-crb", "user", "host", "deployment",
    "", " 2.0", "2.0\n", "1.20", "2", "TPM-TIS", "tpm_crb", "User", "hosts",
    "\xc3\xa9", "null",
};

/* A value: often a known one, sometimes NULL, else random bytes (no NUL). */
static const char *
random_value(uint64_t *rng, char *buf, size_t size)
{
    size_t r = rng_below(rng, 10), len, i;

    if (r < 6)
        return value_pool[rng_below(rng, N_OF(value_pool))];
    if (r == 6)
        return NULL;
    len = rng_below(rng, size < 100 ? size - 1 : 100);
    for (i = 0; i < len; i++) {
        /* Mostly the characters of valid values, so near-misses are common. */
        static const char near[] = "12.0tpm-iscrbuserhodeploymnt ";

        buf[i] = rng_below(rng, 4) == 0 ? (char)(1 + rng_below(rng, 255))
                                        : near[rng_below(rng, sizeof(near) - 1)];
    }
    buf[len] = '\0';
    return buf;
}

static void
test_random_requests_decide_as_the_rules(void **state)
{
    vtpm_filter *filters[N_KINDS];
    vtpm_request *req = vtpm_request_new();
    uint64_t rng = UINT64_C(0x2545f4914f6cdd1d);
    unsigned long n, n_accepted = 0;
    const unsigned long total = 100000;
    size_t k;

    (void)state;
    assert_non_null(req);
    for (k = 0; k < N_KINDS; k++) {
        filters[k] = vtpm_filter_new(filter_kinds[k].profile, filter_kinds[k].flags, NULL);
        assert_non_null(filters[k]);
    }
    for (n = 0; n < total; n++) {
        request_log log = { .len = 0 };
        size_t n_keys = rng_below(&rng, 8), i;
        char buf[128];

        log.text[0] = '\0';
        vtpm_request_reset(req);
        for (i = 0; i < n_keys; i++) {
            const char *value = random_value(&rng, buf, sizeof(buf));

            if (rng_below(&rng, 3) != 0)
                set_flavor(req, &log, flavor_keys[rng_below(&rng, N_OF(flavor_keys))],
                           value);
            else
                set_image(req, &log, image_keys[rng_below(&rng, N_OF(image_keys))],
                          value);
        }
        /* Now and then the same invalid string on both sides. */
        if (rng_below(&rng, 8) == 0) {
            const char *v = random_value(&rng, buf, sizeof(buf));

            set_flavor(req, &log, "hw:tpm_model", v);
            set_image(req, &log, "hw_tpm_model", v);
        }
        for (k = 0; k < N_KINDS; k++)
            n_accepted += decide_all_ways(filters[k], filter_kinds[k].name, req, &log);
    }
    for (k = 0; k < N_KINDS; k++)
        vtpm_filter_free(filters[k]);
    vtpm_request_free(req);
    assert_true(n_accepted > total * N_KINDS / 10);
    assert_true(total * N_KINDS - n_accepted > total * N_KINDS / 10);
    print_message("# %lu requests under each of %zu filters, %lu decisions accepted\n",
                  total, N_KINDS, n_accepted);
}

/* ------------------------------------------------------------------------ */
/* The call's contract at its edges.                                         */

static void
test_required_traits_of_an_accepted_request(void **state)
{
    vtpm_filter *filter = vtpm_filter_new(VTPM_PROFILE_CURRENT, 0, NULL);
    vtpm_request *req = vtpm_request_new();
    vtpm_traitset required = 0;
    vtpm_code code = VTPM_CODE_COUNT;

    (void)state;
    assert_non_null(filter);
    assert_non_null(req);
    /* No TPM key: accepted, no vTPM, nothing required. */
    assert_true(vtpm_filter_required_traits(filter, req, &required, &code));
    assert_int_equal(required, 0);
    assert_int_equal(code, VTPM_CODE_NONE);

    assert_int_equal(vtpm_request_set_flavor_spec(req, "hw:tpm_version", "2.0"), VTPM_OK);
    assert_int_equal(vtpm_request_set_image_property(req, "hw_tpm_model", "tpm-crb"), VTPM_OK);
    assert_true(vtpm_filter_required_traits(filter, req, &required, &code));
    assert_int_equal(required, VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0) |
                               VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_CRB) |
                               VTPM_TRAITSET_BIT(VTPM_TRAIT_SECRET_SECURITY_USER));
    assert_int_equal(code, VTPM_CODE_NONE);
    /* Either output may be NULL. */
    assert_true(vtpm_filter_required_traits(filter, req, NULL, NULL));
    vtpm_request_free(req);
    vtpm_filter_free(filter);
}

static void
test_required_traits_of_a_rejected_request(void **state)
{
    vtpm_filter *filter = vtpm_filter_new(VTPM_PROFILE_LEGACY, 0, NULL);
    vtpm_request *req = vtpm_request_new();
    vtpm_traitset required = ~(vtpm_traitset)0;
    vtpm_code code = VTPM_CODE_NONE;

    (void)state;
    assert_non_null(filter);
    assert_non_null(req);
    assert_int_equal(vtpm_request_set_flavor_spec(req, "hw:tpm_version", "1.2"), VTPM_OK);
    assert_int_equal(vtpm_request_set_flavor_spec(req, "hw:tpm_model", "tpm-crb"), VTPM_OK);
    assert_false(vtpm_filter_required_traits(filter, req, &required, &code));
    assert_int_equal(required, 0);
    assert_int_equal(code, VTPM_CODE_CRB_REQUIRES_2_0);
    assert_false(vtpm_filter_required_traits(filter, req, NULL, &code));
    assert_false(vtpm_filter_required_traits(filter, req, &required, NULL));
    vtpm_request_free(req);
    vtpm_filter_free(filter);
}

static void
test_required_traits_without_filter_or_request_decides_nothing(void **state)
{
    vtpm_filter *filter = vtpm_filter_new(VTPM_PROFILE_CURRENT, 0, NULL);
    vtpm_request *req = vtpm_request_new();
    vtpm_traitset required = ~(vtpm_traitset)0;
    vtpm_code code = VTPM_CODE_COUNT;

    (void)state;
    assert_non_null(filter);
    assert_non_null(req);
    assert_false(vtpm_filter_required_traits(NULL, req, &required, &code));
    assert_int_equal(required, 0);
    assert_int_equal(code, VTPM_CODE_NONE);
    required = ~(vtpm_traitset)0;
    code = VTPM_CODE_COUNT;
    assert_false(vtpm_filter_required_traits(filter, NULL, &required, &code));
    assert_int_equal(required, 0);
    assert_int_equal(code, VTPM_CODE_NONE);
    assert_false(vtpm_filter_required_traits(NULL, NULL, NULL, NULL));
    vtpm_request_free(req);
    vtpm_filter_free(filter);
}

int
main(void)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_required_traits_of_an_accepted_request),
        cmocka_unit_test(test_required_traits_of_a_rejected_request),
        cmocka_unit_test(test_required_traits_without_filter_or_request_decides_nothing),
        cmocka_unit_test(test_every_state_combination_decides_as_the_rules),
        cmocka_unit_test(test_random_requests_decide_as_the_rules),
    };

    int failed;

    ref = vtpm_result_new();
    res = vtpm_result_new();
    if (!ref || !res) {
        fprintf(stderr, "test_outcomes: out of memory\n");
        return 1;
    }
    failed = cmocka_run_group_tests_name("outcomes", tests, NULL, NULL);
    vtpm_result_free(res);
    vtpm_result_free(ref);
    return failed;
}
