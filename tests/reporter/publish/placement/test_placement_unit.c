/* SPDX-License-Identifier: Apache-2.0 */
/* Pure parts of the Placement client: microversions, trait merge, error text, config checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "conf.h"
#include "keystone.h"
#include "placement-priv.h"

static void
test_microversion_parse_accepts_only_one_dot_decimal(void **state)
{
    assert_int_equal(vtpm_placement_microversion_parse("1.39"), 39);
    assert_int_equal(vtpm_placement_microversion_parse("1.0"), 0);
    assert_int_equal(vtpm_placement_microversion_parse("1.6"), 6);
    assert_int_equal(vtpm_placement_microversion_parse("2.1"), -1);
    assert_int_equal(vtpm_placement_microversion_parse("1."), -1);
    assert_int_equal(vtpm_placement_microversion_parse("1.3a"), -1);
    assert_int_equal(vtpm_placement_microversion_parse("1.-3"), -1);
    assert_int_equal(vtpm_placement_microversion_parse("latest"), -1);
    assert_int_equal(vtpm_placement_microversion_parse(NULL), -1);
}

static void
test_merge_keeps_unmanaged_and_replaces_managed(void **state)
{
    json_t *current = json_pack("[s,s,s]", "HW_CPU_X86_AVX2",
                                "COMPUTE_SECURITY_TPM_1_2", "CUSTOM_X");
    json_t *out = NULL;
    vtpm_traitset want = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0) |
                         VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_CRB);
    vtpm_traitset have = vtpm_placement_traits_merge(current, want, &out);
    char *text;

    assert_int_equal(have, VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2));
    text = json_dumps(out, JSON_COMPACT);
    assert_string_equal(text, "[\"HW_CPU_X86_AVX2\",\"CUSTOM_X\","
                        "\"COMPUTE_SECURITY_TPM_2_0\",\"COMPUTE_SECURITY_TPM_CRB\"]");
    free(text);
    json_decref(out);
    json_decref(current);
}

static void
test_merge_of_empty_current_and_empty_want_is_empty(void **state)
{
    json_t *current = json_array();
    json_t *out = NULL;

    assert_int_equal(vtpm_placement_traits_merge(current, 0, &out), 0);
    assert_int_equal(json_array_size(out), 0);
    json_decref(out);
    json_decref(current);
}

static void
test_merge_ignores_non_string_entries(void **state)
{
    json_t *current = json_pack("[i,s,n]", 3, "COMPUTE_SECURITY_TPM_2_0");
    json_t *out = NULL;

    assert_int_equal(vtpm_placement_traits_merge(current, 0, &out),
                     VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0));
    assert_int_equal(json_array_size(out), 0);
    json_decref(out);
    json_decref(current);
}

static void
test_error_text_uses_placement_detail_and_code(void **state)
{
    const char *body =
        "{\"errors\": [{\"status\": 409, \"title\": \"Conflict\", \"detail\": "
        "\"There was a conflict when trying to complete your request.\\n\\n "
        "Resource provider's generation already changed. Please update the "
        "generation and try again.  \", \"code\": \"placement.concurrent_update\", "
        "\"request_id\": \"req-1\"}]}";
    char buf[512], code[64];

    vtpm_placement_error_text(409, body, buf, sizeof(buf), code, sizeof(code));
    assert_string_equal(code, "placement.concurrent_update");
    assert_string_equal(buf, "HTTP 409 Conflict: There was a conflict when trying to "
                        "complete your request. Resource provider's generation already "
                        "changed. Please update the generation and try again. "
                        "(placement.concurrent_update)");
}

static void
test_error_text_quotes_a_body_that_is_not_json(void **state)
{
    char buf[256], code[64] = "x";

    vtpm_placement_error_text(502, "<html>\nBad Gateway</html>", buf, sizeof(buf), code,
                              sizeof(code));
    assert_string_equal(code, "");
    assert_string_equal(buf, "HTTP 502: '<html>\\x0aBad Gateway</html>'");
    vtpm_placement_error_text(503, "", buf, sizeof(buf), NULL, 0);
    assert_string_equal(buf, "HTTP 503 with an empty body");
}

static void
test_error_text_reads_webob_message(void **state)
{
    char buf[256];

    vtpm_placement_error_text(401, "{\"message\": \"This server could not verify that "
                              "you are authorized.\", \"code\": \"401 Unauthorized\", "
                              "\"title\": \"Unauthorized\"}", buf, sizeof(buf), NULL, 0);
    assert_string_equal(buf, "HTTP 401 Unauthorized: This server could not verify that "
                        "you are authorized.");
}

static void
test_keystone_time_parses_utc_with_fraction(void **state)
{
    assert_int_equal(vtpm_keystone_parse_time("1970-01-01T00:01:40.000000Z"), 100);
    assert_int_equal(vtpm_keystone_parse_time("2024-05-01T12:00:00Z"), 1714564800);
    assert_int_equal(vtpm_keystone_parse_time("2024-05-01T12:00:00+00:00"), 1714564800);
    assert_int_equal(vtpm_keystone_parse_time("2024-05-01T12:00:00+02:00"), -1);
    assert_int_equal(vtpm_keystone_parse_time("tomorrow"), -1);
    assert_int_equal(vtpm_keystone_parse_time(NULL), -1);
}

static void
test_auth_names_round_trip(void **state)
{
    for (int a = VTPM_PLACEMENT_AUTH_NONE; a <= VTPM_PLACEMENT_AUTH_APPLICATION_CREDENTIAL;
         a++)
        assert_int_equal(vtpm_placement_auth_from_name(vtpm_placement_auth_name(a)), a);
    assert_int_equal(vtpm_placement_auth_from_name("kerberos"), -1);
    assert_null(vtpm_placement_auth_name(99));
}

/* A configuration and the message client_new() must give for it ("" = accepted). */
typedef struct {
    const char *url, *microversion, *uuid, *token, *auth_url, *user, *password;
    vtpm_placement_auth auth;
    const char *expect;
} conf_case;

static void
test_client_new_checks_the_configuration(void **state)
{
    static const conf_case cases[] = {
        { .url = "http://127.0.0.1:1", .expect = "" },
        { .url = NULL, .expect = "placement needs a url" },
        { .url = "ftp://x", .expect = "placement url 'ftp://x' is not an http:// or https:// URL" },
        { .url = "http://x", .microversion = "1.5",
          .expect = "placement microversion '1.5' not usable: 'auto' or 1.6 to 1.39" },
        { .url = "http://x", .microversion = "1.40",
          .expect = "placement microversion '1.40' not usable: 'auto' or 1.6 to 1.39" },
        { .url = "http://x", .microversion = "auto", .expect = "" },
        { .url = "http://x", .uuid = "not-a-uuid",
          .expect = "placement provider_uuid 'not-a-uuid' is not a UUID" },
        { .url = "http://x", .auth = VTPM_PLACEMENT_AUTH_TOKEN,
          .expect = "placement auth 'token' needs a token" },
        { .url = "http://x", .auth = VTPM_PLACEMENT_AUTH_PASSWORD,
          .expect = "placement auth 'password' needs an auth_url" },
        { .url = "http://x", .auth = VTPM_PLACEMENT_AUTH_PASSWORD, .auth_url = "http://k",
          .user = "u", .expect = "placement auth 'password' needs a username and a password" },
        { .auth = VTPM_PLACEMENT_AUTH_PASSWORD, .auth_url = "http://k", .user = "u",
          .password = "p", .expect = "" },   /* url from the catalog */
        { .url = "http://x", .auth = VTPM_PLACEMENT_AUTH_APPLICATION_CREDENTIAL,
          .auth_url = "http://k",
          .expect = "placement auth 'application_credential' needs an "
                    "application_credential_id (or a name and a username) and a secret" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const conf_case *c = &cases[i];
        vtpm_placement_conf conf;
        vtpm_placement_client *client;
        char err[256] = "";

        vtpm_placement_conf_init(&conf);
        conf.url = (char *)c->url;
        conf.microversion = (char *)c->microversion;
        conf.provider_uuid = (char *)c->uuid;
        conf.auth = c->auth;
        conf.token = (char *)c->token;
        conf.auth_url = (char *)c->auth_url;
        conf.username = (char *)c->user;
        conf.password = (char *)c->password;
        client = vtpm_placement_client_new(&conf, err, sizeof(err));
        if (c->expect[0]) {
            assert_null(client);
            assert_string_equal(err, c->expect);
        } else {
            if (!client)
                fail_msg("case %zu refused: %s", i, err);
            vtpm_placement_client_free(client);
        }
    }
}

static void
test_conf_defaults_verify_tls_and_bound_retries(void **state)
{
    vtpm_placement_conf conf;

    vtpm_placement_conf_init(&conf);
    assert_true(conf.verify);
    assert_int_equal(conf.auth, VTPM_PLACEMENT_AUTH_NONE);
    assert_int_equal(conf.retries, 5);
    assert_true(conf.connect_timeout > 0 && conf.timeout > 0);
    assert_false(conf.create_provider);
    vtpm_placement_conf_clear(&conf);
    vtpm_placement_client_free(NULL);
}

static void
test_conf_reads_the_placement_mapping(void **state)
{
    static const char yaml[] =
        "inventory: both\n"
        "placement:\n"
        "  url: https://placement.example.org/\n"
        "  microversion: \"1.20\"\n"
        "  provider_uuid: 4E8E5957-649F-477B-9E5B-F1F75B21C03C\n"
        "  create_provider: true\n"
        "  auth: application_credential\n"
        "  auth_url: https://keystone.example.org:5000/v3\n"
        "  application_credential_id: 0123abcd\n"
        "  application_credential_secret: \"s e c r e t\"\n"
        "  interface: internal\n"
        "  ca_file: /etc/ssl/ca.pem\n"
        "  verify: false\n"
        "  connect_timeout: 2.5\n"
        "  timeout: 60\n"
        "  retries: 9\n"
        "  retry_delay: 0\n";
    vtpm_conf conf;
    char err[256] = "";

    if (vtpm_conf_load_string("r.yaml", yaml, sizeof(yaml) - 1, &conf, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    assert_int_equal(conf.inventory, VTPM_INVENTORY_POSTGRES | VTPM_INVENTORY_PLACEMENT);
    assert_string_equal(conf.placement.url, "https://placement.example.org/");
    assert_string_equal(conf.placement.microversion, "1.20");
    assert_string_equal(conf.placement.provider_uuid, "4e8e5957-649f-477b-9e5b-f1f75b21c03c");
    assert_true(conf.placement.create_provider);
    assert_int_equal(conf.placement.auth, VTPM_PLACEMENT_AUTH_APPLICATION_CREDENTIAL);
    assert_string_equal(conf.placement.application_credential_secret, "s e c r e t");
    assert_string_equal(conf.placement.interface, "internal");
    assert_false(conf.placement.verify);
    assert_true(conf.placement.connect_timeout == 2.5 && conf.placement.timeout == 60.0);
    assert_int_equal(conf.placement.retries, 9);
    assert_true(conf.placement.retry_delay == 0.0);
    vtpm_conf_clear(&conf);
}

static void
test_conf_rejects_bad_placement_values_with_positions(void **state)
{
    static const struct {
        const char *yaml, *expect;
    } cases[] = {
        { "placement:\n  auth: kerberos\n",
          "r.yaml:2:9: 'placement.auth' must be one of none, token, password, "
          "application_credential, not 'kerberos'" },
        { "placement:\n  microversion: \"1.5\"\n",
          "r.yaml:2:17: 'placement.microversion' must be auto or 1.6 to 1.39, not '1.5'" },
        { "placement:\n  microversion: latest\n",
          "r.yaml:2:17: 'placement.microversion' must be auto or 1.6 to 1.39, not 'latest'" },
        { "placement:\n  url: placement:8778\n",
          "r.yaml:2:8: 'placement.url' must be an http:// or https:// URL, not "
          "'placement:8778'" },
        { "placement:\n  interface: private\n",
          "r.yaml:2:14: 'placement.interface' must be one of public, internal, admin, "
          "not 'private'" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vtpm_conf conf;
        char err[256] = "";

        assert_int_equal(vtpm_conf_load_string("r.yaml", cases[i].yaml,
                                               strlen(cases[i].yaml), &conf, err,
                                               sizeof(err)), -1);
        assert_string_equal(err, cases[i].expect);
        vtpm_conf_clear(&conf);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_microversion_parse_accepts_only_one_dot_decimal),
        cmocka_unit_test(test_merge_keeps_unmanaged_and_replaces_managed),
        cmocka_unit_test(test_merge_of_empty_current_and_empty_want_is_empty),
        cmocka_unit_test(test_merge_ignores_non_string_entries),
        cmocka_unit_test(test_error_text_uses_placement_detail_and_code),
        cmocka_unit_test(test_error_text_quotes_a_body_that_is_not_json),
        cmocka_unit_test(test_error_text_reads_webob_message),
        cmocka_unit_test(test_keystone_time_parses_utc_with_fraction),
        cmocka_unit_test(test_auth_names_round_trip),
        cmocka_unit_test(test_client_new_checks_the_configuration),
        cmocka_unit_test(test_conf_defaults_verify_tls_and_bound_retries),
        cmocka_unit_test(test_conf_reads_the_placement_mapping),
        cmocka_unit_test(test_conf_rejects_bad_placement_values_with_positions),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
