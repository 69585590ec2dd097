/* SPDX-License-Identifier: Apache-2.0 */
/* The Placement publisher meeting faults a real server will not produce on demand (a stub). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "clock.h"
#include "http.h"
#include "harness.h"
#include "log.h"
#include "placement-priv.h"
#include "service.h"

#define PASSWORD "correct horse battery"
#define APP_SECRET "app-secret"

static pid_t stub_pid = -1;
static char stub_base[64];        /* http://127.0.0.1:PORT */

static int
group_setup(void **state)
{
    char script[512];
    char port[32] = "";
    char *argv[] = {
        (char *)"/usr/bin/python3",
        (char *)vtpm_test_source_path(script, sizeof(script),
                                      "tests/reporter/publish/placement/stub_placement.py"),
        NULL
    };

    vtpm_log_init("test_placement_faults", VTPM_LOG_ERROR);
    if (access("/usr/bin/python3", X_OK) != 0) {
        fprintf(stderr, "# /usr/bin/python3 missing: apt-get install python3\n");
        return -1;
    }
    stub_pid = vtpm_test_spawn(argv, port, sizeof(port));
    if (stub_pid < 0 || strtol(port, NULL, 10) <= 0) {
        fprintf(stderr, "# cannot start tests/reporter/publish/placement/stub_placement.py\n");
        return -1;
    }
    snprintf(stub_base, sizeof(stub_base), "http://127.0.0.1:%s", port);
    return 0;
}

static int
group_teardown(void **state)
{
    vtpm_test_stop(stub_pid);
    return 0;
}

static void
conf_for(vtpm_placement_conf *conf, char *url, size_t len, const char *mode)
{
    vtpm_placement_conf_init(conf);
    snprintf(url, len, "%s/%s", stub_base, mode);
    conf->url = url;
    conf->auth = VTPM_PLACEMENT_AUTH_TOKEN;
    conf->token = (char *)"admin";
    conf->create_provider = true;
    conf->retry_delay = 0.001;
    conf->timeout = 10;
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

/* Publishes once through a fresh client on @mode; returns the status. */
static vtpm_publish_status
publish_on(const char *mode, vtpm_publish_result *res)
{
    vtpm_placement_conf conf;
    vtpm_placement_client *client;
    vtpm_report r;
    char url[128];
    vtpm_publish_status st;

    conf_for(&conf, url, sizeof(url), mode);
    client = client_for(&conf);
    vtpm_test_report_init(&r, "stub-host", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0));
    st = vtpm_placement_publish(client, &r, res);
    vtpm_placement_client_free(client);
    return st;
}

static void
test_http_500_with_html_is_unreachable_with_the_page_quoted(void **state)
{
    vtpm_publish_result res;

    assert_int_equal(publish_on("e500", &res), VTPM_PUBLISH_UNREACHABLE);
    assert_int_equal(res.status, VTPM_PUBLISH_UNREACHABLE);
    assert_non_null(strstr(res.message, "GET /: HTTP 500: '<html><body><h1>500 Internal"));
    assert_null(strchr(res.message, '\n'));
}

static void
test_garbage_version_document_is_an_invalid_answer(void **state)
{
    vtpm_publish_result res;

    assert_int_equal(publish_on("garbage", &res), VTPM_PUBLISH_UNREACHABLE);
    assert_non_null(strstr(res.message, "GET /: invalid answer (no versions[0].max_version)"));
}

static void
test_garbage_trait_list_is_an_invalid_answer(void **state)
{
    vtpm_publish_result res;

    assert_int_equal(publish_on("garbagetraits", &res), VTPM_PUBLISH_UNREACHABLE);
    assert_non_null(strstr(res.message, "invalid answer (no traits and generation)"));
    /* Binary garbage is escaped or cut, never copied raw into the message. */
    for (const char *p = res.message; *p; p++)
        assert_true(*p >= 0x20 && *p < 0x7f);
}

static void
test_too_old_placement_is_refused(void **state)
{
    vtpm_publish_result res;

    assert_int_equal(publish_on("old", &res), VTPM_PUBLISH_REFUSED);
    assert_non_null(strstr(res.message, "offers microversions 1.0 to 1.5: this client "
                                        "needs one in 1.6 to 1.39"));
}

static void
test_forbidden_is_refused_with_placement_detail(void **state)
{
    vtpm_publish_result res;

    assert_int_equal(publish_on("e403", &res), VTPM_PUBLISH_REFUSED);
    assert_non_null(strstr(res.message, "HTTP 403 Forbidden: Policy does not allow "
                                        "placement:traits:list to be performed."));
}

static void
test_slow_answer_times_out(void **state)
{
    vtpm_placement_conf conf;
    vtpm_placement_client *client;
    vtpm_publish_result res;
    vtpm_report r;
    char url[128];
    double t0, elapsed;

    conf_for(&conf, url, sizeof(url), "slow");
    conf.timeout = 0.5;
    client = client_for(&conf);
    vtpm_test_report_init(&r, "stub-host", 0);
    t0 = vtpm_clock_now();
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_UNREACHABLE);
    elapsed = vtpm_clock_now() - t0;
    assert_true(elapsed >= 0.4 && elapsed < 2.5);
    assert_non_null(strstr(res.message, "cannot reach placement"));
    assert_non_null(strstr(res.message, "timed out"));
    vtpm_placement_client_free(client);
}

static void
test_closed_port_is_unreachable(void **state)
{
    vtpm_placement_conf conf;
    vtpm_placement_client *client;
    vtpm_publish_result res;
    vtpm_report r;

    /* Port 1 on loopback: nobody listens there. */
    vtpm_placement_conf_init(&conf);
    conf.url = (char *)"http://127.0.0.1:1";
    client = client_for(&conf);
    vtpm_test_report_init(&r, "stub-host", 0);
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_UNREACHABLE);
    assert_non_null(strstr(res.message, "cannot reach placement 'http://127.0.0.1:1'"));
    vtpm_placement_client_free(client);
}

static void
test_endless_conflicts_stop_after_the_configured_retries(void **state)
{
    vtpm_placement_conf conf;
    vtpm_placement_client *client;
    vtpm_publish_result res;
    vtpm_placement_stats st;
    vtpm_report r;
    char url[128];

    conf_for(&conf, url, sizeof(url), "conflict");
    conf.retries = 4;
    client = client_for(&conf);
    vtpm_test_report_init(&r, "stub-conflict", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2));
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_UNREACHABLE);
    assert_non_null(strstr(res.message, "kept changing: gave up after 5 concurrent updates"));
    vtpm_placement_client_stats(client, &st);
    assert_int_equal(st.trait_puts, 5);
    assert_int_equal(st.conflicts, 5);
    vtpm_placement_client_free(client);
}

static void
test_no_such_trait_answer_drops_the_trait_and_publishes_the_rest(void **state)
{
    vtpm_placement_conf conf;
    vtpm_placement_client *client;
    vtpm_publish_result res;
    vtpm_placement_stats st;
    vtpm_report r;
    char url[128];

    /* The service lists every trait as known, yet refuses the new ones on PUT. */
    conf_for(&conf, url, sizeof(url), "nosuchtrait");
    client = client_for(&conf);
    vtpm_test_report_init(&r, "stub-nosuch", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0) |
                          VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_CRB) |
                          VTPM_TRAITSET_BIT(VTPM_TRAIT_SECRET_SECURITY_HOST));
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_CHANGED);
    assert_int_equal(res.warnings, 2);
    assert_non_null(strstr(res.message, "+COMPUTE_SECURITY_TPM_2_0 at generation 1"));
    assert_non_null(strstr(res.message, "2 unknown to placement skipped"));
    vtpm_placement_client_stats(client, &st);
    assert_int_equal(st.trait_puts, 2);
    /* Remembered: the next run writes nothing and warns again. */
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_UNCHANGED);
    assert_int_equal(res.warnings, 2);
    vtpm_placement_client_free(client);
}

static void
test_rejected_static_token_is_refused_without_showing_it(void **state)
{
    vtpm_placement_conf conf;
    vtpm_placement_client *client;
    vtpm_publish_result res;
    vtpm_report r;
    char url[128];

    conf_for(&conf, url, sizeof(url), "ok");
    conf.token = (char *)"tok-secret-static-9f8e";
    client = client_for(&conf);
    vtpm_test_report_init(&r, "stub-token", 0);
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_REFUSED);
    assert_non_null(strstr(res.message, "HTTP 401"));
    assert_null(strstr(res.message, "tok-secret"));
    vtpm_placement_client_free(client);
}

typedef struct {
    vtpm_placement_client *client;
    vtpm_report report;
    vtpm_publish_result res;
    vtpm_publish_status status;
} publish_call;

static void
publish_call_run(void *opaque)
{
    publish_call *c = opaque;

    c->status = vtpm_placement_publish(c->client, &c->report, &c->res);
}

static void
keystone_conf(vtpm_placement_conf *conf, char *url, size_t len, char *auth_url,
              size_t auth_len, const char *keystone_mode)
{
    conf_for(conf, url, len, "auth");
    conf->auth = VTPM_PLACEMENT_AUTH_PASSWORD;
    conf->token = NULL;
    snprintf(auth_url, auth_len, "%s/%s/v3", stub_base, keystone_mode);
    conf->auth_url = auth_url;
    conf->username = (char *)"reporter";
    conf->password = (char *)PASSWORD;
    conf->project_name = (char *)"service";
}

static void
test_wrong_password_is_refused_and_never_logged(void **state)
{
    vtpm_placement_conf conf;
    publish_call call = { 0 };
    char url[128], auth_url[128];
    char *err;

    keystone_conf(&conf, url, sizeof(url), auth_url, sizeof(auth_url), "keystone");
    conf.password = (char *)"wrong-" PASSWORD;
    call.client = client_for(&conf);
    vtpm_test_report_init(&call.report, "stub-keystone", 0);
    vtpm_log_init("test_placement_faults", VTPM_LOG_DEBUG);
    err = vtpm_test_capture_stderr(publish_call_run, &call);
    vtpm_log_init("test_placement_faults", VTPM_LOG_ERROR);
    assert_int_equal(call.status, VTPM_PUBLISH_REFUSED);
    assert_non_null(strstr(call.res.message, "keystone '"));
    assert_non_null(strstr(call.res.message, "refused the credentials: HTTP 401 Unauthorized"));
    assert_null(strstr(call.res.message, PASSWORD));
    assert_non_null(strstr(err, "requesting a token from keystone"));  /* debug was on */
    assert_null(strstr(err, PASSWORD));
    free(err);
    vtpm_placement_client_free(call.client);
}

static void
test_keystone_token_is_cached_and_renewed_after_401(void **state)
{
    vtpm_placement_conf conf;
    publish_call call = { 0 };
    vtpm_placement_stats st;
    char url[128], auth_url[128];
    char *err;
    long status;
    vtpm_http_conf hc = { .verify = true, .timeout = 5 };
    vtpm_http *h;
    vtpm_http_response resp = { 0 };
    char control[128];

    keystone_conf(&conf, url, sizeof(url), auth_url, sizeof(auth_url), "keystone");
    call.client = client_for(&conf);
    vtpm_test_report_init(&call.report, "stub-ks-cache", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0));
    assert_int_equal(vtpm_placement_publish(call.client, &call.report, &call.res),
                     VTPM_PUBLISH_CHANGED);
    assert_int_equal(vtpm_placement_publish(call.client, &call.report, &call.res),
                     VTPM_PUBLISH_UNCHANGED);
    vtpm_placement_client_stats(call.client, &st);
    assert_int_equal(st.token_requests, 1);
    assert_int_equal(st.renewals, 0);

    /* Keystone revokes the token: Placement answers 401, the client renews once. */
    h = vtpm_http_new(&hc, control, sizeof(control));
    assert_non_null(h);
    snprintf(control, sizeof(control), "%s/control/revoke", stub_base);
    assert_int_equal(vtpm_http_request(h, "POST", control, NULL, "", &resp), 0);
    status = resp.status;
    vtpm_http_response_clear(&resp);
    vtpm_http_free(h);
    assert_int_equal(status, 200);

    call.report.traits[VTPM_TRAIT_TPM_1_2].state = VTPM_TRAIT_STATE_PRESENT;
    vtpm_log_init("test_placement_faults", VTPM_LOG_DEBUG);
    err = vtpm_test_capture_stderr(publish_call_run, &call);
    vtpm_log_init("test_placement_faults", VTPM_LOG_ERROR);
    assert_int_equal(call.status, VTPM_PUBLISH_CHANGED);
    vtpm_placement_client_stats(call.client, &st);
    assert_int_equal(st.token_requests, 2);
    assert_int_equal(st.renewals, 1);
    /* Tokens are secrets too: neither the old nor the new one is printed. */
    assert_null(strstr(err, "tok-"));
    assert_null(strstr(err, PASSWORD));
    free(err);
    vtpm_placement_client_free(call.client);
}

static void
test_keystone_token_near_expiry_is_renewed_before_use(void **state)
{
    vtpm_placement_conf conf;
    vtpm_placement_client *client;
    vtpm_publish_result res;
    vtpm_placement_stats st;
    vtpm_report r;
    char url[128], auth_url[128];

    /* Tokens that live 30 s are within the renewal margin from the start. */
    keystone_conf(&conf, url, sizeof(url), auth_url, sizeof(auth_url), "keystoneshort");
    client = client_for(&conf);
    vtpm_test_report_init(&r, "stub-ks-short", 0);
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_UNCHANGED);
    vtpm_placement_client_stats(client, &st);
    assert_int_equal(st.renewals, 0);
    assert_true(st.token_requests >= 2);   /* one per Placement request */
    assert_int_equal(st.token_requests, st.requests);
    vtpm_placement_client_free(client);
}

static void
test_application_credential_finds_placement_in_the_catalog(void **state)
{
    vtpm_placement_conf conf;
    vtpm_placement_client *client;
    vtpm_publish_result res;
    vtpm_placement_stats st;
    vtpm_report r;
    char url[128], auth_url[128];

    keystone_conf(&conf, url, sizeof(url), auth_url, sizeof(auth_url), "keystone");
    conf.url = NULL;                       /* the "public" endpoint is .../auth */
    conf.auth = VTPM_PLACEMENT_AUTH_APPLICATION_CREDENTIAL;
    conf.username = NULL;
    conf.password = NULL;
    conf.application_credential_id = (char *)"0123abcd";
    conf.application_credential_secret = (char *)APP_SECRET;
    client = client_for(&conf);
    vtpm_test_report_init(&r, "stub-appcred", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2));
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_CHANGED);
    assert_non_null(strstr(res.message, "+COMPUTE_SECURITY_TPM_1_2"));
    vtpm_placement_client_stats(client, &st);
    assert_int_equal(st.token_requests, 1);
    vtpm_placement_client_free(client);

    /* Another interface that the catalog has no usable endpoint for. */
    conf.interface = (char *)"admin";
    client = client_for(&conf);
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_CONFIG);
    assert_non_null(strstr(res.message, "no usable placement endpoint (interface 'admin')"));
    assert_null(strstr(res.message, APP_SECRET));
    vtpm_placement_client_free(client);
}

static void
test_keystone_unreachable_is_unreachable(void **state)
{
    vtpm_placement_conf conf;
    vtpm_placement_client *client;
    vtpm_publish_result res;
    vtpm_report r;
    char url[128];

    conf_for(&conf, url, sizeof(url), "auth");
    conf.auth = VTPM_PLACEMENT_AUTH_PASSWORD;
    conf.auth_url = (char *)"http://127.0.0.1:1/v3";
    conf.username = (char *)"reporter";
    conf.password = (char *)PASSWORD;
    client = client_for(&conf);
    vtpm_test_report_init(&r, "stub-ks-down", 0);
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_UNREACHABLE);
    assert_non_null(strstr(res.message, "cannot reach keystone 'http://127.0.0.1:1/v3/auth/tokens'"));
    vtpm_placement_client_free(client);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_500_with_html_is_unreachable_with_the_page_quoted),
        cmocka_unit_test(test_garbage_version_document_is_an_invalid_answer),
        cmocka_unit_test(test_garbage_trait_list_is_an_invalid_answer),
        cmocka_unit_test(test_too_old_placement_is_refused),
        cmocka_unit_test(test_forbidden_is_refused_with_placement_detail),
        cmocka_unit_test(test_slow_answer_times_out),
        cmocka_unit_test(test_closed_port_is_unreachable),
        cmocka_unit_test(test_endless_conflicts_stop_after_the_configured_retries),
        cmocka_unit_test(test_no_such_trait_answer_drops_the_trait_and_publishes_the_rest),
        cmocka_unit_test(test_rejected_static_token_is_refused_without_showing_it),
        cmocka_unit_test(test_wrong_password_is_refused_and_never_logged),
        cmocka_unit_test(test_keystone_token_is_cached_and_renewed_after_401),
        cmocka_unit_test(test_keystone_token_near_expiry_is_renewed_before_use),
        cmocka_unit_test(test_application_credential_finds_placement_in_the_catalog),
        cmocka_unit_test(test_keystone_unreachable_is_unreachable),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
