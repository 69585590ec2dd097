/* SPDX-License-Identifier: Apache-2.0 */
/* The Placement publisher over TLS: CA bundles, host names, client certificates, against a throwaway PKI. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "conf.h"
#include "harness.h"
#include "log.h"
#include "placement-priv.h"
#include "service.h"

#define PASSWORD "correct horse battery"
/* client-encrypted.key's (tests/fixtures/pki.sh), and a wrong one. */
#define KEY_PASSPHRASE "test-passphrase"
#define WRONG_PASSPHRASE "not-the-passphrase"

/*
 * One stub process serves every case: plain HTTP (unused here but for the
 * CLI's lock-free runs), HTTPS with the server certificate, HTTPS with a
 * certificate for another name, and HTTPS that requires a client certificate.
 */
static pid_t stub_pid = -1;
static char tmp_dir[64];
static char pki[128];
static int port_https, port_othername, port_mtls;

static const char *
pki_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", pki, name);
    return buf;
}

/* Reads the stub's first line: one port number per listener, space-separated. */
static int
ports_parse(const char *line, int *const ports[], size_t n)
{
    const char *p = line;

    for (size_t i = 0; i < n; i++) {
        char *end;
        long v = strtol(p, &end, 10);

        if (end == p || v < 1 || v > 65535)
            return -1;
        *ports[i] = (int)v;
        p = end;
    }
    return 0;
}

static int
group_setup(void **state)
{
    char script[512], stub[512], line[128] = "";
    char https[512], othername[512], mtls[768];
    char cert[256], key[256], ca[256];
    int port_http = 0;
    int *const ports[] = { &port_http, &port_https, &port_othername, &port_mtls };

    vtpm_log_init("test_placement_tls", VTPM_LOG_ERROR);
    if (access("/usr/bin/python3", X_OK) != 0) {
        fprintf(stderr, "# /usr/bin/python3 missing: apt-get install python3\n");
        return -1;
    }
    if (vtpm_test_tmpdir(tmp_dir, sizeof(tmp_dir), "tls") < 0) {
        fprintf(stderr, "# cannot create a folder under /tmp\n");
        return -1;
    }
    snprintf(pki, sizeof(pki), "%s/pki", tmp_dir);
    {
        char *argv[] = {
            (char *)vtpm_test_source_path(script, sizeof(script), "tests/fixtures/pki.sh"),
            pki, NULL
        };

        if (vtpm_test_run(argv, NULL, 0) != 0) {
            fprintf(stderr, "# tests/fixtures/pki.sh failed (see above)\n");
            return -1;
        }
    }
    snprintf(https, sizeof(https), "%s,%s", pki_path(cert, sizeof(cert), "server.pem"),
             pki_path(key, sizeof(key), "server.key"));
    snprintf(othername, sizeof(othername), "%s,%s",
             pki_path(cert, sizeof(cert), "othername.pem"),
             pki_path(key, sizeof(key), "othername.key"));
    snprintf(mtls, sizeof(mtls), "%s,%s,%s", pki_path(cert, sizeof(cert), "server.pem"),
             pki_path(key, sizeof(key), "server.key"), pki_path(ca, sizeof(ca), "ca.pem"));
    {
        char *argv[] = {
            (char *)"/usr/bin/python3",
            (char *)vtpm_test_source_path(stub, sizeof(stub),
                                          "tests/reporter/publish/placement/stub_placement.py"),
            (char *)"--https", https, (char *)"--https", othername,
            (char *)"--https", mtls, NULL
        };

        stub_pid = vtpm_test_spawn(argv, line, sizeof(line));
    }
    if (stub_pid < 0 || ports_parse(line, ports, VTPM_N_ELEMENTS(ports)) < 0) {
        fprintf(stderr, "# cannot start tests/reporter/publish/placement/stub_placement.py with --https\n");
        return -1;
    }
    return 0;
}

static int
group_teardown(void **state)
{
    vtpm_test_stop(stub_pid);
    vtpm_test_rmdir(tmp_dir);
    return 0;
}

typedef struct {
    vtpm_placement_conf conf;
    char url[128];
    char ca[256], cert[256], key[256], pass[256];
} tls_conf;

/* A client configuration for @mode on @port over https, the test CA trusted. */
static void
tls_conf_init(tls_conf *t, int port, const char *mode)
{
    memset(t, 0, sizeof(*t));
    vtpm_placement_conf_init(&t->conf);
    snprintf(t->url, sizeof(t->url), "https://127.0.0.1:%d/%s", port, mode);
    t->conf.url = t->url;
    t->conf.auth = VTPM_PLACEMENT_AUTH_TOKEN;
    t->conf.token = (char *)"admin";
    t->conf.create_provider = true;
    t->conf.timeout = 10;
    t->conf.ca_file = (char *)pki_path(t->ca, sizeof(t->ca), "ca.pem");
}

static void
tls_conf_client_cert(tls_conf *t, const char *cert, const char *key)
{
    t->conf.cert_file = (char *)pki_path(t->cert, sizeof(t->cert), cert);
    t->conf.key_file = key ? (char *)pki_path(t->key, sizeof(t->key), key) : NULL;
}

/* No TLS failure message carries key material, a token or a line break. */
static void
assert_clean_message(const char *msg)
{
    assert_null(strstr(msg, "-----BEGIN"));
    assert_null(strstr(msg, "PRIVATE KEY"));
    assert_null(strstr(msg, "X-Auth-Token"));
    assert_null(strstr(msg, PASSWORD));
    assert_null(strstr(msg, KEY_PASSPHRASE));
    assert_null(strstr(msg, WRONG_PASSPHRASE));
    assert_null(strchr(msg, '\n'));
}

/* Writes @len bytes of @text to @name in the temp dir with @mode; returns its path. */
static const char *
pass_file(char *buf, size_t buflen, const char *name, const char *text, size_t len,
          mode_t mode)
{
    FILE *f;

    snprintf(buf, buflen, "%s/%s", tmp_dir, name);
    unlink(buf);
    f = fopen(buf, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(buf, mode), 0);
    return buf;
}

/* The encrypted client key with the passphrase file @name holding @text (mode 0600). */
static void
tls_conf_encrypted_key(tls_conf *t, const char *name, const char *text)
{
    tls_conf_client_cert(t, "client.pem", "client-encrypted.key");
    t->conf.key_password_file = (char *)pass_file(t->pass, sizeof(t->pass), name, text,
                                                  strlen(text), 0600);
}

static void
test_https_with_the_test_ca_file_publishes_over_one_connection(void **state)
{
    tls_conf t;
    vtpm_placement_client *client;
    vtpm_placement_stats st;
    vtpm_publish_result res;
    vtpm_report r;
    char err[256] = "";

    tls_conf_init(&t, port_https, "ok");
    client = vtpm_placement_client_new(&t.conf, err, sizeof(err));
    if (!client)
        fail_msg("client: %s", err);
    vtpm_test_report_init(&r, "tls-ca", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0));
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_CHANGED);
    vtpm_test_assert_has(res.message, "+COMPUTE_SECURITY_TPM_2_0 at generation 1");
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_UNCHANGED);
    vtpm_placement_client_stats(client, &st);
    /* Keep-alive holds over TLS too: one handshake for the whole run. */
    assert_int_equal(st.connections, 1);
    assert_true(st.requests >= 4);
    vtpm_placement_client_free(client);
}

static void
test_verification_is_on_by_default_and_the_system_store_refuses_the_test_ca(void **state)
{
    static const char yaml_fmt[] =
        "inventory: placement\n"
        "placement:\n"
        "  url: https://127.0.0.1:%d/ok\n"
        "  auth: token\n"
        "  token: admin\n"
        "  create_provider: true\n";
    char yaml[512];
    vtpm_conf conf;
    vtpm_publish_result res;
    char err[256] = "";
    int n = snprintf(yaml, sizeof(yaml), yaml_fmt, port_https);

    /* What a user gets from a config that says nothing about TLS. */
    if (vtpm_conf_load_string("tls.yaml", yaml, (size_t)n, &conf, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    assert_true(conf.placement.verify);
    assert_null(conf.placement.ca_file);
    assert_int_equal(vtpm_test_publish_once(&conf.placement, "tls-default", 0, &res),
                     VTPM_PUBLISH_UNREACHABLE);
    vtpm_test_assert_has(res.message, "cannot reach placement 'https://127.0.0.1:");
    vtpm_test_assert_has(res.message,
                           "SSL certificate problem: unable to get local issuer certificate");
    assert_clean_message(res.message);
    vtpm_conf_clear(&conf);
}

static void
test_unrelated_ca_file_is_refused(void **state)
{
    tls_conf t;
    vtpm_publish_result res;

    tls_conf_init(&t, port_https, "ok");
    pki_path(t.ca, sizeof(t.ca), "other-ca.pem");
    assert_int_equal(vtpm_test_publish_once(&t.conf, "tls-other-ca", 0, &res),
                     VTPM_PUBLISH_UNREACHABLE);
    vtpm_test_assert_has(res.message,
                           "SSL certificate problem: unable to get local issuer certificate");
    assert_clean_message(res.message);
}

static void
test_certificate_for_another_host_name_is_refused(void **state)
{
    tls_conf t;
    vtpm_publish_result res;

    /* Signed by the trusted CA, but for elsewhere.invalid, not 127.0.0.1. */
    tls_conf_init(&t, port_othername, "ok");
    assert_int_equal(vtpm_test_publish_once(&t.conf, "tls-name", 0, &res),
                     VTPM_PUBLISH_UNREACHABLE);
    vtpm_test_assert_has(res.message, "no alternative certificate subject name matches "
                                      "target host name '127.0.0.1'");
}

static void
test_verify_false_accepts_an_untrusted_server(void **state)
{
    tls_conf t;
    vtpm_publish_result res;

    /* For labs only (docs/placement.md): neither the CA nor the name is checked. */
    tls_conf_init(&t, port_https, "ok");
    t.conf.ca_file = NULL;
    t.conf.verify = false;
    assert_int_equal(vtpm_test_publish_once(&t.conf, "tls-noverify",
                                            VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2), &res),
                     VTPM_PUBLISH_CHANGED);
    tls_conf_init(&t, port_othername, "ok");
    pki_path(t.ca, sizeof(t.ca), "other-ca.pem");
    t.conf.verify = false;
    assert_int_equal(vtpm_test_publish_once(&t.conf, "tls-noverify",
                                            VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2), &res),
                     VTPM_PUBLISH_UNCHANGED);
}

static void
test_server_requiring_a_client_certificate_refuses_a_client_without_one(void **state)
{
    tls_conf t;
    vtpm_publish_result res;

    tls_conf_init(&t, port_mtls, "ok");
    assert_int_equal(vtpm_test_publish_once(&t.conf, "tls-mtls", 0, &res),
                     VTPM_PUBLISH_UNREACHABLE);
    vtpm_test_assert_has(res.message, "cannot reach placement 'https://127.0.0.1:");
    /* TLS 1.3: the server's alert arrives with the first read. */
    vtpm_test_assert_has(res.message, "alert certificate required");
    assert_clean_message(res.message);
}

static void
test_client_certificate_and_key_are_accepted(void **state)
{
    tls_conf t;
    vtpm_publish_result res;

    tls_conf_init(&t, port_mtls, "ok");
    tls_conf_client_cert(&t, "client.pem", "client.key");
    assert_int_equal(vtpm_test_publish_once(&t.conf, "tls-mtls",
                                            VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0), &res),
                     VTPM_PUBLISH_CHANGED);
    /* The key may also sit in the certificate's file (key_file unset). */
    tls_conf_client_cert(&t, "client-bundle.pem", NULL);
    assert_int_equal(vtpm_test_publish_once(&t.conf, "tls-mtls",
                                            VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0), &res),
                     VTPM_PUBLISH_UNCHANGED);
}

static void
test_client_certificate_from_an_unrelated_ca_is_refused(void **state)
{
    tls_conf t;
    vtpm_publish_result res;

    tls_conf_init(&t, port_mtls, "ok");
    tls_conf_client_cert(&t, "stranger.pem", "stranger.key");
    assert_int_equal(vtpm_test_publish_once(&t.conf, "tls-mtls", 0, &res),
                     VTPM_PUBLISH_UNREACHABLE);
    vtpm_test_assert_has(res.message, "alert unknown ca");
    assert_clean_message(res.message);
}

static void
test_encrypted_client_key_fails_without_asking_for_a_passphrase(void **state)
{
    tls_conf t;
    vtpm_test_publish_call call = {
        .host = "tls-call", .present = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2)
    };
    char *err;

    /* OpenSSL would prompt on the terminal (and block a run from a shell);
     * with no terminal it prints the prompt on stderr: neither may happen.
     * The key will not load on any retry: a configuration error. */
    tls_conf_init(&t, port_mtls, "ok");
    tls_conf_client_cert(&t, "client.pem", "client-encrypted.key");
    call.conf = &t.conf;
    err = vtpm_test_capture_stderr(vtpm_test_publish_call_run, &call);
    assert_int_equal(call.status, VTPM_PUBLISH_CONFIG);
    vtpm_test_assert_has(call.res.message, "placement: cannot load client key '");
    vtpm_test_assert_has(call.res.message, "/client-encrypted.key': encrypted but no "
                                           "key_password_file, or not the certificate's key");
    /* libcurl's own reason is kept. */
    vtpm_test_assert_has(call.res.message, "unable to set private key file: '");
    assert_clean_message(call.res.message);
    assert_null(strstr(err, "pass phrase"));
    free(err);
}

static void
test_encrypted_client_key_with_its_passphrase_file_publishes(void **state)
{
    tls_conf t;
    vtpm_publish_result res;

    tls_conf_init(&t, port_mtls, "ok");
    tls_conf_encrypted_key(&t, "key.pass", KEY_PASSPHRASE "\n");
    assert_int_equal(vtpm_test_publish_once(&t.conf, "tls-keypass",
                                            VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0), &res),
                     VTPM_PUBLISH_CHANGED);
    /* A CRLF line ending is dropped, and what follows the first line is
     * ignored; so is a missing line ending. */
    tls_conf_encrypted_key(&t, "key-crlf.pass", KEY_PASSPHRASE "\r\n" WRONG_PASSPHRASE "\n");
    assert_int_equal(vtpm_test_publish_once(&t.conf, "tls-keypass",
                                            VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0), &res),
                     VTPM_PUBLISH_UNCHANGED);
    tls_conf_encrypted_key(&t, "key-bare.pass", KEY_PASSPHRASE);
    assert_int_equal(vtpm_test_publish_once(&t.conf, "tls-keypass", 0, &res),
                     VTPM_PUBLISH_CHANGED);
    /* A passphrase given for a key that is not encrypted does no harm. */
    tls_conf_client_cert(&t, "client.pem", "client.key");
    assert_int_equal(vtpm_test_publish_once(&t.conf, "tls-keypass", 0, &res),
                     VTPM_PUBLISH_UNCHANGED);
}

static void
test_wrong_passphrase_is_a_configuration_error_naming_the_key(void **state)
{
    tls_conf t;
    vtpm_test_publish_call call = { .host = "tls-wrongpass" };
    char auth_url[128], expect[768];
    char *err;

    tls_conf_init(&t, port_mtls, "ok");
    tls_conf_encrypted_key(&t, "wrong.pass", WRONG_PASSPHRASE "\n");
    call.conf = &t.conf;
    vtpm_log_init("test_placement_tls", VTPM_LOG_DEBUG);
    err = vtpm_test_capture_stderr(vtpm_test_publish_call_run, &call);
    vtpm_log_init("test_placement_tls", VTPM_LOG_ERROR);
    assert_int_equal(call.status, VTPM_PUBLISH_CONFIG);
    snprintf(expect, sizeof(expect), "placement: cannot load client key '%s': wrong "
             "passphrase or not the certificate's key (unable to set private key file: '%s'",
             t.key, t.key);
    vtpm_test_assert_has(call.res.message, expect);
    assert_clean_message(call.res.message);
    assert_null(strstr(err, WRONG_PASSPHRASE));
    assert_null(strstr(err, "pass phrase"));
    free(err);

    /* The key of another certificate fails the same way. */
    tls_conf_client_cert(&t, "client.pem", "stranger.key");
    vtpm_test_publish_call_run(&call);
    assert_int_equal(call.status, VTPM_PUBLISH_CONFIG);
    vtpm_test_assert_has(call.res.message, "/stranger.key': wrong passphrase or not the "
                                           "certificate's key");

    /* Keystone over the listener that requires a client certificate: the
     * same configuration error, before the password is sent. */
    tls_conf_init(&t, port_mtls, "auth");
    t.conf.url = NULL;
    t.conf.auth = VTPM_PLACEMENT_AUTH_PASSWORD;
    t.conf.token = NULL;
    snprintf(auth_url, sizeof(auth_url), "https://127.0.0.1:%d/keystone/v3", port_mtls);
    t.conf.auth_url = auth_url;
    t.conf.username = (char *)"reporter";
    t.conf.password = (char *)PASSWORD;
    t.conf.project_name = (char *)"service";
    tls_conf_encrypted_key(&t, "wrong.pass", WRONG_PASSPHRASE "\n");
    vtpm_test_publish_call_run(&call);
    assert_int_equal(call.status, VTPM_PUBLISH_CONFIG);
    vtpm_test_assert_has(call.res.message, "keystone 'https://127.0.0.1:");
    vtpm_test_assert_has(call.res.message, "cannot load client key '");
    vtpm_test_assert_has(call.res.message, "/client-encrypted.key': wrong passphrase");
    assert_clean_message(call.res.message);
}

static void
test_unusable_passphrase_files_are_refused_at_client_creation(void **state)
{
    /* The message is before + the file's path + after; no text: not written. */
    static const struct {
        const char *name, *text;
        size_t len;
        mode_t mode;
        const char *before, *after;
    } cases[] = {
        { "missing.pass", NULL, 0, 0, "cannot read passphrase file '",
          "': No such file or directory" },
        { ".", NULL, 0, 0, "passphrase file '", "' is not a file" },
        { "empty.pass", "", 0, 0600, "passphrase file '", "' has an empty first line" },
        { "blank.pass", "\n" KEY_PASSPHRASE "\n", 17, 0600, "passphrase file '",
          "' has an empty first line" },
        { "crlf-only.pass", "\r\n", 2, 0600, "passphrase file '",
          "' has an empty first line" },
        { "nul.pass", "test\0passphrase\n", 16, 0600, "passphrase file '",
          "' has a NUL byte in its first line" },
        { "world.pass", KEY_PASSPHRASE "\n", 16, 0644, "passphrase file '",
          "' is readable by others (mode 0644); chmod 0600 it" },
        { "group.pass", KEY_PASSPHRASE "\n", 16, 0640, "passphrase file '",
          "' is readable by others (mode 0640); chmod 0600 it" },
        { "group-writable.pass", KEY_PASSPHRASE "\n", 16, 0620, "passphrase file '",
          "' is writable by others (mode 0620); chmod 0600 it" },
    };

    for (size_t i = 0; i < VTPM_N_ELEMENTS(cases); i++) {
        tls_conf t;
        vtpm_placement_client *client;
        char err[512] = "", expect[512];

        tls_conf_init(&t, port_mtls, "ok");
        tls_conf_client_cert(&t, "client.pem", "client-encrypted.key");
        if (cases[i].text)
            pass_file(t.pass, sizeof(t.pass), cases[i].name, cases[i].text, cases[i].len,
                      cases[i].mode);
        else
            snprintf(t.pass, sizeof(t.pass), "%s/%s", tmp_dir, cases[i].name);
        t.conf.key_password_file = t.pass;
        client = vtpm_placement_client_new(&t.conf, err, sizeof(err));
        if (client)
            fail_msg("case %s accepted", cases[i].name);
        snprintf(expect, sizeof(expect), "%s%s%s", cases[i].before, t.pass, cases[i].after);
        assert_string_equal(err, expect);
        assert_clean_message(err);
    }
}

static void
test_passphrase_file_without_a_client_certificate_is_refused(void **state)
{
    tls_conf t;
    vtpm_placement_client *client;
    char err[512] = "", expect[512];

    tls_conf_init(&t, port_mtls, "ok");
    t.conf.key_password_file = (char *)pass_file(t.pass, sizeof(t.pass), "alone.pass",
                                                 KEY_PASSPHRASE "\n", 16, 0600);
    client = vtpm_placement_client_new(&t.conf, err, sizeof(err));
    assert_null(client);
    snprintf(expect, sizeof(expect),
             "passphrase file '%s' given without a client certificate", t.pass);
    assert_string_equal(err, expect);
}

static void
test_missing_tls_files_are_configuration_errors(void **state)
{
    /* The message is before + the PKI folder + after. */
    static const struct {
        const char *ca, *cert, *key, *before, *after;
    } cases[] = {
        { "ca.pem", "client.pem", "missing.key", "cannot read client key '",
          "/missing.key': No such file or directory" },
        { "ca.pem", "missing.pem", "client.key", "cannot read client certificate '",
          "/missing.pem': No such file or directory" },
        { "missing-ca.pem", NULL, NULL, "cannot read CA bundle '",
          "/missing-ca.pem': No such file or directory" },
        { ".", NULL, NULL, "CA bundle '", "/.' is not a file" },
        { "ca.pem", NULL, "client.key", "client key '",
          "/client.key' given without a client certificate" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tls_conf t;
        vtpm_placement_client *client;
        char err[256] = "", expect[256];

        tls_conf_init(&t, port_mtls, "ok");
        pki_path(t.ca, sizeof(t.ca), cases[i].ca);
        if (cases[i].cert)
            tls_conf_client_cert(&t, cases[i].cert, cases[i].key);
        else if (cases[i].key)
            t.conf.key_file = (char *)pki_path(t.key, sizeof(t.key), cases[i].key);
        client = vtpm_placement_client_new(&t.conf, err, sizeof(err));
        if (client)
            fail_msg("case %zu accepted", i);
        snprintf(expect, sizeof(expect), "%s%s%s", cases[i].before, pki, cases[i].after);
        assert_string_equal(err, expect);
        assert_clean_message(err);
    }
}


static void
keystone_tls_conf(tls_conf *t, char *auth_url, size_t len)
{
    tls_conf_init(t, port_https, "auth");
    t->conf.url = NULL;               /* from the catalog: https on the same port */
    t->conf.auth = VTPM_PLACEMENT_AUTH_PASSWORD;
    t->conf.token = NULL;
    snprintf(auth_url, len, "https://127.0.0.1:%d/keystone/v3", port_https);
    t->conf.auth_url = auth_url;
    t->conf.username = (char *)"reporter";
    t->conf.password = (char *)PASSWORD;
    t->conf.project_name = (char *)"service";
}

static void
test_keystone_over_https_uses_the_same_ca_file(void **state)
{
    tls_conf t;
    vtpm_test_publish_call call = {
        .host = "tls-call", .present = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2)
    };
    char auth_url[128];
    char *err;

    keystone_tls_conf(&t, auth_url, sizeof(auth_url));
    call.conf = &t.conf;
    vtpm_test_publish_call_run(&call);
    if (call.status != VTPM_PUBLISH_CHANGED)
        fail_msg("publish: %s", call.res.message);

    /* An untrusted Keystone: refused before the password is sent, and the
     * password shows in neither the message nor the DEBUG log. */
    pki_path(t.ca, sizeof(t.ca), "other-ca.pem");
    vtpm_log_init("test_placement_tls", VTPM_LOG_DEBUG);
    err = vtpm_test_capture_stderr(vtpm_test_publish_call_run, &call);
    vtpm_log_init("test_placement_tls", VTPM_LOG_ERROR);
    assert_int_equal(call.status, VTPM_PUBLISH_UNREACHABLE);
    vtpm_test_assert_has(call.res.message, "cannot reach keystone 'https://127.0.0.1:");
    vtpm_test_assert_has(call.res.message, "SSL certificate problem");
    assert_clean_message(call.res.message);
    assert_null(strstr(err, PASSWORD));
    assert_null(strstr(err, "PRIVATE KEY"));
    free(err);
}

typedef struct {
    const char *config;
    char line[512];
    int status;
} reporter_call;

/*
 * A `vtpm-reporter run` config for the listener that requires a client
 * certificate: client.pem with the PKI's @key, and the passphrase file @pass
 * (NULL: none). swtpm disabled: every managed trait is absent, whatever this
 * host has.
 */
static void
run_config(char *config, size_t len, const char *host, unsigned int retries,
           const char *key, const char *pass)
{
    char ca[256], cert[256], key_path[256], pass_line[320] = "";

    if (pass)
        snprintf(pass_line, sizeof(pass_line), "  key_password_file: %s\n", pass);
    snprintf(config, len,
             "swtpm_enabled: false\n"
             "host: %s\n"
             "inventory: placement\n"
             "lock_file: %s/run.lock\n"
             "state_dir: %s/state\n"
             "heartbeat: 0\n"
             "retries: %u\n"
             "placement:\n"
             "  url: https://127.0.0.1:%d/ok\n"
             "  auth: token\n"
             "  token: admin\n"
             "  create_provider: true\n"
             "  ca_file: %s\n"
             "  cert_file: %s\n"
             "%s"
             "  key_file: %s\n",
             host, tmp_dir, tmp_dir, retries, port_mtls, pki_path(ca, sizeof(ca), "ca.pem"),
             pki_path(cert, sizeof(cert), "client.pem"), pass_line,
             pki_path(key_path, sizeof(key_path), key));
}

static void
test_reporter_run_over_mutual_tls_and_with_a_missing_key(void **state)
{
    char config[2048], key[256];
    vtpm_test_reporter_call call = { .dir = tmp_dir, .config = config };
    char *err;

    run_config(config, sizeof(config), "tls-cli", 0, "client.key", NULL);
    err = vtpm_test_capture_stderr(vtpm_test_reporter_call_run, &call);
    if (call.status != 3)                     /* VTPM_EXIT_UNCHANGED: all absent already */
        fail_msg("vtpm-reporter run: exit %d: %s %s", call.status, call.line, err);
    vtpm_test_assert_has(call.line, "unchanged");
    free(err);

    pki_path(key, sizeof(key), "nowhere.key");
    {
        char *line = strstr(config, "  key_file: ");

        snprintf(line, sizeof(config) - (size_t)(line - config), "  key_file: %s\n", key);
    }
    err = vtpm_test_capture_stderr(vtpm_test_reporter_call_run, &call);
    assert_int_equal(call.status, 2);         /* VTPM_EXIT_USAGE */
    vtpm_test_assert_has(err, "cannot read client key '");
    vtpm_test_assert_has(err, "nowhere.key': No such file or directory");
    free(err);
}

static void
test_reporter_run_with_an_encrypted_key_and_its_passphrase_file(void **state)
{
    char config[2048], pass[256];
    vtpm_test_reporter_call call = { .dir = tmp_dir, .config = config };
    double t0, took;
    char *err;

    /* retries: 2 would wait 1 s, then 2 s, before attempts 2 and 3. */
    pass_file(pass, sizeof(pass), "run.pass", KEY_PASSPHRASE "\n", 16, 0600);
    run_config(config, sizeof(config), "tls-cli-keypass", 2, "client-encrypted.key", pass);
    err = vtpm_test_capture_stderr(vtpm_test_reporter_call_run, &call);
    /* A new provider with every managed trait absent: 0 (created) or 3. */
    if (call.status != 0 && call.status != 3)
        fail_msg("vtpm-reporter run: exit %d: %s %s", call.status, call.line, err);
    assert_null(strstr(err, KEY_PASSPHRASE));
    free(err);

    /* A wrong passphrase: exit 2 at once, one attempt, no retry. */
    pass_file(pass, sizeof(pass), "run.pass", WRONG_PASSPHRASE "\n", 19, 0600);
    t0 = vtpm_clock_now();
    err = vtpm_test_capture_stderr(vtpm_test_reporter_call_run, &call);
    took = vtpm_clock_now() - t0;
    assert_int_equal(call.status, 2);         /* VTPM_EXIT_USAGE */
    vtpm_test_assert_has(err, "configuration error: placement: cannot load client key '");
    vtpm_test_assert_has(err, "client-encrypted.key': wrong passphrase");
    assert_null(strstr(err, "retrying"));
    assert_null(strstr(err, WRONG_PASSPHRASE));
    if (took >= 2.5)
        fail_msg("vtpm-reporter run took %.1f s: retried? %s", took, err);
    free(err);

    /* A passphrase file that others may read: exit 2 before any request. */
    pass_file(pass, sizeof(pass), "run.pass", KEY_PASSPHRASE "\n", 16, 0644);
    err = vtpm_test_capture_stderr(vtpm_test_reporter_call_run, &call);
    assert_int_equal(call.status, 2);
    vtpm_test_assert_has(err, "run.pass' is readable by others (mode 0644); chmod 0600 it");
    free(err);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_https_with_the_test_ca_file_publishes_over_one_connection),
        cmocka_unit_test(test_verification_is_on_by_default_and_the_system_store_refuses_the_test_ca),
        cmocka_unit_test(test_unrelated_ca_file_is_refused),
        cmocka_unit_test(test_certificate_for_another_host_name_is_refused),
        cmocka_unit_test(test_verify_false_accepts_an_untrusted_server),
        cmocka_unit_test(test_server_requiring_a_client_certificate_refuses_a_client_without_one),
        cmocka_unit_test(test_client_certificate_and_key_are_accepted),
        cmocka_unit_test(test_client_certificate_from_an_unrelated_ca_is_refused),
        cmocka_unit_test(test_encrypted_client_key_fails_without_asking_for_a_passphrase),
        cmocka_unit_test(test_encrypted_client_key_with_its_passphrase_file_publishes),
        cmocka_unit_test(test_wrong_passphrase_is_a_configuration_error_naming_the_key),
        cmocka_unit_test(test_unusable_passphrase_files_are_refused_at_client_creation),
        cmocka_unit_test(test_passphrase_file_without_a_client_certificate_is_refused),
        cmocka_unit_test(test_missing_tls_files_are_configuration_errors),
        cmocka_unit_test(test_keystone_over_https_uses_the_same_ca_file),
        cmocka_unit_test(test_reporter_run_over_mutual_tls_and_with_a_missing_key),
        cmocka_unit_test(test_reporter_run_with_an_encrypted_key_and_its_passphrase_file),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
