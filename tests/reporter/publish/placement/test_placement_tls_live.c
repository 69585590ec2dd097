/* SPDX-License-Identifier: Apache-2.0 */
/* The Placement publisher over TLS to Debian's real keystone and placement-api (uwsgi HTTPS router). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"
#include "http.h"
#include "keystone.h"
#include "log.h"
#include "placement-priv.h"
#include "require.h"
#include "service.h"

#define T_1_2 "COMPUTE_SECURITY_TPM_1_2"
#define T_2_0 "COMPUTE_SECURITY_TPM_2_0"

/*
 * Both services run once for the program, each behind uwsgi's HTTPS router
 * with a certificate from the throwaway test CA: Keystone with pki.sh's
 * server certificate (IP:127.0.0.1, DNS:localhost), Placement with one made
 * here for IP:127.0.0.1 only, so that https://localhost:PORT reaches the
 * real Placement under a name its certificate does not cover. Each also has
 * a second listener that requires a client certificate from the test CA.
 */
static char tmp_dir[64];
static char pki[128];
static char ks_dir[128], pl_dir[128];
static char ks_url[256], pl_url[256];
static char mtls_url[256];       /* the same Placement, client certificate required */
static char ks_mtls_url[256];    /* the same Keystone, client certificate required */
static int pl_port;
static char admin_password[128];
static char ca_file[256], other_ca_file[256];

/* A reader independent of the publisher under test: its own handle and token. */
static vtpm_http *raw;
static vtpm_keystone *raw_ks;

static const char *
pki_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", pki, name);
    return buf;
}

/* Issues iponly.pem/.key from the test CA: a server certificate for IP:127.0.0.1 alone. */
static int
pki_issue_ip_only(void)
{
    char key[256], cert[256], cakey[256];
    char *genkey[] = {
        (char *)"/usr/bin/openssl", (char *)"genpkey", (char *)"-algorithm", (char *)"EC",
        (char *)"-pkeyopt", (char *)"ec_paramgen_curve:P-256", (char *)"-out",
        (char *)pki_path(key, sizeof(key), "iponly.key"), NULL
    };
    char *issue[] = {
        (char *)"/usr/bin/openssl", (char *)"req", (char *)"-new", (char *)"-x509",
        (char *)"-key", key, (char *)"-out",
        (char *)pki_path(cert, sizeof(cert), "iponly.pem"), (char *)"-days", (char *)"2",
        (char *)"-subj", (char *)"/CN=127.0.0.1", (char *)"-CA", ca_file,
        (char *)"-CAkey", (char *)pki_path(cakey, sizeof(cakey), "ca.key"),
        (char *)"-addext", (char *)"subjectAltName=IP:127.0.0.1",
        (char *)"-addext", (char *)"basicConstraints=critical,CA:FALSE",
        (char *)"-addext", (char *)"extendedKeyUsage=serverAuth", NULL
    };

    return vtpm_test_run(genkey, NULL, 0) == 0 && vtpm_test_run(issue, NULL, 0) == 0 ? 0 : -1;
}

/* Reads into @url the mutual-TLS listener's URL that a fixture left in @dir. */
static int
mtls_url_read(const char *dir, char *url, size_t len)
{
    char path[256];
    FILE *f;
    int ok;

    snprintf(path, sizeof(path), "%s/mtls-url", dir);
    f = fopen(path, "r");
    if (!f)
        return -1;
    ok = fgets(url, (int)len, f) != NULL;
    fclose(f);
    url[strcspn(url, "\n")] = '\0';
    return ok && strncmp(url, "https://127.0.0.1:", 18) == 0 ? 0 : -1;
}

/* Starts everything; returns NULL, or why it could not. */
static const char *
services_start(void)
{
    char script[512], cert[256], key[256];
    vtpm_http_conf hc = { .verify = true, .connect_timeout = 5, .timeout = 30 };
    vtpm_keystone_conf kc = { 0 };
    vtpm_publish_status st;
    char err[256] = "";
    char *colon;

    if (access("/usr/bin/openssl", X_OK) != 0)
        return "/usr/bin/openssl missing: apt-get install openssl (scripts/setup.sh)";
    if (vtpm_test_tmpdir(tmp_dir, sizeof(tmp_dir), "tlsl") < 0)
        return "cannot create a folder under /tmp";
    snprintf(pki, sizeof(pki), "%s/pki", tmp_dir);
    snprintf(ks_dir, sizeof(ks_dir), "%s/keystone", tmp_dir);
    snprintf(pl_dir, sizeof(pl_dir), "%s/placement", tmp_dir);
    pki_path(ca_file, sizeof(ca_file), "ca.pem");
    pki_path(other_ca_file, sizeof(other_ca_file), "other-ca.pem");
    {
        char *argv[] = {
            (char *)vtpm_test_source_path(script, sizeof(script), "tests/fixtures/pki.sh"),
            pki, NULL
        };

        if (vtpm_test_run(argv, NULL, 0) != 0 || pki_issue_ip_only() != 0)
            return "cannot make the test PKI with tests/fixtures/pki.sh and openssl "
                   "(see above)";
    }

    setenv("KEYSTONE_TLS_CERT", pki_path(cert, sizeof(cert), "server.pem"), 1);
    setenv("KEYSTONE_TLS_KEY", pki_path(key, sizeof(key), "server.key"), 1);
    setenv("KEYSTONE_TLS_CA", ca_file, 1);
    setenv("KEYSTONE_TLS_CLIENT_CA", ca_file, 1);
    if (vtpm_test_fixture("tests/fixtures/keystone.sh", "start", ks_dir, NULL, NULL, ks_url,
                          sizeof(ks_url)) != 0 || strncmp(ks_url, "https://", 8) != 0 ||
        vtpm_test_fixture("tests/fixtures/keystone.sh", "password", ks_dir, NULL, NULL,
                          admin_password, sizeof(admin_password)) != 0)
        return "cannot start keystone over https with tests/fixtures/keystone.sh "
               "(install the packages with scripts/setup.sh)";
    if (mtls_url_read(ks_dir, ks_mtls_url, sizeof(ks_mtls_url)) < 0)
        return "keystone.sh wrote no mtls-url";

    setenv("PLACEMENT_AUTH", "keystone", 1);
    setenv("KEYSTONE_URL", ks_url, 1);
    setenv("KEYSTONE_ADMIN_PASSWORD", admin_password, 1);
    setenv("PLACEMENT_TLS_CERT", pki_path(cert, sizeof(cert), "iponly.pem"), 1);
    setenv("PLACEMENT_TLS_KEY", pki_path(key, sizeof(key), "iponly.key"), 1);
    setenv("PLACEMENT_TLS_CA", ca_file, 1);
    setenv("PLACEMENT_TLS_CLIENT_CA", ca_file, 1);
    if (vtpm_test_fixture("tests/fixtures/placement-api.sh", "start", pl_dir, NULL, NULL,
                          pl_url, sizeof(pl_url)) != 0 ||
        strncmp(pl_url, "https://127.0.0.1:", 18) != 0)
        return "cannot start placement-api over https with keystone auth "
               "(tests/fixtures/placement-api.sh)";
    colon = strrchr(pl_url, ':');
    pl_port = (int)strtol(colon + 1, NULL, 10);
    if (mtls_url_read(pl_dir, mtls_url, sizeof(mtls_url)) < 0)
        return "placement-api.sh wrote no mtls-url";
    if (vtpm_test_fixture("tests/fixtures/keystone.sh", "endpoint", ks_dir, "placement",
                          pl_url, NULL, 0) != 0)
        return "cannot register placement's https endpoint in keystone";

    hc.ca_file = ca_file;
    raw = vtpm_http_new(&hc, err, sizeof(err));
    if (!raw)
        return "cannot make an HTTP handle for the test CA";
    kc.auth_url = ks_url;
    kc.username = "admin";
    kc.password = admin_password;
    kc.project_name = "admin";
    raw_ks = vtpm_keystone_new(&kc, raw);
    if (!raw_ks || !vtpm_keystone_token(raw_ks, false, &st, err, sizeof(err)))
        return "cannot get a token from keystone over https";
    return NULL;
}

static int
group_teardown(void **state)
{
    vtpm_keystone_free(raw_ks);
    vtpm_http_free(raw);
    vtpm_test_fixture("tests/fixtures/placement-api.sh", "stop", pl_dir, NULL, NULL, NULL, 0);
    vtpm_test_fixture("tests/fixtures/keystone.sh", "stop", ks_dir, NULL, NULL, NULL, 0);
    vtpm_test_rmdir(tmp_dir);
    return 0;
}

static int
group_setup(void **state)
{
    const char *why;

    vtpm_log_init("test_placement_tls_live", VTPM_LOG_ERROR);
    why = services_start();
    if (!why)
        return 0;
    fprintf(stderr, "# %s\n", why);
    group_teardown(state);
    return -1;
}

/* The admin token of the independent reader (cached; valid for the whole run). */
static const char *
raw_token(void)
{
    vtpm_publish_status st;
    char err[256] = "";
    const char *token = vtpm_keystone_token(raw_ks, false, &st, err, sizeof(err));

    if (!token)
        fail_msg("keystone token: %s", err);
    return token;
}

/* GET @path from the real Placement over https; returns the JSON body (status 200). */
static json_t *
raw_get(const char *path)
{
    char auth[1024], url[512];
    const char *headers[] = {
        auth, "OpenStack-API-Version: placement 1.39", "Accept: application/json", NULL
    };
    vtpm_http_response resp = { 0 };
    json_t *root;

    snprintf(auth, sizeof(auth), "X-Auth-Token: %s", raw_token());
    snprintf(url, sizeof(url), "%s%s", pl_url, path);
    if (vtpm_http_request(raw, "GET", url, headers, NULL, &resp) < 0)
        fail_msg("GET %s: %s", path, resp.error);
    if (resp.status != 200)
        fail_msg("GET %s: HTTP %ld: %s", path, resp.status, resp.body);
    root = json_loads(resp.body, 0, NULL);
    vtpm_http_response_clear(&resp);
    assert_non_null(root);
    return root;
}

/*
 * The traits of provider @name as Placement stores them, sorted and
 * comma-separated, or "(no provider)".
 */
static void
raw_traits_of(const char *name, char *buf, size_t len)
{
    char path[256];
    json_t *list, *traits, *t;
    const char *names[64];
    size_t i, n = 0, o = 0;

    snprintf(path, sizeof(path), "/resource_providers?name=%s", name);
    list = raw_get(path);
    if (json_array_size(json_object_get(list, "resource_providers")) != 1) {
        snprintf(buf, len, "(no provider)");
        json_decref(list);
        return;
    }
    snprintf(path, sizeof(path), "/resource_providers/%s/traits",
             json_string_value(json_object_get(
                 json_array_get(json_object_get(list, "resource_providers"), 0), "uuid")));
    json_decref(list);
    traits = raw_get(path);
    json_array_foreach(json_object_get(traits, "traits"), i, t) {
        const char *s = json_string_value(t);
        size_t k = n;

        if (!s || n == 64)
            continue;
        while (k > 0 && strcmp(names[k - 1], s) > 0) {
            names[k] = names[k - 1];
            k--;
        }
        names[k] = s;
        n++;
    }
    buf[0] = '\0';
    for (i = 0; i < n && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? "," : "", names[i]);
    json_decref(traits);
}

/* Keystone password auth to the TLS services, the test CA trusted. */
static void
password_conf(vtpm_placement_conf *conf)
{
    vtpm_test_password_conf(conf, pl_url, ks_url, admin_password);
    conf->ca_file = ca_file;
    conf->timeout = 20;
}

/* Fails when @text shows a secret of this run: the password or a token. */
static void
assert_no_secret(const char *text)
{
    if (strstr(text, admin_password))
        fail_msg("the password shows in: %s", text);
    if (strstr(text, raw_token()))
        fail_msg("a token shows in: %s", text);
    assert_null(strstr(text, "X-Auth-Token"));
    assert_null(strstr(text, "PRIVATE KEY"));
}

/*
 * Publishes TPM_1_2 for @host through @conf with the log at DEBUG level;
 * fails unless it was UNREACHABLE with a message holding @want (and
 * @reason, unless NULL), or when the message or anything logged shows a
 * secret.
 */
static void
publish_expect_unreachable(const vtpm_placement_conf *conf, const char *host, const char *want,
                           const char *reason)
{
    vtpm_test_publish_call call = {
        .conf = conf, .host = host, .present = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2)
    };
    char *err;

    vtpm_log_init("test_placement_tls_live", VTPM_LOG_DEBUG);
    err = vtpm_test_capture_stderr(vtpm_test_publish_call_run, &call);
    vtpm_log_init("test_placement_tls_live", VTPM_LOG_ERROR);
    assert_no_secret(err);
    free(err);
    if (call.status != VTPM_PUBLISH_UNREACHABLE)
        fail_msg("status %d, not unreachable: %s", (int)call.status, call.res.message);
    vtpm_test_assert_has(call.res.message, want);
    if (reason)
        vtpm_test_assert_has(call.res.message, reason);
    assert_no_secret(call.res.message);
}

/* publish_expect_unreachable() because @service's certificate was not trusted. */
static void
publish_expect_untrusted(const vtpm_placement_conf *conf, const char *service)
{
    char want[128];

    snprintf(want, sizeof(want), "cannot reach %s 'https://127.0.0.1:", service);
    publish_expect_unreachable(conf, "tls-live-untrusted", want,
                               "SSL certificate problem: unable to get local issuer certificate");
}

/*
 * Publishes @present for @host through a fresh client from @conf; fails
 * unless Placement changed and a GET reads back exactly @want (sorted,
 * comma-separated). The outcome goes into @res.
 */
static void
publish_expect_traits(const vtpm_placement_conf *conf, const char *host, vtpm_traitset present,
                      const char *want, vtpm_publish_result *res)
{
    char traits[512];

    if (vtpm_test_publish_once(conf, host, present, res) != VTPM_PUBLISH_CHANGED)
        fail_msg("publish: %s", res->message);
    raw_traits_of(host, traits, sizeof(traits));
    assert_string_equal(traits, want);
}

static void
test_publish_with_the_test_ca_lands_the_traits_in_placement(void **state)
{
    vtpm_placement_conf conf;
    vtpm_placement_client *client;
    vtpm_placement_stats before, after;
    vtpm_publish_result res;
    vtpm_report r;
    char err[256] = "", traits[512];

    password_conf(&conf);
    client = vtpm_placement_client_new(&conf, err, sizeof(err));
    if (!client)
        fail_msg("client: %s", err);
    vtpm_test_report_init(&r, "tls-live-ca", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2) |
                          VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0));
    if (vtpm_placement_publish(client, &r, &res) != VTPM_PUBLISH_CHANGED)
        fail_msg("publish: %s", res.message);
    assert_int_equal(res.generation, 1);
    raw_traits_of("tls-live-ca", traits, sizeof(traits));
    assert_string_equal(traits, T_1_2 "," T_2_0);

    /* The next run reuses the token and the kept-alive TLS connection to
     * the uwsgi router: no new handshake. */
    vtpm_placement_client_stats(client, &before);
    assert_int_equal(vtpm_placement_publish(client, &r, &res), VTPM_PUBLISH_UNCHANGED);
    vtpm_placement_client_stats(client, &after);
    assert_int_equal(after.token_requests, 1);
    assert_int_equal(after.connections, before.connections);
    assert_true(after.requests > before.requests);
    vtpm_placement_client_free(client);
}

static void
test_placement_endpoint_from_the_https_catalog_publishes(void **state)
{
    vtpm_placement_conf conf;
    vtpm_publish_result res;

    password_conf(&conf);
    conf.url = NULL;                 /* the https:// endpoint registered in keystone */
    publish_expect_traits(&conf, "tls-live-catalog", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0),
                          T_2_0, &res);
    vtpm_test_assert_has(res.message, "+" T_2_0);
}

static void
test_keystone_signed_by_an_unrelated_ca_is_refused_without_showing_the_password(void **state)
{
    vtpm_placement_conf conf;
    char traits[512];

    password_conf(&conf);
    conf.ca_file = other_ca_file;
    publish_expect_untrusted(&conf, "keystone");
    raw_traits_of("tls-live-untrusted", traits, sizeof(traits));
    assert_string_equal(traits, "(no provider)");
}

static void
test_placement_signed_by_an_unrelated_ca_is_refused_without_showing_the_token(void **state)
{
    vtpm_placement_conf conf;
    char traits[512];

    /* A valid Keystone token, straight to Placement: only Placement's
     * certificate is in the way. */
    vtpm_placement_conf_init(&conf);
    conf.url = pl_url;
    conf.auth = VTPM_PLACEMENT_AUTH_TOKEN;
    conf.token = (char *)raw_token();
    conf.create_provider = true;
    conf.ca_file = other_ca_file;
    publish_expect_untrusted(&conf, "placement");
    raw_traits_of("tls-live-untrusted", traits, sizeof(traits));
    assert_string_equal(traits, "(no provider)");
}

static void
test_placement_reached_by_a_name_its_certificate_lacks_is_refused(void **state)
{
    vtpm_placement_conf conf;
    vtpm_publish_result res;
    char url[128];

    /* localhost is 127.0.0.1, but the certificate names only IP:127.0.0.1. */
    snprintf(url, sizeof(url), "https://localhost:%d", pl_port);
    password_conf(&conf);
    conf.url = url;
    assert_int_equal(vtpm_test_publish_once(&conf, "tls-live-name", 0, &res),
                     VTPM_PUBLISH_UNREACHABLE);
    vtpm_test_assert_has(res.message, "cannot reach placement 'https://localhost:");
    vtpm_test_assert_has(res.message, "no alternative certificate subject name matches "
                                      "target host name 'localhost'");
    assert_no_secret(res.message);
}

static void
test_verify_false_accepts_an_untrusted_keystone_and_placement(void **state)
{
    vtpm_placement_conf conf;
    vtpm_publish_result res;
    char url[128];

    /* For labs only (docs/placement.md): neither CA nor name is checked. */
    snprintf(url, sizeof(url), "https://localhost:%d", pl_port);
    password_conf(&conf);
    conf.url = url;
    conf.ca_file = other_ca_file;
    conf.verify = false;
    publish_expect_traits(&conf, "tls-live-noverify", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2),
                          T_1_2, &res);
}

static void
test_placement_requiring_a_client_certificate_takes_the_test_client_only(void **state)
{
    /* Refused handshakes try to remove TPM_2_0: it must stay. Whether the
     * client reads the router's TLS alert ("alert certificate required",
     * "alert unknown ca") or finds the connection already closed depends on
     * timing, so only the transport failure itself is pinned. */
    static const struct {
        const char *cert, *key;
        vtpm_traitset present;
        vtpm_publish_status want;
        const char *message;
    } cases[] = {
        { "client.pem", "client.key", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0),
          VTPM_PUBLISH_CHANGED, "+" T_2_0 },
        { "client-bundle.pem", NULL, VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0),
          VTPM_PUBLISH_UNCHANGED, "unchanged" },
        { NULL, NULL, 0, VTPM_PUBLISH_UNREACHABLE, "cannot reach placement 'https://" },
        { "stranger.pem", "stranger.key", 0, VTPM_PUBLISH_UNREACHABLE,
          "cannot reach placement 'https://" },
    };
    char cert[256], key[256], traits[512];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vtpm_placement_conf conf;
        vtpm_publish_result res;

        password_conf(&conf);
        conf.url = mtls_url;
        if (cases[i].cert)
            conf.cert_file = (char *)pki_path(cert, sizeof(cert), cases[i].cert);
        if (cases[i].key)
            conf.key_file = (char *)pki_path(key, sizeof(key), cases[i].key);
        if (vtpm_test_publish_once(&conf, "tls-live-mtls", cases[i].present, &res) !=
            cases[i].want)
            fail_msg("case %zu: %s", i, res.message);
        vtpm_test_assert_has(res.message, cases[i].message);
        assert_no_secret(res.message);
    }
    raw_traits_of("tls-live-mtls", traits, sizeof(traits));
    assert_string_equal(traits, T_2_0);
}

/* Password auth through Keystone's client-certificate listener to Placement's @url. */
static void
keystone_mtls_conf(vtpm_placement_conf *conf, const char *url, const char *cert,
                   const char *key, char *cert_buf, char *key_buf, size_t len)
{
    password_conf(conf);
    conf->url = (char *)url;
    conf->auth_url = ks_mtls_url;
    if (cert)
        conf->cert_file = (char *)pki_path(cert_buf, len, cert);
    if (key)
        conf->key_file = (char *)pki_path(key_buf, len, key);
}

static void
test_keystone_requiring_a_client_certificate_takes_the_test_client(void **state)
{
    /* One cert_file/key_file for both services: Placement's plain listener,
     * then its listener that requires a client certificate too. */
    static const struct {
        const char *url, *host;
        vtpm_traitset present;
        const char *want;
    } cases[] = {
        { pl_url, "tls-live-ks-mtls", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2), T_1_2 },
        { mtls_url, "tls-live-both-mtls",
          VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2) | VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0),
          T_1_2 "," T_2_0 },
    };
    char cert[256], key[256];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vtpm_placement_conf conf;
        vtpm_publish_result res;

        keystone_mtls_conf(&conf, cases[i].url, "client.pem", "client.key", cert, key,
                           sizeof(cert));
        publish_expect_traits(&conf, cases[i].host, cases[i].present, cases[i].want, &res);
        vtpm_test_assert_has(res.message, "+" T_1_2);
    }
}

static void
test_keystone_requiring_a_client_certificate_refuses_none_or_a_stranger_quietly(void **state)
{
    /* As with Placement's listener, the reason (the router's TLS alert or
     * a connection already closed) depends on timing: only the transport
     * failure, and that it was Keystone's, is pinned. */
    static const struct {
        const char *cert, *key;
    } cases[] = {
        { NULL, NULL },
        { "stranger.pem", "stranger.key" },
    };
    char cert[256], key[256], want[300], traits[512];

    snprintf(want, sizeof(want), "cannot reach keystone '%s/auth/tokens': ", ks_mtls_url);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vtpm_placement_conf conf;

        keystone_mtls_conf(&conf, pl_url, cases[i].cert, cases[i].key, cert, key,
                           sizeof(cert));
        publish_expect_unreachable(&conf, "tls-live-ks-mtls-refused", want, NULL);
    }
    raw_traits_of("tls-live-ks-mtls-refused", traits, sizeof(traits));
    assert_string_equal(traits, "(no provider)");
}

/* Writes @line to @name in the temp dir, mode 0600; returns its path in @buf. */
static const char *
passphrase_file(char *buf, size_t len, const char *name, const char *line)
{
    FILE *f;

    snprintf(buf, len, "%s/%s", tmp_dir, name);
    f = fopen(buf, "w");
    assert_non_null(f);
    assert_true(fputs(line, f) >= 0);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(buf, 0600), 0);
    return buf;
}

static void
test_encrypted_client_key_with_its_passphrase_file_authenticates_to_both(void **state)
{
    vtpm_placement_conf conf;
    vtpm_test_publish_call call = { .conf = &conf, .host = "tls-live-keypass-wrong" };
    vtpm_publish_result res;
    char cert[256], key[256], pass[256], traits[512];
    char *err;

    /* Both listeners that require a client certificate, one encrypted key. */
    keystone_mtls_conf(&conf, mtls_url, "client.pem", "client-encrypted.key", cert, key,
                       sizeof(cert));
    conf.key_password_file = (char *)passphrase_file(pass, sizeof(pass), "live.pass",
                                                     "test-passphrase\n");
    publish_expect_traits(&conf, "tls-live-keypass", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0),
                          T_2_0, &res);

    /* A wrong passphrase: Keystone is asked first, and the key does not
     * load: a configuration error naming the key, nothing sent. */
    passphrase_file(pass, sizeof(pass), "live.pass", "wrong-passphrase\n");
    vtpm_log_init("test_placement_tls_live", VTPM_LOG_DEBUG);
    err = vtpm_test_capture_stderr(vtpm_test_publish_call_run, &call);
    vtpm_log_init("test_placement_tls_live", VTPM_LOG_ERROR);
    assert_no_secret(err);
    assert_null(strstr(err, "wrong-passphrase"));
    free(err);
    if (call.status != VTPM_PUBLISH_CONFIG)
        fail_msg("status %d, not a configuration error: %s", (int)call.status,
                 call.res.message);
    vtpm_test_assert_has(call.res.message, "cannot load client key '");
    vtpm_test_assert_has(call.res.message, "/client-encrypted.key': wrong passphrase");
    assert_null(strstr(call.res.message, "wrong-passphrase"));
    assert_no_secret(call.res.message);
    raw_traits_of("tls-live-keypass-wrong", traits, sizeof(traits));
    assert_string_equal(traits, "(no provider)");
}

/*
 * Runs `vtpm-reporter run` with swtpm off (every managed trait absent),
 * password auth and @tls_lines; fails unless it exits with @want or when
 * its output shows a secret. Returns its stdout's first line in @line and
 * its stderr (free it).
 */
static char *
reporter_run_expect(const char *tls_lines, int want, char *line, size_t len)
{
    char config[2048];
    vtpm_test_reporter_call call = { .dir = tmp_dir, .config = config };
    char *err;

    snprintf(config, sizeof(config),
             "swtpm_enabled: false\n"
             "host: tls-live-cli\n"
             "inventory: placement\n"
             "lock_file: %s/run.lock\n"
             "state_dir: %s/state\n"
             "heartbeat: 0\n"
             "retries: 0\n"
             "placement:\n"
             "  url: %s\n"
             "  auth: password\n"
             "  auth_url: %s\n"
             "  username: admin\n"
             "  password: \"%s\"\n"
             "  project_name: admin\n"
             "%s",
             tmp_dir, tmp_dir, pl_url, ks_url, admin_password, tls_lines);
    err = vtpm_test_capture_stderr(vtpm_test_reporter_call_run, &call);
    if (call.status != want)
        fail_msg("vtpm-reporter run: exit %d, not %d: %s %s", call.status, want, call.line,
                 err);
    assert_no_secret(call.line);
    assert_no_secret(err);
    snprintf(line, len, "%s", call.line);
    return err;
}

static void
test_reporter_run_publishes_with_the_test_ca_and_exits_unreachable_without_it(void **state)
{
    vtpm_placement_conf conf;
    vtpm_publish_result res;
    char tls[512], line[512], traits[512];
    char *err;

    /* Give the provider a trait that the run, all absent, must take away. */
    password_conf(&conf);
    if (vtpm_test_publish_once(&conf, "tls-live-cli", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0),
                               &res) != VTPM_PUBLISH_CHANGED)
        fail_msg("publish: %s", res.message);
    snprintf(tls, sizeof(tls), "  ca_file: %s\n", ca_file);
    free(reporter_run_expect(tls, VTPM_EXIT_OK, line, sizeof(line)));
    vtpm_test_assert_has(line, "-" T_2_0);
    raw_traits_of("tls-live-cli", traits, sizeof(traits));
    assert_string_equal(traits, "");

    /* The unrelated CA, then no ca_file at all (the system store does not
     * know the test CA): transport failures, exit 5, said on stderr. */
    snprintf(tls, sizeof(tls), "  ca_file: %s\n", other_ca_file);
    for (int i = 0; i < 2; i++) {
        err = reporter_run_expect(i == 0 ? tls : "", VTPM_EXIT_UNREACHABLE, line,
                                  sizeof(line));
        vtpm_test_assert_has(err, "cannot reach keystone 'https://127.0.0.1:");
        vtpm_test_assert_has(err, "SSL certificate problem: unable to get local issuer "
                                  "certificate");
        free(err);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_with_the_test_ca_lands_the_traits_in_placement),
        cmocka_unit_test(test_placement_endpoint_from_the_https_catalog_publishes),
        cmocka_unit_test(test_keystone_signed_by_an_unrelated_ca_is_refused_without_showing_the_password),
        cmocka_unit_test(test_placement_signed_by_an_unrelated_ca_is_refused_without_showing_the_token),
        cmocka_unit_test(test_placement_reached_by_a_name_its_certificate_lacks_is_refused),
        cmocka_unit_test(test_verify_false_accepts_an_untrusted_keystone_and_placement),
        cmocka_unit_test(test_placement_requiring_a_client_certificate_takes_the_test_client_only),
        cmocka_unit_test(test_keystone_requiring_a_client_certificate_takes_the_test_client),
        cmocka_unit_test(test_keystone_requiring_a_client_certificate_refuses_none_or_a_stranger_quietly),
        cmocka_unit_test(test_encrypted_client_key_with_its_passphrase_file_authenticates_to_both),
        cmocka_unit_test(test_reporter_run_publishes_with_the_test_ca_and_exits_unreachable_without_it),
    };

    vtpm_test_require_program("/usr/bin/placement-api", "placement-api");
    vtpm_test_require_program("/usr/bin/uwsgi", "uwsgi-core");

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
