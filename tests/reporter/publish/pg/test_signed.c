/* SPDX-License-Identifier: Apache-2.0 */
/* The pooled mode: one shared login, reports signed with host keys, every refusal the database owes. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "host_keys.h"
#include "pg_fixture.h"
#include "publish_pg.h"
#include "report_fixture.h"
#include "require.h"
#include "run.h"
#include "util.h"

#define POOL_LOGIN "vtpm_pool"
#define POOL_PASSWORD "pool-secret"

static vtpm_test_pg pg;
static PGconn *admin;
static char db_dsn[512];      /* the superuser, straight to the server */
static char pool_dsn[512];    /* the shared login: straight, or through PgBouncer */
static char bouncer_dir[300];
static char work_dir[64];

/* ---- helpers ---- */

static PGconn *
pool_connect(void)
{
    return vtpm_test_pg_connect(pool_dsn);
}

/* Issues a key of @host (its first, or with @rotate a second) into @key. */
static void
issue(const char *host, bool rotate, vtpm_host_key *key)
{
    char token[VTPM_HOST_KEY_TOKEN_LEN + 1], id[VTPM_HOST_KEY_ID_LEN + 1], err[512];

    if (vtpm_host_key_issue(admin, host, NULL, rotate, id, token, sizeof(token), err,
                            sizeof(err)) < 0)
        fail_msg("%s", err);
    assert_int_equal(vtpm_host_key_parse(token, key, err, sizeof(err)), 0);
    assert_string_equal(key->id, id);
}

static long long
count_of(const char *sql)
{
    return vtpm_test_pg_number(admin, sql);
}

static int64_t
now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The seven managed traits, TPM 2.0 present when @tpm2, the others absent. */
static void
traits_text(char *buf, size_t size, bool tpm2)
{
    vtpm_strfmt(buf, size,
                "{\"COMPUTE_SECURITY_TPM_1_2\":{\"code\":\"no\",\"present\":false,\"reason\":\"r\"},"
                "\"COMPUTE_SECURITY_TPM_2_0\":{\"code\":\"ok\",\"present\":%s,\"reason\":\"r\"},"
                "\"COMPUTE_SECURITY_TPM_CRB\":{\"code\":\"no\",\"present\":false,\"reason\":\"r\"},"
                "\"COMPUTE_SECURITY_TPM_SECRET_SECURITY_DEPLOYMENT\":{\"code\":\"no\",\"present\":false,\"reason\":\"r\"},"
                "\"COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST\":{\"code\":\"no\",\"present\":false,\"reason\":\"r\"},"
                "\"COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER\":{\"code\":\"no\",\"present\":false,\"reason\":\"r\"},"
                "\"COMPUTE_SECURITY_TPM_TIS\":{\"code\":\"no\",\"present\":false,\"reason\":\"r\"}}",
                tpm2 ? "true" : "false");
}

/*
 * A signed call, built here from docs/inventory.md's definition rather than
 * by the publisher, so that the two must agree: the fields of vtpm.publish_signed()
 * but the signature, in order.
 */
typedef struct {
    const char *key_id;
    char seq[24];
    const char *host, *uuid, *inconclusive, *reason, *traits, *facts;
    char sig[65];
} signed_call;

/* HMAC-SHA256 with @key over the netstrings of "vtpm-publish-v1" and @c's fields. */
static void
sign_call(const vtpm_host_key *key, signed_call *c)
{
    const char *f[] = { "vtpm-publish-v1", c->key_id, c->seq, c->host, c->uuid,
                        c->inconclusive, c->reason, c->traits, c->facts };
    unsigned char mac[32];
    unsigned int len = sizeof(mac);
    char *msg = NULL;
    size_t msglen = 0;
    FILE *m = open_memstream(&msg, &msglen);

    assert_non_null(m);
    for (size_t i = 0; i < VTPM_N_ELEMENTS(f); i++)
        fprintf(m, "%zu:%s,", strlen(f[i]), f[i]);
    assert_int_equal(fclose(m), 0);
    assert_non_null(HMAC(EVP_sha256(), key->secret, sizeof(key->secret),
                         (const unsigned char *)msg, msglen, mac, &len));
    for (unsigned int i = 0; i < len; i++)
        snprintf(c->sig + 2 * i, 3, "%02x", mac[i]);
    free(msg);
}

/* A call for @host with @key, TPM 2.0 as @tpm2, at time @seq, signed. */
static void
call_init(signed_call *c, const vtpm_host_key *key, const char *host, char *traits,
          size_t tsize, bool tpm2, int64_t seq)
{
    memset(c, 0, sizeof(*c));
    traits_text(traits, tsize, tpm2);
    c->key_id = key->id;
    vtpm_strfmt(c->seq, sizeof(c->seq), "%" PRId64, seq);
    c->host = host;
    c->uuid = "";
    c->inconclusive = "false";
    c->reason = "";
    c->traits = traits;
    c->facts = "{\"test\": true}";
    sign_call(key, c);
}

/* Sends @c as the shared login; returns the SQLSTATE ("" on success) in @state. */
static void
call_send(PGconn *conn, const signed_call *c, char *state, size_t size, char *msg,
          size_t msgsize)
{
    const char *v[9] = { c->key_id, c->seq, c->host, c->uuid, c->inconclusive, c->reason,
                         c->traits, c->facts, c->sig };
    PGresult *res = PQexecParams(conn, "SELECT status FROM vtpm.publish_signed($1, $2, $3, $4, $5, "
                                 "$6, $7, $8, $9)", 9, NULL, v, NULL, NULL, 0);
    const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);

    vtpm_strfmt(state, size, "%s", PQresultStatus(res) == PGRES_TUPLES_OK ? "" : s ? s : "?");
    vtpm_strfmt(msg, msgsize, "%s", PQresultErrorMessage(res));
    PQclear(res);
}

/* Sends @c and checks it is refused with @want and a message holding @text. */
static void
call_refused(PGconn *conn, const signed_call *c, const char *want, const char *text)
{
    char st[16], msg[512];

    call_send(conn, c, st, sizeof(st), msg, sizeof(msg));
    if (strcmp(st, want) != 0 || !strstr(msg, text))
        fail_msg("expected %s '%s', got '%s': %s", want, text, st, msg);
}

static void
call_accepted(PGconn *conn, const signed_call *c)
{
    char st[16], msg[512];

    call_send(conn, c, st, sizeof(st), msg, sizeof(msg));
    if (st[0])
        fail_msg("refused (%s): %s", st, msg);
}

/* ---- publishing ---- */

static void
test_signed_report_is_published_as_from_its_key(void **state)
{
    vtpm_publish_result res;
    vtpm_host_key key;
    vtpm_report r;
    char sql[256];

    (void)state;
    issue("sig-a", false, &key);
    vtpm_test_report_init(&r, "sig-a", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0));
    assert_int_equal(vtpm_pg_publish_signed(pool_dsn, &key, &r, &res), VTPM_PUBLISH_CHANGED);
    assert_int_equal(res.generation, 1);
    assert_int_equal(vtpm_pg_publish_signed(pool_dsn, &key, &r, &res), VTPM_PUBLISH_UNCHANGED);
    r.inconclusive = true;
    vtpm_strfmt(r.inconclusive_reason, sizeof(r.inconclusive_reason), "libvirtd down");
    assert_int_equal(vtpm_pg_publish_signed(pool_dsn, &key, &r, &res), VTPM_PUBLISH_INCONCLUSIVE);
    vtpm_strfmt(sql, sizeof(sql), "SELECT count(*) FROM vtpm.reports WHERE host = 'sig-a' "
                "AND reporter = '" POOL_LOGIN " key %s'", key.id);
    assert_int_equal(count_of(sql), 3);
    assert_int_equal(count_of("SELECT tpm_bits FROM vtpm.resource_providers WHERE name = 'sig-a'"),
                     (long long)VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0));
    assert_int_equal(count_of("SELECT count(*) FROM vtpm.host_keys WHERE host = 'sig-a' "
                              "AND first_used_at IS NOT NULL AND last_seq > 0"), 1);
    vtpm_host_key_clear(&key);
}

static void
test_signed_key_of_one_host_cannot_publish_another(void **state)
{
    vtpm_publish_result res;
    vtpm_host_key key_b, key_c;
    vtpm_report r;
    signed_call c;
    char traits[2048];
    PGconn *conn = pool_connect();

    (void)state;
    issue("sig-b", false, &key_b);
    issue("sig-c", false, &key_c);
    vtpm_test_report_init(&r, "sig-c", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0));
    assert_int_equal(vtpm_pg_publish_signed(pool_dsn, &key_b, &r, &res), VTPM_PUBLISH_REFUSED);
    assert_non_null(strstr(res.message, "may not publish host 'sig-c'"));
    /* B's key under C's key id: the signature does not verify. */
    call_init(&c, &key_b, "sig-c", traits, sizeof(traits), true, now_us());
    c.key_id = key_c.id;
    call_refused(conn, &c, "42501", "does not verify");
    assert_int_equal(count_of("SELECT count(*) FROM vtpm.resource_providers WHERE name = 'sig-c'"), 0);
    /* C's own key still works, after B's attempts. */
    assert_int_equal(vtpm_pg_publish_signed(pool_dsn, &key_c, &r, &res), VTPM_PUBLISH_CHANGED);
    PQfinish(conn);
}

static void
test_signed_replayed_or_older_report_is_refused(void **state)
{
    vtpm_host_key key;
    signed_call c, older;
    char traits[2048], traits2[2048];
    int64_t t = now_us();
    PGconn *conn = pool_connect();

    (void)state;
    issue("sig-replay", false, &key);
    call_init(&c, &key, "sig-replay", traits, sizeof(traits), true, t);
    call_accepted(conn, &c);
    call_refused(conn, &c, "42501", "a replay");
    /* Signed well, but older than the last accepted one: delivered late. */
    call_init(&older, &key, "sig-replay", traits2, sizeof(traits2), false, t - 1000);
    call_refused(conn, &older, "42501", "a replay");
    assert_int_equal(count_of("SELECT count(*) FROM vtpm.reports WHERE host = 'sig-replay'"), 1);
    call_init(&c, &key, "sig-replay", traits, sizeof(traits), false, t + 1);
    call_accepted(conn, &c);
    PQfinish(conn);
}

static void
test_signed_report_with_a_wrong_signature_is_refused(void **state)
{
    vtpm_host_key key;
    signed_call c;
    char traits[2048], shifted[2100], sig[65];
    PGconn *conn = pool_connect();

    (void)state;
    issue("sig-wrong", false, &key);
    call_init(&c, &key, "sig-wrong", traits, sizeof(traits), false, now_us());
    memcpy(sig, c.sig, sizeof(sig));
    c.sig[10] = c.sig[10] == '0' ? '1' : '0';
    call_refused(conn, &c, "42501", "does not verify");
    /* A field changed after signing: TPM 2.0 made present. */
    memcpy(c.sig, sig, sizeof(sig));
    traits_text(traits, sizeof(traits), true);
    call_refused(conn, &c, "42501", "does not verify");
    /* Bytes moved from one field to the next: the netstrings tell them apart. */
    traits_text(traits, sizeof(traits), false);
    vtpm_strfmt(shifted, sizeof(shifted), "%s{", traits);
    c.traits = shifted;
    c.facts = "\"test\": true}";
    call_refused(conn, &c, "42501", "does not verify");
    c.traits = traits;
    c.facts = "{\"test\": true}";
    /* One spelling: the same signature in upper case is malformed. */
    for (size_t i = 0; i < 64; i++)
        c.sig[i] = (char)(sig[i] >= 'a' ? sig[i] - 'a' + 'A' : sig[i]);
    call_refused(conn, &c, "22023", "hexadecimal");
    memcpy(c.sig, sig, sizeof(sig));
    call_accepted(conn, &c);
    assert_int_equal(count_of("SELECT count(*) FROM vtpm.reports WHERE host = 'sig-wrong'"), 1);
    PQfinish(conn);
}

static void
test_signed_report_far_from_the_database_clock_is_refused(void **state)
{
    vtpm_host_key key;
    signed_call c;
    char traits[2048];
    PGconn *conn = pool_connect();

    (void)state;
    issue("sig-clock", false, &key);
    /* Ten minutes ahead would also block every report after it until then. */
    call_init(&c, &key, "sig-clock", traits, sizeof(traits), false, now_us() + 600000000LL);
    call_refused(conn, &c, "42501", "check the host's clock");
    call_init(&c, &key, "sig-clock", traits, sizeof(traits), false, now_us() - 600000000LL);
    call_refused(conn, &c, "42501", "check the host's clock");
    call_init(&c, &key, "sig-clock", traits, sizeof(traits), false, now_us());
    call_accepted(conn, &c);
    PQfinish(conn);
}

static void
test_signed_report_with_a_revoked_or_unknown_key_is_refused(void **state)
{
    vtpm_publish_result res;
    vtpm_host_key key;
    vtpm_report r;
    char err[512];
    int n = 0;

    (void)state;
    issue("sig-revoked", false, &key);
    vtpm_test_report_init(&r, "sig-revoked", 0);
    assert_int_equal(vtpm_pg_publish_signed(pool_dsn, &key, &r, &res), VTPM_PUBLISH_CHANGED);
    assert_int_equal(vtpm_host_key_revoke(admin, "sig-revoked", key.id, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1);
    assert_int_equal(vtpm_pg_publish_signed(pool_dsn, &key, &r, &res), VTPM_PUBLISH_REFUSED);
    assert_non_null(strstr(res.message, "is revoked"));
    /* The secret is gone from the database, not only marked. */
    assert_int_equal(count_of("SELECT count(*) FROM vtpm_keys.keys WHERE host = 'sig-revoked' "
                              "AND secret IS NOT NULL"), 0);
    assert_int_equal(vtpm_host_key_revoke(admin, "sig-revoked", key.id, &n, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "no valid key"));
    memcpy(key.id, "0123456789abcdef", VTPM_HOST_KEY_ID_LEN);
    assert_int_equal(vtpm_pg_publish_signed(pool_dsn, &key, &r, &res), VTPM_PUBLISH_REFUSED);
    assert_non_null(strstr(res.message, "unknown key"));
}

static void
test_signed_rotation_keeps_both_keys_until_the_new_one_publishes(void **state)
{
    vtpm_publish_result res;
    vtpm_host_key old_key, new_key, third;
    vtpm_report r;
    char token[VTPM_HOST_KEY_TOKEN_LEN + 1], id[VTPM_HOST_KEY_ID_LEN + 1], err[512], sql[256];
    int n;

    (void)state;
    issue("sig-rot", false, &old_key);
    vtpm_test_report_init(&r, "sig-rot", 0);
    assert_int_equal(vtpm_pg_publish_signed(pool_dsn, &old_key, &r, &res), VTPM_PUBLISH_CHANGED);
    issue("sig-rot", true, &new_key);
    /* A third key while two are valid: refused. */
    assert_int_equal(vtpm_host_key_issue(admin, "sig-rot", NULL, true, id, token, sizeof(token),
                                         err, sizeof(err)), -1);
    assert_non_null(strstr(err, "revoke one first"));
    /* The overlap: the old key still publishes. */
    assert_int_equal(vtpm_pg_publish_signed(pool_dsn, &old_key, &r, &res), VTPM_PUBLISH_UNCHANGED);
    assert_int_equal(vtpm_pg_publish_signed(pool_dsn, &new_key, &r, &res), VTPM_PUBLISH_UNCHANGED);
    /* The new key's first report ended the rollover. */
    assert_int_equal(vtpm_pg_publish_signed(pool_dsn, &old_key, &r, &res), VTPM_PUBLISH_REFUSED);
    assert_non_null(strstr(res.message, "is revoked"));
    vtpm_strfmt(sql, sizeof(sql), "SELECT count(*) FROM vtpm.host_keys WHERE key_id = '%s' "
                "AND revoked_why = 'superseded by key %s'", old_key.id, new_key.id);
    assert_int_equal(count_of(sql), 1);
    /* create refuses a host with a valid key; a rotation abandoned by hand. */
    assert_int_equal(vtpm_host_key_issue(admin, "sig-rot", NULL, false, id, token, sizeof(token),
                                         err, sizeof(err)), -1);
    assert_non_null(strstr(err, "rotate it instead"));
    issue("sig-rot", true, &third);
    assert_int_equal(vtpm_host_key_revoke(admin, "sig-rot", third.id, &n, err, sizeof(err)), 0);
    assert_int_equal(vtpm_pg_publish_signed(pool_dsn, &third, &r, &res), VTPM_PUBLISH_REFUSED);
    assert_int_equal(vtpm_pg_publish_signed(pool_dsn, &new_key, &r, &res), VTPM_PUBLISH_UNCHANGED);
    /* Revoking the host revokes all its keys. */
    assert_int_equal(vtpm_host_key_revoke(admin, "sig-rot", NULL, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1);
    assert_int_equal(vtpm_pg_publish_signed(pool_dsn, &new_key, &r, &res), VTPM_PUBLISH_REFUSED);
}

/* A wrong password is a refusal, at the server or at PgBouncer: not retried. */
static void
test_shared_login_with_a_wrong_password_is_refused(void **state)
{
    vtpm_publish_result res;
    vtpm_host_key key;
    vtpm_report r;
    char dsn[600];
    const char *port = strstr(pg.dsn, "port=");

    (void)state;
    issue("sig-password", false, &key);
    vtpm_test_report_init(&r, "sig-password", 0);
    if (bouncer_dir[0]) {
        vtpm_strfmt(dsn, sizeof(dsn), "%s", pool_dsn);
        *strstr(dsn, "password=") = '\0';
    } else {
        assert_non_null(port);
        vtpm_strfmt(dsn, sizeof(dsn), "host=127.0.0.1 port=%ld dbname=vtpm_test user=" POOL_LOGIN " ",
                    strtol(port + 5, NULL, 10));
    }
    vtpm_strfmt(dsn + strlen(dsn), sizeof(dsn) - strlen(dsn), "password=wrong-password");
    assert_int_equal(vtpm_pg_publish_signed(dsn, &key, &r, &res), VTPM_PUBLISH_REFUSED);
    assert_null(strstr(res.message, "wrong-password"));
}

/* The signature covers bytes: a connection that would convert them is refused before sending. */
static void
test_signed_mode_needs_a_utf8_connection(void **state)
{
    vtpm_publish_result res;
    vtpm_host_key key;
    vtpm_report r;
    char dsn[600];

    (void)state;
    issue("sig-latin1", false, &key);
    vtpm_test_report_init(&r, "sig-latin1", 0);
    vtpm_strfmt(dsn, sizeof(dsn), "%s client_encoding=LATIN1", pool_dsn);
    assert_int_equal(vtpm_pg_publish_signed(dsn, &key, &r, &res), VTPM_PUBLISH_CONFIG);
    assert_non_null(strstr(res.message, "client_encoding UTF8"));
    assert_int_equal(count_of("SELECT count(*) FROM vtpm.reports WHERE host = 'sig-latin1'"), 0);
    assert_int_equal(vtpm_pg_publish_signed(pool_dsn, &key, &r, &res), VTPM_PUBLISH_CHANGED);
}

/* ---- what the shared login and a reader cannot do ---- */

/* Runs @sql on @conn and returns its SQLSTATE ("" on success) in a static buffer. */
static const char *
sqlstate_of(PGconn *conn, const char *sql)
{
    static char st[16];
    PGresult *res = PQexec(conn, sql);
    const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    ExecStatusType t = PQresultStatus(res);

    vtpm_strfmt(st, sizeof(st), "%s",
                t == PGRES_TUPLES_OK || t == PGRES_COMMAND_OK ? "" : s ? s : "?");
    PQclear(res);
    return st;
}

static void
test_shared_login_can_call_publish_signed_and_nothing_else(void **state)
{
    static const char *const refused[] = {
        "SELECT count(*) FROM vtpm.resource_providers",
        "SELECT count(*) FROM vtpm.reports",
        "SELECT count(*) FROM vtpm.host_keys",
        "SELECT count(*) FROM vtpm_keys.keys",
        "SELECT count(*) FROM vtpm_keys.hosts",
        "SELECT vtpm_keys.hmac_sha256('\\x00', '\\x00')",
        "UPDATE vtpm.resource_providers SET tpm_bits = 127",
        "SELECT * FROM vtpm.publish('sig-a', NULL, true, 'x', '{}', '{}')",
        "SELECT * FROM vtpm.publish('sig-a', NULL, true, 'x', '{}', '{}', false)",
        "SELECT * FROM vtpm.publish_report('x', NULL, true, 'sig-a', NULL, true, 'x', '{}', '{}')",
        "SELECT * FROM vtpm.host_key_create('evil-host')",
        "SELECT * FROM vtpm.host_key_revoke('sig-a')",
        "SELECT vtpm.candidate_count('{COMPUTE_SECURITY_TPM_2_0}')",
        "CREATE TABLE public.t (i int)",
        "CREATE TABLE vtpm.t (i int)",
    };
    PGconn *conn = pool_connect();
    char *fns;

    (void)state;
    for (size_t i = 0; i < VTPM_N_ELEMENTS(refused); i++) {
        const char *st = sqlstate_of(conn, refused[i]);

        if (strcmp(st, "42501") != 0)
            fail_msg("as the shared login, '%s': %s instead of 42501", refused[i], st);
    }
    PQfinish(conn);
    fns = vtpm_test_pg_value(admin,
                             "SELECT string_agg(p.oid::regprocedure::text, ' ' ORDER BY p.oid::regprocedure::text) "
                             "FROM pg_proc p "
                             "JOIN pg_namespace n ON n.oid = p.pronamespace "
                             "WHERE n.nspname IN ('vtpm', 'vtpm_keys', 'vtpm_crypto') "
                             "AND has_function_privilege('" POOL_LOGIN "', p.oid, 'EXECUTE') "
                             "AND has_schema_privilege('" POOL_LOGIN "', n.oid, 'USAGE')",
                             NULL, 0);
    assert_non_null(fns);
    assert_string_equal(fns, "vtpm.flush() "
                             "vtpm.publish_signed(text,text,text,text,text,text,text,text,text) "
                             "vtpm.publish_signed(text,text,text,text,text,text,text,text,text,boolean)");
    free(fns);
    /* A reporter login is no shared login, and the reverse. */
    assert_non_null(strstr(sqlstate_of(admin, "SELECT vtpm.bind_reporter('" POOL_LOGIN "', 'x')"),
                           "22023"));
    assert_string_equal(sqlstate_of(admin, "CREATE ROLE pool_su LOGIN SUPERUSER"), "");
    assert_string_equal(sqlstate_of(admin, "SELECT vtpm.pool_login('pool_su')"), "22023");
    assert_string_equal(sqlstate_of(admin, "SELECT vtpm.pool_login('vtpm_reader')"), "22023");
}

static void
test_reader_sees_key_ids_and_never_a_secret(void **state)
{
    char dsn[512];
    PGconn *conn;
    char *cols;

    (void)state;
    assert_string_equal(sqlstate_of(admin, "CREATE ROLE sig_reader LOGIN IN ROLE vtpm_reader"), "");
    conn = vtpm_test_pg_connect(vtpm_test_pg_dsn(&pg, "vtpm_test", "sig_reader", dsn, sizeof(dsn)));
    assert_string_equal(sqlstate_of(conn, "SELECT count(*) FROM vtpm.host_keys"), "");
    assert_string_equal(sqlstate_of(conn, "SELECT count(*) FROM vtpm_keys.keys"), "42501");
    assert_string_equal(sqlstate_of(conn, "SELECT count(*) FROM vtpm_crypto.digest('x', 'sha256')"),
                        "42501");
    PQfinish(conn);
    cols = vtpm_test_pg_value(admin, "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute "
                              "WHERE attrelid = 'vtpm.host_keys'::regclass AND attnum > 0", NULL, 0);
    assert_non_null(cols);
    assert_null(strstr(cols, "secret"));
    free(cols);
}

/* ---- the reporter, end to end ---- */

/* Writes @token (NULL: a new key of @host) into @path with @mode. */
static void
key_file_write(const char *path, const char *host, unsigned int mode)
{
    char token[VTPM_HOST_KEY_TOKEN_LEN + 1], id[VTPM_HOST_KEY_ID_LEN + 1], err[512];
    FILE *f;

    if (vtpm_host_key_issue(admin, host, NULL, false, id, token, sizeof(token), err,
                            sizeof(err)) < 0)
        fail_msg("%s", err);
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", token);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static void
test_run_in_the_signed_mode_maps_refusals_to_their_exit_code(void **state)
{
    vtpm_run_options opts = { .no_delay = true, .backoff_initial = 0.05 };
    vtpm_publish_result res;
    vtpm_conf conf;
    vtpm_report r;
    char key_path[128], lock_path[128];

    (void)state;
    vtpm_strfmt(key_path, sizeof(key_path), "%s/run.key", work_dir);
    vtpm_strfmt(lock_path, sizeof(lock_path), "%s/run.lock", work_dir);
    key_file_write(key_path, "sig-run", 0600);
    memset(&conf, 0, sizeof(conf));
    conf.postgres_dsn = pool_dsn;
    conf.postgres_key_file = key_path;
    conf.lock_file = lock_path;
    conf.retries = 1;
    vtpm_test_report_init(&r, "sig-run", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_CRB));
    assert_int_equal(vtpm_run(&conf, &r, &opts, &res), VTPM_EXIT_OK);
    assert_int_equal(vtpm_run(&conf, &r, &opts, &res), VTPM_EXIT_UNCHANGED);
    vtpm_test_report_init(&r, "sig-not-mine", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_CRB));
    assert_int_equal(vtpm_run(&conf, &r, &opts, &res), VTPM_EXIT_REFUSED);
    /* A key file others may read is a configuration error: nothing sent. */
    assert_int_equal(chmod(key_path, 0640), 0);
    vtpm_test_report_init(&r, "sig-run", 0);
    assert_int_equal(vtpm_run(&conf, &r, &opts, &res), VTPM_EXIT_USAGE);
    assert_int_equal(count_of("SELECT tpm_bits FROM vtpm.resource_providers WHERE name = 'sig-run'"),
                     (long long)VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_CRB));
    /* Without a key file, the direct mode: the shared login may not publish. */
    assert_int_equal(chmod(key_path, 0600), 0);
    conf.postgres_key_file = NULL;
    assert_int_equal(vtpm_run(&conf, &r, &opts, &res), VTPM_EXIT_REFUSED);
}

/* Runs the built @exe (under the build root) with @argv[1..]; output to @out. */
static int
run_built(const char *exe, char **argv, char *out, size_t outlen)
{
    const char *root = getenv("VTPM_BUILD_ROOT");
    char bin[512];

    vtpm_strfmt(bin, sizeof(bin), "%s/%s", root && *root ? root : ".", exe);
    if (access(bin, X_OK) != 0)
        fail_msg("no '%s': build the project first (ninja), then run meson test", bin);
    argv[0] = bin;
    return vtpm_test_spawn(argv, out, (unsigned int)outlen);
}

static void
test_reporter_run_publishes_with_a_key_file(void **state)
{
    char key_path[128], cfg[128], config[2048], out[1024];
    char *inv[] = { NULL, (char *)"--dsn", db_dsn, (char *)"host-key", (char *)"create",
                    (char *)"sig-e2e", (char *)"--key-file", key_path, NULL };
    char *rep[] = { NULL, (char *)"run", (char *)"--no-delay", (char *)"--config", cfg, NULL };
    /* The second run publishes although it is within the heartbeat. */
    char *rep_force[] = { NULL, (char *)"run", (char *)"--no-delay", (char *)"--force",
                          (char *)"--config", cfg, NULL };
    struct stat st;
    FILE *f;

    (void)state;
    vtpm_strfmt(key_path, sizeof(key_path), "%s/e2e.key", work_dir);
    vtpm_strfmt(cfg, sizeof(cfg), "%s/reporter.yaml", work_dir);
    assert_int_equal(run_built("sql/vtpm-inventory/vtpm-inventory", inv, out, sizeof(out)), 0);
    assert_int_equal(stat(key_path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    /* Never overwritten: the key in it would be lost. */
    assert_int_equal(run_built("sql/vtpm-inventory/vtpm-inventory", inv, out, sizeof(out)), 1);
    assert_int_equal(count_of("SELECT count(*) FROM vtpm.host_keys WHERE host = 'sig-e2e'"), 1);
    vtpm_strfmt(config, sizeof(config),
                "swtpm_enabled: false\nhost: sig-e2e\ninventory: postgres\ncache_dir: %s\n"
                "lock_file: %s/e2e.lock\nstate_dir: %s/e2e-state\nretries: 1\n"
                "postgres:\n  dsn: \"%s\"\n  key_file: %s\n",
                work_dir, work_dir, work_dir, pool_dsn, key_path);
    f = fopen(cfg, "w");
    assert_non_null(f);
    fputs(config, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(cfg, 0600), 0);   /* the DSN holds the shared password */
    if (run_built("reporter/cli/vtpm-reporter", rep, out, sizeof(out)) != 0)
        fail_msg("vtpm-reporter run: %s", out);
    assert_int_equal(run_built("reporter/cli/vtpm-reporter", rep_force, out, sizeof(out)), 3);
    assert_int_equal(count_of("SELECT count(*) FROM vtpm.reports WHERE host = 'sig-e2e' "
                              "AND reporter LIKE '" POOL_LOGIN " key %'"), 2);
}

static void
test_inventory_host_key_commands_and_their_exit_codes(void **state)
{
    char key2[128], out[1024];
    char *rotate[] = { NULL, (char *)"--dsn", db_dsn, (char *)"host-key", (char *)"rotate",
                       (char *)"sig-e2e", (char *)"--key-file", key2, NULL };
    char *revoke[] = { NULL, (char *)"--dsn", db_dsn, (char *)"host-key", (char *)"revoke",
                       (char *)"sig-e2e", NULL, NULL };
    char *bad[] = { NULL, (char *)"--dsn", db_dsn, (char *)"host-key", (char *)"renew",
                    (char *)"sig-e2e", NULL };
    char *create_stdout[] = { NULL, (char *)"--dsn", db_dsn, (char *)"host-key",
                              (char *)"create", (char *)"sig-stdout", NULL };
    char *pool[] = { NULL, (char *)"--dsn", db_dsn, (char *)"pool-login", (char *)"pool_two", NULL };
    vtpm_host_key key;
    char err[256];

    (void)state;
    vtpm_strfmt(key2, sizeof(key2), "%s/e2e-2.key", work_dir);
    assert_int_equal(run_built("sql/vtpm-inventory/vtpm-inventory", rotate, out, sizeof(out)), 0);
    assert_int_equal(vtpm_host_key_load(key2, &key, err, sizeof(err)), 0);
    revoke[6] = key.id;
    assert_int_equal(run_built("sql/vtpm-inventory/vtpm-inventory", revoke, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "1 key revoked"));
    assert_int_equal(run_built("sql/vtpm-inventory/vtpm-inventory", revoke, out, sizeof(out)), 1);
    assert_int_equal(run_built("sql/vtpm-inventory/vtpm-inventory", bad, out, sizeof(out)), 2);
    /* Without --key-file the token goes to stdout, once, and parses. */
    assert_int_equal(run_built("sql/vtpm-inventory/vtpm-inventory", create_stdout, out,
                               sizeof(out)), 0);
    out[strcspn(out, "\n")] = '\0';
    assert_int_equal(vtpm_host_key_parse(out, &key, err, sizeof(err)), 0);
    assert_int_equal(run_built("sql/vtpm-inventory/vtpm-inventory", pool, out, sizeof(out)), 0);
    assert_int_equal(count_of("SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member "
                              "WHERE r.rolname = 'pool_two' AND m.roleid = 'vtpm_pool_publisher'::regrole"), 1);
}

static int
group_setup(void **state)
{
    char err[512], base[256], userlist[256];
    bool created;

    (void)state;
    if (vtpm_test_through_pgbouncer())
        vtpm_test_require_program("/usr/sbin/pgbouncer", "pgbouncer");
    vtpm_strfmt(work_dir, sizeof(work_dir), "/tmp/vtpm-test-signed-XXXXXX");
    if (!mkdtemp(work_dir))
        return -1;
    if (vtpm_test_pg_start_inventory(&pg, "vtpm_test", db_dsn, sizeof(db_dsn), &admin) < 0)
        return -1;
    if (vtpm_pool_login_create(admin, POOL_LOGIN, POOL_PASSWORD, &created, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    if (!vtpm_test_through_pgbouncer()) {
        vtpm_test_pg_dsn(&pg, "vtpm_test", POOL_LOGIN, pool_dsn, sizeof(pool_dsn));
        return 0;
    }
    vtpm_strfmt(bouncer_dir, sizeof(bouncer_dir), "%s/pgbouncer", pg.dir);
    vtpm_strfmt(userlist, sizeof(userlist), "\"%s\" \"%s\"\n", POOL_LOGIN, POOL_PASSWORD);
    if (vtpm_test_pgbouncer_start(&pg, bouncer_dir, userlist, base, sizeof(base)) < 0)
        return -1;
    vtpm_strfmt(pool_dsn, sizeof(pool_dsn), "%s dbname=vtpm_test user=%s password=%s", base,
                POOL_LOGIN, POOL_PASSWORD);
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    if (bouncer_dir[0])
        vtpm_test_pgbouncer_stop(bouncer_dir);
    PQfinish(admin);
    vtpm_test_pg_destroy(&pg);
    if (work_dir[0])
        vtpm_test_spawn((char *const[]){ (char *)"rm", (char *)"-rf", work_dir, NULL }, NULL, 0);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signed_report_is_published_as_from_its_key),
        cmocka_unit_test(test_signed_key_of_one_host_cannot_publish_another),
        cmocka_unit_test(test_signed_replayed_or_older_report_is_refused),
        cmocka_unit_test(test_signed_report_with_a_wrong_signature_is_refused),
        cmocka_unit_test(test_signed_report_far_from_the_database_clock_is_refused),
        cmocka_unit_test(test_signed_report_with_a_revoked_or_unknown_key_is_refused),
        cmocka_unit_test(test_signed_rotation_keeps_both_keys_until_the_new_one_publishes),
        cmocka_unit_test(test_signed_mode_needs_a_utf8_connection),
        cmocka_unit_test(test_shared_login_with_a_wrong_password_is_refused),
        cmocka_unit_test(test_shared_login_can_call_publish_signed_and_nothing_else),
        cmocka_unit_test(test_reader_sees_key_ids_and_never_a_secret),
        cmocka_unit_test(test_run_in_the_signed_mode_maps_refusals_to_their_exit_code),
        cmocka_unit_test(test_reporter_run_publishes_with_a_key_file),
        cmocka_unit_test(test_inventory_host_key_commands_and_their_exit_codes),
    };

    return cmocka_run_group_tests_name(vtpm_test_through_pgbouncer() ? "signed-pgbouncer" : "signed",
                                       tests, group_setup, group_teardown);
}
