/* SPDX-License-Identifier: Apache-2.0 */
/* The Placement publisher with Keystone auth: Debian's keystone and placement-api (authtoken). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "log.h"
#include "placement-priv.h"
#include "require.h"
#include "service.h"

static char ks_dir[128], pl_dir[128];
static char ks_url[256], pl_url[256];
static char admin_password[128];
static char appcred_id[512], appcred_secret[512];

static int group_teardown(void **state);

static int
group_setup_fail(void **state, const char *why)
{
    fprintf(stderr, "# %s\n", why);
    group_teardown(state);
    return -1;
}

static int
group_setup(void **state)
{
    char line[512];
    char *space;

    vtpm_log_init("test_placement_keystone", VTPM_LOG_ERROR);
    if (vtpm_test_tmpdir(ks_dir, sizeof(ks_dir), "ks") < 0 ||
        vtpm_test_tmpdir(pl_dir, sizeof(pl_dir), "plk") < 0)
        return -1;
    if (vtpm_test_fixture("tests/fixtures/keystone.sh", "start", ks_dir, NULL, NULL, ks_url,
                          sizeof(ks_url)) != 0 ||
        vtpm_test_fixture("tests/fixtures/keystone.sh", "password", ks_dir, NULL, NULL,
                          admin_password, sizeof(admin_password)) != 0)
        return group_setup_fail(state, "cannot start keystone with "
                                "tests/fixtures/keystone.sh (install the packages with "
                                "scripts/setup.sh)");
    setenv("PLACEMENT_AUTH", "keystone", 1);
    setenv("KEYSTONE_URL", ks_url, 1);
    setenv("KEYSTONE_ADMIN_PASSWORD", admin_password, 1);
    if (vtpm_test_fixture("tests/fixtures/placement-api.sh", "start", pl_dir, NULL, NULL,
                          pl_url, sizeof(pl_url)) != 0)
        return group_setup_fail(state, "cannot start placement-api with keystone auth");
    if (vtpm_test_fixture("tests/fixtures/keystone.sh", "endpoint", ks_dir, "placement",
                          pl_url, NULL, 0) != 0 ||
        vtpm_test_fixture("tests/fixtures/keystone.sh", "appcred", ks_dir, "vtpm-reporter",
                          NULL, line, sizeof(line)) != 0 || !(space = strchr(line, ' ')))
        return group_setup_fail(state, "cannot register placement or an application "
                                "credential in keystone");
    *space = '\0';
    snprintf(appcred_id, sizeof(appcred_id), "%s", line);
    snprintf(appcred_secret, sizeof(appcred_secret), "%s", space + 1);
    return 0;
}

static int
group_teardown(void **state)
{
    vtpm_test_fixture("tests/fixtures/placement-api.sh", "stop", pl_dir, NULL, NULL, NULL, 0);
    vtpm_test_fixture("tests/fixtures/keystone.sh", "stop", ks_dir, NULL, NULL, NULL, 0);
    vtpm_test_rmdir(pl_dir);
    vtpm_test_rmdir(ks_dir);
    return 0;
}

static void
password_conf(vtpm_placement_conf *conf)
{
    vtpm_test_password_conf(conf, pl_url, ks_url, admin_password);
}

static vtpm_placement_client *
client_for(const vtpm_placement_conf *conf)
{
    char err[256] = "";
    vtpm_placement_client *client = vtpm_placement_client_new(conf, err, sizeof(err));

    if (!client)
        fail_msg("client: %s", err);
    return client;
}

static void
test_password_auth_publishes_and_caches_the_token(void **state)
{
    vtpm_placement_conf conf;
    vtpm_placement_client *client;
    vtpm_publish_result res;
    vtpm_placement_stats st;
    vtpm_report r;

    password_conf(&conf);
    client = client_for(&conf);
    vtpm_test_report_init(&r, "ks-password", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0));
    if (vtpm_placement_publish(client, &r, &res) != VTPM_PUBLISH_CHANGED)
        fail_msg("publish: %s", res.message);
    assert_int_equal(res.generation, 1);
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_UNCHANGED);
    vtpm_placement_client_stats(client, &st);
    assert_int_equal(st.token_requests, 1);
    assert_int_equal(st.renewals, 0);
    vtpm_placement_client_free(client);
}

static void
test_password_auth_finds_placement_in_the_catalog(void **state)
{
    vtpm_placement_conf conf;
    vtpm_placement_client *client;
    vtpm_publish_result res;
    vtpm_report r;

    password_conf(&conf);
    conf.url = NULL;
    client = client_for(&conf);
    vtpm_test_report_init(&r, "ks-catalog", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2));
    if (vtpm_placement_publish(client, &r, &res) != VTPM_PUBLISH_CHANGED)
        fail_msg("publish: %s", res.message);
    assert_non_null(strstr(res.message, "+COMPUTE_SECURITY_TPM_1_2"));
    vtpm_placement_client_free(client);
}

static void
test_application_credential_publishes(void **state)
{
    vtpm_placement_conf conf;
    vtpm_placement_client *client;
    vtpm_publish_result res;
    vtpm_placement_stats st;
    vtpm_report r;

    vtpm_placement_conf_init(&conf);
    conf.url = pl_url;
    conf.auth = VTPM_PLACEMENT_AUTH_APPLICATION_CREDENTIAL;
    conf.auth_url = ks_url;
    conf.application_credential_id = appcred_id;
    conf.application_credential_secret = appcred_secret;
    conf.create_provider = true;
    client = client_for(&conf);
    vtpm_test_report_init(&r, "ks-appcred", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0) |
                          VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_TIS));
    if (vtpm_placement_publish(client, &r, &res) != VTPM_PUBLISH_CHANGED)
        fail_msg("publish: %s", res.message);
    assert_int_equal(res.warnings, 1);     /* TIS: unknown to Zed */
    vtpm_placement_client_stats(client, &st);
    assert_int_equal(st.token_requests, 1);
    vtpm_placement_client_free(client);
}

static void
test_wrong_password_is_refused_without_the_password(void **state)
{
    vtpm_placement_conf conf;
    vtpm_placement_client *client;
    vtpm_publish_result res;
    vtpm_report r;
    char wrong[160];

    snprintf(wrong, sizeof(wrong), "x%s", admin_password);
    password_conf(&conf);
    conf.password = wrong;
    client = client_for(&conf);
    vtpm_test_report_init(&r, "ks-wrong", 0);
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_REFUSED);
    assert_non_null(strstr(res.message, "refused the credentials: HTTP 401"));
    assert_null(strstr(res.message, admin_password));
    vtpm_placement_client_free(client);
}

static void
test_invalid_static_token_is_refused_by_placement(void **state)
{
    vtpm_placement_conf conf;
    vtpm_placement_client *client;
    vtpm_publish_result res;
    vtpm_report r;

    vtpm_placement_conf_init(&conf);
    conf.url = pl_url;
    conf.auth = VTPM_PLACEMENT_AUTH_TOKEN;
    conf.token = (char *)"gAAAAA-not-a-token";
    client = client_for(&conf);
    vtpm_test_report_init(&r, "ks-static", 0);
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_REFUSED);
    assert_non_null(strstr(res.message, "HTTP 401"));
    assert_null(strstr(res.message, "not-a-token"));
    vtpm_placement_client_free(client);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_password_auth_publishes_and_caches_the_token),
        cmocka_unit_test(test_password_auth_finds_placement_in_the_catalog),
        cmocka_unit_test(test_application_credential_publishes),
        cmocka_unit_test(test_wrong_password_is_refused_without_the_password),
        cmocka_unit_test(test_invalid_static_token_is_refused_by_placement),
    };

    vtpm_test_require_program("/usr/bin/placement-api", "placement-api");
    vtpm_test_require_program("/usr/bin/uwsgi", "uwsgi-core");
    vtpm_test_require_program("/usr/bin/keystone-manage", "keystone");

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
