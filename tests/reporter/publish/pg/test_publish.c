/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm.publish() through vtpm_pg_publish(): semantics, security, concurrency. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "migrate.h"
#include "pg.h"
#include "pg_fixture.h"
#include "publish_pg.h"
#include "report_fixture.h"
#include "util.h"

static vtpm_test_pg pg;
static char db_dsn[512];          /* superuser */
static PGconn *admin;             /* superuser connection to the test database */

/* A value of a query with one text parameter. */
static char *
value1(PGconn *conn, const char *sql, const char *param)
{
    const char *values[1] = { param };
    PGresult *res = PQexecParams(conn, sql, param ? 1 : 0, NULL, values, NULL, NULL, 0);
    char *v = NULL;

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "query failed: %s", PQerrorMessage(conn));
        PQclear(res);
        fail();
    }
    v = strdup(PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return v;
}

static long long
value1_ll(PGconn *conn, const char *sql, const char *param)
{
    char *v = value1(conn, sql, param);
    long long n = strtoll(v, NULL, 10);

    free(v);
    return n;
}

static long long
host_bits(const char *host)
{
    return value1_ll(admin, "SELECT tpm_bits FROM vtpm.resource_providers WHERE name = $1", host);
}

static long long
host_generation(const char *host)
{
    return value1_ll(admin, "SELECT generation FROM vtpm.resource_providers WHERE name = $1",
                     host);
}

/* Managed traits of @host, computed from provider_traits (not the mask column). */
static long long
host_trait_rows_bits(const char *host)
{
    return value1_ll(admin,
                     "SELECT coalesce(bit_or(1 << t.bit), 0) FROM vtpm.provider_traits pt "
                     "JOIN vtpm.traits t ON t.id = pt.trait_id "
                     "JOIN vtpm.resource_providers rp ON rp.id = pt.provider_id "
                     "WHERE rp.name = $1 AND t.bit IS NOT NULL", host);
}

static vtpm_publish_status
publish(const char *dsn, const char *host, vtpm_traitset present, vtpm_publish_result *out)
{
    vtpm_report r;

    vtpm_test_report_init(&r, host, present);
    return vtpm_pg_publish(dsn, &r, out);
}

static void
test_publish_first_report_creates_provider_with_traits(void **state)
{
    vtpm_publish_result res;
    vtpm_traitset set = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0) |
                        VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_CRB);

    (void)state;
    assert_int_equal(publish(db_dsn, "sem-first", set, &res), VTPM_PUBLISH_CHANGED);
    assert_int_equal(res.generation, 1);
    assert_int_equal(host_bits("sem-first"), (long long)set);
    assert_int_equal(host_trait_rows_bits("sem-first"), (long long)set);
    assert_non_null(strstr(res.message, "'sem-first'"));
}

static void
test_publish_same_traits_again_keeps_generation(void **state)
{
    vtpm_publish_result res;
    vtpm_traitset set = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0);

    (void)state;
    assert_int_equal(publish(db_dsn, "sem-noop", set, &res), VTPM_PUBLISH_CHANGED);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(publish(db_dsn, "sem-noop", set, &res), VTPM_PUBLISH_UNCHANGED);
        assert_int_equal(res.generation, 1);
    }
    assert_int_equal(host_generation("sem-noop"), 1);
    assert_int_equal(value1_ll(admin, "SELECT count(*) FROM vtpm.reports WHERE host = $1",
                               "sem-noop"), 4);
}

static void
test_publish_change_bumps_generation_once_and_records_history(void **state)
{
    vtpm_publish_result res;
    vtpm_traitset a = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2) | VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_TIS);
    vtpm_traitset b = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0) | VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_TIS);
    char *v;

    (void)state;
    assert_int_equal(publish(db_dsn, "sem-change", a, &res), VTPM_PUBLISH_CHANGED);
    assert_int_equal(publish(db_dsn, "sem-change", b, &res), VTPM_PUBLISH_CHANGED);
    assert_int_equal(res.generation, 2);
    assert_int_equal(host_bits("sem-change"), (long long)b);
    assert_int_equal(host_trait_rows_bits("sem-change"), (long long)b);
    v = value1(admin, "SELECT added::text || ' ' || removed::text FROM vtpm.reports "
                      "WHERE host = $1 ORDER BY id DESC LIMIT 1", "sem-change");
    assert_string_equal(v, "{COMPUTE_SECURITY_TPM_2_0} {COMPUTE_SECURITY_TPM_1_2}");
    free(v);
    /* The admin view explains the absent trait with the reporter's reason. */
    v = value1(admin, "SELECT absent_reasons FROM vtpm.hosts WHERE host = $1", "sem-change");
    assert_non_null(strstr(v, "TPM_1_2: COMPUTE_SECURITY_TPM_1_2 absent in test"));
    free(v);
    v = value1(admin, "SELECT removed_because FROM vtpm.trait_changes WHERE host = $1 LIMIT 1",
               "sem-change");
    assert_string_equal(v, "TPM_1_2: COMPUTE_SECURITY_TPM_1_2 absent in test");
    free(v);
    assert_int_equal(value1_ll(admin, "SELECT count(*) FROM vtpm.history($1)", "sem-change"), 2);
}

static void
test_publish_leaves_unmanaged_traits_alone(void **state)
{
    vtpm_publish_result res;
    char *v;

    (void)state;
    assert_int_equal(publish(db_dsn, "sem-unmanaged", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0), &res),
                     VTPM_PUBLISH_CHANGED);
    v = vtpm_test_pg_value(admin,
        "INSERT INTO vtpm.traits (name) VALUES ('CUSTOM_SGX'), ('COMPUTE_SECURITY_UEFI_SECURE_BOOT');"
        "INSERT INTO vtpm.provider_traits (provider_id, trait_id) "
        "SELECT rp.id, t.id FROM vtpm.resource_providers rp, vtpm.traits t "
        "WHERE rp.name = 'sem-unmanaged' AND t.bit IS NULL", NULL, 0);
    assert_non_null(v);
    free(v);
    assert_int_equal(publish(db_dsn, "sem-unmanaged", VTPM_TRAITSET_ALL, &res), VTPM_PUBLISH_CHANGED);
    assert_int_equal(publish(db_dsn, "sem-unmanaged", 0, &res), VTPM_PUBLISH_CHANGED);
    v = value1(admin, "SELECT string_agg(t.name, ',' ORDER BY t.name) FROM vtpm.provider_traits pt "
                      "JOIN vtpm.traits t ON t.id = pt.trait_id JOIN vtpm.resource_providers rp "
                      "ON rp.id = pt.provider_id WHERE rp.name = $1", "sem-unmanaged");
    assert_string_equal(v, "COMPUTE_SECURITY_UEFI_SECURE_BOOT,CUSTOM_SGX");
    free(v);
}

static void
test_publish_inconclusive_records_and_changes_nothing(void **state)
{
    vtpm_publish_result res;
    vtpm_traitset set = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0) |
                        VTPM_TRAITSET_BIT(VTPM_TRAIT_SECRET_SECURITY_USER);
    vtpm_report r;
    char *v;

    (void)state;
    assert_int_equal(publish(db_dsn, "sem-inconclusive", set, &res), VTPM_PUBLISH_CHANGED);
    vtpm_test_report_init(&r, "sem-inconclusive", 0);
    r.inconclusive = true;
    vtpm_strfmt(r.inconclusive_reason, sizeof(r.inconclusive_reason), "libvirtd is not running");
    assert_int_equal(vtpm_pg_publish(db_dsn, &r, &res), VTPM_PUBLISH_INCONCLUSIVE);
    assert_int_equal(res.generation, 1);
    assert_int_equal(host_bits("sem-inconclusive"), (long long)set);
    assert_int_equal(host_trait_rows_bits("sem-inconclusive"), (long long)set);
    v = value1(admin, "SELECT status || '|' || inconclusive_reason || '|' || facts::text "
                      "FROM vtpm.reports WHERE host = $1 ORDER BY id DESC LIMIT 1", "sem-inconclusive");
    assert_string_equal(v, "inconclusive|libvirtd is not running|{\"test\": true}");
    free(v);
    v = value1(admin, "SELECT last_status || '|' || inconclusive_reason FROM vtpm.hosts WHERE host = $1",
               "sem-inconclusive");
    assert_string_equal(v, "inconclusive|libvirtd is not running");
    free(v);
}

static void
test_publish_notifies_only_on_change(void **state)
{
    vtpm_publish_result res;
    PGconn *listener = vtpm_test_pg_connect(db_dsn);
    PGnotify *n;
    int count = 0;

    (void)state;
    PQclear(PQexec(listener, "LISTEN vtpm_traits"));
    assert_int_equal(publish(db_dsn, "sem-notify", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_TIS), &res),
                     VTPM_PUBLISH_CHANGED);
    assert_int_equal(publish(db_dsn, "sem-notify", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_TIS), &res),
                     VTPM_PUBLISH_UNCHANGED);
    PQclear(PQexec(listener, "SELECT 1"));
    PQconsumeInput(listener);
    while ((n = PQnotifies(listener)) != NULL) {
        if (strstr(n->extra, "\"sem-notify\"")) {
            count++;
            assert_non_null(strstr(n->extra, "COMPUTE_SECURITY_TPM_TIS"));
        }
        PQfreemem(n);
    }
    assert_int_equal(count, 1);
    PQfinish(listener);
}

static void
test_publish_refuses_a_different_uuid_for_a_known_host(void **state)
{
    vtpm_publish_result res;
    vtpm_report r;

    (void)state;
    vtpm_test_report_init(&r, "sem-uuid", 0);
    vtpm_strfmt(r.provider_uuid, sizeof(r.provider_uuid), "11111111-2222-3333-4444-555555555555");
    assert_int_equal(vtpm_pg_publish(db_dsn, &r, &res), VTPM_PUBLISH_CHANGED);
    vtpm_strfmt(r.provider_uuid, sizeof(r.provider_uuid), "11111111-2222-3333-4444-666666666666");
    assert_int_equal(vtpm_pg_publish(db_dsn, &r, &res), VTPM_PUBLISH_REFUSED);
    assert_non_null(strstr(res.message, "is provider 11111111-2222-3333-4444-555555555555"));
}

static void
test_publish_retention_deletes_old_unchanged_reports(void **state)
{
    vtpm_publish_result res;
    char *v;

    (void)state;
    assert_int_equal(publish(db_dsn, "sem-retention", 1, &res), VTPM_PUBLISH_CHANGED);
    for (int i = 0; i < 3; i++)
        assert_int_equal(publish(db_dsn, "sem-retention", 1, &res), VTPM_PUBLISH_UNCHANGED);
    /* Past report_retention (14 days), on a day that has no partition of its
     * own: where vtpm.purge_reports() drops no day, publishing deletes them,
     * once a day per host (the last time: two days ago). */
    v = vtpm_test_pg_value(admin, "UPDATE vtpm.reports SET reported_at = now() - interval '30 days' "
                           "WHERE host = 'sem-retention' AND status = 'unchanged'", NULL, 0);
    free(v);
    v = vtpm_test_pg_value(admin, "UPDATE vtpm.resource_providers SET retention_at = now() - "
                           "interval '2 days' WHERE name = 'sem-retention'", NULL, 0);
    free(v);
    assert_int_equal(publish(db_dsn, "sem-retention", 1, &res), VTPM_PUBLISH_UNCHANGED);
    /* The change and the latest report stay. */
    v = value1(admin, "SELECT string_agg(status, ',' ORDER BY id) FROM vtpm.reports WHERE host = $1",
               "sem-retention");
    assert_string_equal(v, "changed,unchanged");
    free(v);
}

static void
test_publish_unmigrated_database_is_refused(void **state)
{
    vtpm_publish_result res;
    char dsn[512];

    (void)state;
    assert_int_equal(vtpm_test_pg_create_db(&pg, "p_empty", dsn, sizeof(dsn)), 0);
    assert_int_equal(publish(dsn, "sem-x", 0, &res), VTPM_PUBLISH_REFUSED);
    assert_non_null(strstr(res.message, "vtpm-inventory migrate"));
}

/* DSNs and how they are shown: every secret value, in every form libpq reads. */
static const struct {
    const char *dsn;
    const char *masked;
} mask_cases[] = {
    /* Shown as libpq reads it: its pairs, in its order, secrets masked. */
    { "host=h password='a b\\'c' user=u", "user=u password=*** host=h" },
    { "postgresql://rep:hunter2@db.example:5432/inv?sslmode=verify-full&password=x2",
      "user=rep password=*** dbname=inv host=db.example port=5432 sslmode=verify-full" },
    { "host=h port=5 sslmode=require", "host=h port=5 sslmode=require" },
    /* The passphrase of an encrypted client key; the last of a repeated keyword wins. */
    { "host=h sslkey=/k.key sslpassword=pass1 sslpassword = 'pa ss\\'2' sslmode=verify-full",
      "host=h sslmode=verify-full sslkey=/k.key sslpassword=***" },
    /* An escaped space goes on with an unquoted value. */
    { "password=a\\ b user=u", "user=u password=***" },
    /* URI parameters, also with a percent-encoded name. */
    { "postgres://db/inv?sslpassword=p1&sslmode=verify-full&sslpassword=p2&ssl%70assword=p3",
      "dbname=inv host=db sslmode=verify-full sslpassword=***" },
    /* Values that need quoting are quoted again. */
    { "application_name='a\\\\b c'", "application_name='a\\\\b c'" },
    /* An unquoted value ends at a space: the rest is no keyword, and a DSN
     * libpq cannot parse shows nothing (it once showed "*** horse battery"). */
    { "host=h password=correct horse battery", "" },
    { "user=u PassWord=c SSLPASSWORD=d", "" },
    { "host=h password='unclosed horse", "" },
};

static void
test_publish_never_shows_the_password(void **state)
{
    vtpm_publish_result res;
    char dsn[600], masked[600];

    (void)state;
    /* TCP needs a password (scram); this one is wrong. */
    vtpm_strfmt(dsn, sizeof(dsn), "host=127.0.0.1 port=%s dbname=postgres user=postgres "
                "password='s3cr3t pw' connect_timeout=3", strstr(pg.dsn, "port=") + 5);
    *strchr(strstr(dsn, "port=") + 5, ' ') = ' ';
    {
        /* The fixture DSN's port ends at a space. */
        char port[16];
        const char *p = strstr(pg.dsn, "port=") + 5;

        vtpm_strfmt(port, sizeof(port), "%.*s", (int)strcspn(p, " "), p);
        vtpm_strfmt(dsn, sizeof(dsn), "host=127.0.0.1 port=%s dbname=postgres user=postgres "
                    "password='s3cr3t pw' connect_timeout=3", port);
    }
    assert_int_equal(publish(dsn, "sem-pw", 0, &res), VTPM_PUBLISH_REFUSED);
    assert_null(strstr(res.message, "s3cr3t"));
    assert_non_null(strstr(res.message, "authentication failed"));

    for (size_t i = 0; i < VTPM_N_ELEMENTS(mask_cases); i++)
        assert_string_equal(vtpm_pg_dsn_mask(masked, sizeof(masked), mask_cases[i].dsn),
                            mask_cases[i].masked);
    /* Whatever libpq itself calls a secret (dispchar "*"), now or later. */
    {
        PQconninfoOption *opts = PQconndefaults();
        unsigned int secrets = 0;

        assert_non_null(opts);
        for (PQconninfoOption *o = opts; o->keyword; o++) {
            char dsn_kw[128];

            if (o->dispchar[0] != '*')
                continue;
            secrets++;
            vtpm_strfmt(dsn_kw, sizeof(dsn_kw), "host=h %s=hunter2", o->keyword);
            assert_null(strstr(vtpm_pg_dsn_mask(masked, sizeof(masked), dsn_kw), "hunter2"));
            vtpm_strfmt(dsn_kw, sizeof(dsn_kw), "postgresql://h/db?%s=hunter2", o->keyword);
            assert_null(strstr(vtpm_pg_dsn_mask(masked, sizeof(masked), dsn_kw), "hunter2"));
        }
        PQconninfoFree(opts);
        assert_true(secrets >= 2);   /* password and sslpassword in libpq 15 */
    }
    /* An unparseable DSN is a configuration error, shown masked. */
    assert_int_equal(publish("host=h password=topsecret bogus", "sem-pw", 0, &res), VTPM_PUBLISH_CONFIG);
    assert_null(strstr(res.message, "topsecret"));
    assert_int_equal(publish("host=h sslpassword='top secret' bogus", "sem-pw", 0, &res), VTPM_PUBLISH_CONFIG);
    assert_null(strstr(res.message, "secret"));
}

/* Runs @sql as @conn and expects it to fail with a message containing @message. */
static void
assert_sql_error(PGconn *conn, const char *sql, const char *message)
{
    char err[512] = "";
    char *v = vtpm_test_pg_value(conn, sql, err, sizeof(err));

    if (v || !strstr(err, message)) {
        fprintf(stderr, "expected an error '%s' for: %s\ngot: %s\n", message, sql, v ? v : err);
        free(v);
        fail();
    }
}

static void
test_candidates_are_exactly_the_hosts_with_the_required_traits(void **state)
{
    vtpm_publish_result res;
    char host[64], expect_req[8];
    int n_req = 0, n_forb = 0;
    const vtpm_traitset req = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0) |
                              VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_CRB);
    const vtpm_traitset forb = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2);

    (void)state;
    for (vtpm_traitset m = 0; m < 128; m++) {
        vtpm_strfmt(host, sizeof(host), "cand-%03u", (unsigned int)m);
        assert_int_equal(publish(db_dsn, host, m, &res), VTPM_PUBLISH_CHANGED);
        if ((m & req) == req) {
            n_req++;
            if (!(m & forb))
                n_forb++;
        }
    }
    vtpm_strfmt(expect_req, sizeof(expect_req), "%d", n_req);
    assert_int_equal(value1_ll(admin, "SELECT count(*) FROM vtpm.candidates('{COMPUTE_SECURITY_TPM_2_0,COMPUTE_SECURITY_TPM_CRB}') c "
                                      "JOIN vtpm.resource_providers rp ON rp.name = c.host "
                                      "WHERE c.host LIKE $1 AND rp.tpm_bits & 10 = 10", "cand-%"), n_req);
    assert_int_equal(value1_ll(admin, "SELECT count(*) FROM vtpm.candidates('{COMPUTE_SECURITY_TPM_2_0,COMPUTE_SECURITY_TPM_CRB}', "
                                      "'{COMPUTE_SECURITY_TPM_1_2}') c WHERE c.host LIKE $1", "cand-%"), n_forb);
    /* Same answer as the plain join over provider_traits. */
    assert_int_equal(value1_ll(admin, "SELECT count(*) FROM vtpm.resource_providers rp WHERE rp.name LIKE $1 "
                                      "AND (SELECT count(*) FROM vtpm.provider_traits pt JOIN vtpm.traits t ON t.id = pt.trait_id "
                                      "WHERE pt.provider_id = rp.id AND t.name IN ('COMPUTE_SECURITY_TPM_2_0', 'COMPUTE_SECURITY_TPM_CRB')) = 2",
                               "cand-%"), n_req);
    assert_int_equal(value1_ll(admin, "SELECT count(*) FROM vtpm.candidates('{COMPUTE_SECURITY_TPM_TIS}', '{}', 5)", NULL), 5);
    assert_int_equal(value1_ll(admin, "SELECT (vtpm.candidate_count('{COMPUTE_SECURITY_TPM_2_0,COMPUTE_SECURITY_TPM_CRB}') >= $1::int)::int",
                               expect_req) , 1);

    /* The scheduler's uuid-only question gives the same hosts. */
    assert_int_equal(value1_ll(admin, "SELECT count(*) FROM vtpm.candidate_uuids('{COMPUTE_SECURITY_TPM_2_0,COMPUTE_SECURITY_TPM_CRB}') u "
                                      "JOIN vtpm.resource_providers rp ON rp.uuid = u "
                                      "WHERE rp.name LIKE $1 AND rp.tpm_bits & 10 = 10", "cand-%"), n_req);
    assert_int_equal(value1_ll(admin, "SELECT count(*) FROM vtpm.candidate_uuids('{COMPUTE_SECURITY_TPM_2_0,COMPUTE_SECURITY_TPM_CRB}', "
                                      "'{COMPUTE_SECURITY_TPM_1_2}') u JOIN vtpm.resource_providers rp ON rp.uuid = u "
                                      "WHERE rp.name LIKE $1", "cand-%"), n_forb);
    assert_int_equal(value1_ll(admin, "SELECT count(*) FROM vtpm.candidate_uuids('{COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST}') u "
                                      "FULL JOIN vtpm.candidates('{COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST}') c ON c.uuid = u "
                                      "WHERE u IS NULL OR c.uuid IS NULL", NULL), 0);
    assert_int_equal(value1_ll(admin, "SELECT count(*) FROM vtpm.candidate_uuids('{COMPUTE_SECURITY_TPM_TIS}', '{}', 5)", NULL), 5);
    /* Required and forbidden at once: nothing can match. */
    assert_int_equal(value1_ll(admin, "SELECT count(*) FROM vtpm.candidate_uuids('{COMPUTE_SECURITY_TPM_TIS}', '{COMPUTE_SECURITY_TPM_TIS}')",
                               NULL), 0);
    assert_sql_error(admin, "SELECT * FROM vtpm.candidate_uuids('{COMPUTE_SECURITY_TPM_3_0}')",
                     "not a managed TPM trait: 'COMPUTE_SECURITY_TPM_3_0'");
}

/* vtpm.trait_index (what candidate queries read) equals the providers' own state. */
static long long
trait_index_mismatches(void)
{
    return value1_ll(admin, "SELECT count(*) FROM vtpm.resource_providers rp "
                            "FULL JOIN vtpm.trait_index ti ON ti.provider_id = rp.id "
                            "WHERE rp.id IS NULL OR ti.provider_id IS NULL "
                            "OR ti.tpm_bits <> rp.tpm_bits OR ti.uuid <> rp.uuid", NULL);
}

static void
test_trait_index_follows_every_write_to_providers(void **state)
{
    vtpm_publish_result res;
    char *v;

    (void)state;
    assert_int_equal(publish(db_dsn, "tix-a", 3, &res), VTPM_PUBLISH_CHANGED);
    assert_int_equal(publish(db_dsn, "tix-b", 0, &res), VTPM_PUBLISH_CHANGED);
    assert_int_equal(trait_index_mismatches(), 0);
    assert_int_equal(publish(db_dsn, "tix-a", 12, &res), VTPM_PUBLISH_CHANGED);
    assert_int_equal(publish(db_dsn, "tix-b", 0, &res), VTPM_PUBLISH_UNCHANGED);
    assert_int_equal(trait_index_mismatches(), 0);
    assert_int_equal(value1_ll(admin, "SELECT ti.tpm_bits FROM vtpm.trait_index ti JOIN vtpm.resource_providers rp "
                                      "ON rp.id = ti.provider_id WHERE rp.name = $1", "tix-a"), 12);
    /* The owner repairing a provider by hand: the index follows. */
    v = vtpm_test_pg_value(admin, "UPDATE vtpm.resource_providers SET tpm_bits = 5 WHERE name = 'tix-b'", NULL, 0);
    free(v);
    assert_int_equal(trait_index_mismatches(), 0);
    v = vtpm_test_pg_value(admin, "DELETE FROM vtpm.resource_providers WHERE name = 'tix-b'", NULL, 0);
    free(v);
    assert_int_equal(trait_index_mismatches(), 0);
    assert_int_equal(value1_ll(admin, "SELECT count(*) FROM vtpm.candidate_uuids('{}') u "
                                      "WHERE NOT EXISTS (SELECT 1 FROM vtpm.resource_providers rp WHERE rp.uuid = u)",
                               NULL), 0);
}

/* ---- security ---- */

static void
make_login(const char *login, const char *host)
{
    char err[512];
    bool created;

    assert_int_equal(vtpm_reporter_bind(admin, login, host, NULL, NULL, &created, err, sizeof(err)), 0);
}

static void
test_security_reporter_publishes_only_its_own_host(void **state)
{
    vtpm_publish_result res;
    char dsn[512];

    (void)state;
    make_login("rep_sec_a", "sec-host-a");
    vtpm_test_pg_dsn(&pg, "vtpm_test", "rep_sec_a", dsn, sizeof(dsn));
    assert_int_equal(publish(dsn, "sec-host-a", 3, &res), VTPM_PUBLISH_CHANGED);
    assert_int_equal(publish(db_dsn, "sec-host-b", 1, &res), VTPM_PUBLISH_CHANGED);
    assert_int_equal(publish(dsn, "sec-host-b", 0, &res), VTPM_PUBLISH_REFUSED);
    assert_non_null(strstr(res.message, "not bound to host"));
    assert_int_equal(host_bits("sec-host-b"), 1);
    assert_int_equal(host_generation("sec-host-b"), 1);
    /* A host nobody published yet is not created either. */
    assert_int_equal(publish(dsn, "sec-host-new", 0, &res), VTPM_PUBLISH_REFUSED);
    assert_int_equal(value1_ll(admin, "SELECT count(*) FROM vtpm.resource_providers WHERE name = $1",
                               "sec-host-new"), 0);
}

/* Runs @sql as @conn and expects "permission denied" (SQLSTATE 42501). */
static void
assert_denied(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

    if (!state || strcmp(state, "42501") != 0) {
        fprintf(stderr, "expected permission denied for: %s\ngot: %s %s\n", sql,
                state ? state : "success", PQresultErrorMessage(res));
        PQclear(res);
        fail();
    }
    PQclear(res);
}

static void
test_security_reporter_cannot_touch_tables(void **state)
{
    static const char *const statements[] = {
        "SELECT * FROM vtpm.resource_providers",
        "UPDATE vtpm.resource_providers SET tpm_bits = 127",
        "SELECT * FROM vtpm.trait_index",
        "UPDATE vtpm.trait_index SET tpm_bits = 127",
        "SELECT * FROM vtpm.candidate_uuids('{COMPUTE_SECURITY_TPM_2_0}')",
        "DELETE FROM vtpm.provider_traits",
        "INSERT INTO vtpm.reporter_bindings (login, host) VALUES ('rep_sec_a', 'sec-host-b')",
        "DELETE FROM vtpm.reports",
        "UPDATE vtpm.settings SET value = '0'",
        "SELECT vtpm.bind_reporter('rep_sec_a', 'sec-host-b')",
        "SELECT vtpm.purge_reports()",
        "CREATE TABLE vtpm.mine (x int)",
        "CREATE TABLE public.mine (x int)",
        "CREATE FUNCTION vtpm.publish(text) RETURNS int LANGUAGE sql AS 'SELECT 1'",
    };
    char dsn[512];
    PGconn *conn;

    (void)state;
    make_login("rep_sec_a", "sec-host-a");
    vtpm_test_pg_dsn(&pg, "vtpm_test", "rep_sec_a", dsn, sizeof(dsn));
    conn = vtpm_test_pg_connect(dsn);
    for (size_t i = 0; i < VTPM_N_ELEMENTS(statements); i++)
        assert_denied(conn, statements[i]);
    PQfinish(conn);
}

static void
test_security_reader_reads_but_cannot_write(void **state)
{
    static const char *const statements[] = {
        "UPDATE vtpm.resource_providers SET tpm_bits = 127",
        "UPDATE vtpm.trait_index SET tpm_bits = 127",
        "DELETE FROM vtpm.trait_index",
        "INSERT INTO vtpm.traits (name) VALUES ('CUSTOM_X')",
        "DELETE FROM vtpm.reports",
        "INSERT INTO vtpm.reporter_bindings (login, host) VALUES ('reader_sec', 'sec-host-b')",
        "SELECT * FROM vtpm.publish('sec-host-b', NULL, true, 'x', '{}', NULL)",
        "SELECT vtpm.bind_reporter('reader_sec', 'sec-host-b')",
        "CREATE TABLE vtpm.mine (x int)",
    };
    char dsn[512];
    PGconn *conn;
    char *v;

    (void)state;
    v = vtpm_test_pg_value(admin, "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'reader_sec') "
                                  "THEN CREATE ROLE reader_sec LOGIN IN ROLE vtpm_reader; END IF; END $$", NULL, 0);
    free(v);
    vtpm_test_pg_dsn(&pg, "vtpm_test", "reader_sec", dsn, sizeof(dsn));
    conn = vtpm_test_pg_connect(dsn);
    v = vtpm_test_pg_value(conn, "SELECT count(*) > 0 FROM vtpm.hosts", NULL, 0);
    assert_string_equal(v, "t");
    free(v);
    v = vtpm_test_pg_value(conn, "SELECT count(*) >= 0 FROM vtpm.candidates('{COMPUTE_SECURITY_TPM_2_0}')",
                           NULL, 0);
    assert_string_equal(v, "t");
    free(v);
    v = vtpm_test_pg_value(conn, "SELECT count(*) = vtpm.candidate_count('{COMPUTE_SECURITY_TPM_2_0}') "
                                 "FROM vtpm.candidate_uuids('{COMPUTE_SECURITY_TPM_2_0}')", NULL, 0);
    assert_string_equal(v, "t");
    free(v);
    for (size_t i = 0; i < VTPM_N_ELEMENTS(statements); i++)
        assert_denied(conn, statements[i]);
    PQfinish(conn);
}

static void
test_security_injection_in_host_names_is_stored_as_data(void **state)
{
    static const char *const hosts[] = {
        "x'); DROP TABLE vtpm.traits; --",
        "\"; DELETE FROM vtpm.provider_traits; --",
        "$fn$ SELECT 1 $fn$",
        "host\\' OR '1'='1",
    };
    vtpm_publish_result res;
    vtpm_report r;

    (void)state;
    for (size_t i = 0; i < VTPM_N_ELEMENTS(hosts); i++) {
        assert_int_equal(publish(db_dsn, hosts[i], 1, &res), VTPM_PUBLISH_CHANGED);
        assert_int_equal(value1_ll(admin, "SELECT count(*) FROM vtpm.hosts WHERE host = $1", hosts[i]), 1);
    }
    assert_int_equal(value1_ll(admin, "SELECT count(*) FROM vtpm.traits WHERE bit IS NOT NULL AND name <> $1", ""), 7);
    /* Control characters are refused, not stored. */
    vtpm_test_report_init(&r, "evil\nhost", 0);
    assert_int_equal(vtpm_pg_publish(db_dsn, &r, &res), VTPM_PUBLISH_REFUSED);
    assert_non_null(strstr(res.message, "invalid host name"));
}

static void
test_security_injection_in_trait_names_is_refused(void **state)
{
    static const char *const docs[] = {
        "{\"COMPUTE_SECURITY_TPM_2_0'); DROP TABLE vtpm.traits; --\": {\"present\": true, \"code\": \"ok\", \"reason\": \"x\"}}",
        "{\"CUSTOM_NOT_OURS\": {\"present\": true, \"code\": \"ok\", \"reason\": \"x\"}}",
    };
    char err[512];

    (void)state;
    for (size_t i = 0; i < VTPM_N_ELEMENTS(docs); i++) {
        const char *values[2] = { "inj-trait", docs[i] };
        PGresult *res = PQexecParams(admin, "SELECT * FROM vtpm.publish($1, NULL, false, NULL, $2::jsonb, NULL)",
                                     2, NULL, values, NULL, NULL, 0);

        assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
        assert_string_equal(PQresultErrorField(res, PG_DIAG_SQLSTATE), "22023");
        PQclear(res);
    }
    {
        const char *values[1] = { "{\"COMPUTE_SECURITY_TPM_2_0') OR true; --\"}" };
        PGresult *res = PQexecParams(admin, "SELECT count(*) FROM vtpm.candidates($1::text[])",
                                     1, NULL, values, NULL, NULL, 0);

        assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
        assert_string_equal(PQresultErrorField(res, PG_DIAG_SQLSTATE), "22023");
        PQclear(res);
    }
    assert_int_equal(value1_ll(admin, "SELECT count(*) FROM vtpm.resource_providers WHERE name = $1", "inj-trait"), 0);
    assert_null(vtpm_test_pg_value(admin, "SELECT vtpm.bind_reporter('x\"; DROP ROLE postgres; --', 'h')",
                                   err, sizeof(err)));
    assert_non_null(strstr(err, "invalid login name"));
}

/* A traits document naming the seven managed traits, absent, with @entry_2_0
 * and @entry_crb (JSON text) in place of theirs when not NULL. */
static void
traits_doc(char *buf, size_t size, const char *entry_2_0, const char *entry_crb)
{
    size_t o = 1;

    vtpm_strfmt(buf, size, "{");
    for (int t = 0; t < VTPM_TRAIT_COUNT; t++) {
        const char *entry = "{\"present\": false, \"code\": \"c\", \"reason\": \"r\"}";

        if (t == VTPM_TRAIT_TPM_2_0 && entry_2_0)
            entry = entry_2_0;
        if (t == VTPM_TRAIT_TPM_CRB && entry_crb)
            entry = entry_crb;
        vtpm_strfmt(buf + o, size - o, "%s\"%s\": %s", t ? ", " : "",
                    vtpm_trait_name((vtpm_trait)t), entry);
        o = strlen(buf);
    }
    vtpm_strfmt(buf + o, size - o, "}");
}

/* Runs vtpm.publish(@host, NULL, @inconclusive, NULL, @traits, NULL) on @conn;
 * returns "ok <status>" or "<SQLSTATE> <message>" as a new string. */
static char *
publish_sql(PGconn *conn, const char *host, bool inconclusive, const char *traits)
{
    const char *values[3] = { host, inconclusive ? "true" : "false", traits };
    PGresult *res = PQexecParams(conn, "SELECT status FROM vtpm.publish($1, NULL, $2::boolean, "
                                       "NULL, $3::jsonb, NULL)", 3, NULL, values, NULL, NULL, 0);
    char out[1024];

    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        vtpm_strfmt(out, sizeof(out), "ok %s", PQgetvalue(res, 0, 0));
    else
        vtpm_strfmt(out, sizeof(out), "%s %s", PQresultErrorField(res, PG_DIAG_SQLSTATE),
                    PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
    PQclear(res);
    return strdup(out);
}

static void
test_publish_refuses_malformed_trait_documents_in_order(void **state)
{
    char full[2048], bad[2048], dsn[512];
    struct {
        bool inconclusive;
        const char *traits;     /* NULL: SQL NULL */
        const char *expect;
    } cases[] = {
        { false, NULL, "22023 traits must be a JSON object" },
        { false, "[]", "22023 traits must be a JSON object" },
        { true, "\"x\"", "22023 traits must be a JSON object" },
        /* Names in the document's (jsonb's) order, unknown ones before anything else. */
        { false, "{\"CUSTOM_B\": 1, \"COMPUTE_SECURITY_TPM_2_0\": {}, \"CUSTOM_A\": 2}",
          "22023 not a managed TPM trait: 'CUSTOM_A', 'CUSTOM_B'" },
        { true, "{\"CUSTOM_A\": 2}", "22023 not a managed TPM trait: 'CUSTOM_A'" },
        { false, "{}", "22023 traits must name every managed TPM trait (got 0)" },
        { false, "{\"COMPUTE_SECURITY_TPM_2_0\": {\"present\": true, \"code\": \"c\", \"reason\": \"r\"}}",
          "22023 traits must name every managed TPM trait (got 1)" },
        { true, "{\"COMPUTE_SECURITY_TPM_2_0\": {\"present\": true, \"code\": \"c\", \"reason\": \"r\"}}",
          "22023 traits must name every managed TPM trait (got 1)" },
        { false, bad, "22023 trait needs present (boolean), code (at most 64 of a-z, 0-9, _) and reason "
                      "(at most 1000 characters, no control characters), and nothing else: "
                      "'COMPUTE_SECURITY_TPM_2_0', 'COMPUTE_SECURITY_TPM_CRB'" },
        { true, bad, "22023 trait needs present (boolean), code (at most 64 of a-z, 0-9, _) and reason "
                      "(at most 1000 characters, no control characters), and nothing else: "
                     "'COMPUTE_SECURITY_TPM_2_0', 'COMPUTE_SECURITY_TPM_CRB'" },
        { true, "{}", "ok inconclusive" },
        { false, full, "ok unchanged" },
        { true, full, "ok inconclusive" },
    };
    PGconn *reporter;
    char *v;

    (void)state;
    traits_doc(full, sizeof(full), NULL, NULL);
    traits_doc(bad, sizeof(bad), "{\"present\": \"yes\", \"code\": \"c\", \"reason\": \"r\"}",
               "{\"present\": true, \"code\": \"c\"}");
    for (size_t i = 0; i < VTPM_N_ELEMENTS(cases); i++) {
        bool same;

        v = publish_sql(admin, "val-doc", cases[i].inconclusive, cases[i].traits);
        same = strcmp(v, cases[i].expect) == 0;
        if (!same)
            fprintf(stderr, "case %zu: expected '%s', got '%s'\n", i, cases[i].expect, v);
        free(v);
        if (!same)
            fail();
    }
    /* Refused documents wrote nothing; the accepted ones wrote one report each. */
    assert_int_equal(value1_ll(admin, "SELECT count(*) FROM vtpm.reports WHERE host = $1", "val-doc"), 3);

    /* A login that is not bound is told so before anything about the document. */
    make_login("rep_val", "val-own");
    vtpm_test_pg_dsn(&pg, "vtpm_test", "rep_val", dsn, sizeof(dsn));
    reporter = vtpm_test_pg_connect(dsn);
    v = publish_sql(reporter, "val-doc", false, "[]");
    assert_string_equal(v, "42501 login rep_val is not bound to host 'val-doc'");
    free(v);
    PQfinish(reporter);
}

/* A value of a query with two text parameters, as a new string. */
static char *
value2(const char *sql, const char *p1, const char *p2)
{
    const char *values[2] = { p1, p2 };
    PGresult *res = PQexecParams(admin, sql, 2, NULL, values, NULL, NULL, 0);
    char *v;

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        fprintf(stderr, "query failed: %s", PQerrorMessage(admin));
        PQclear(res);
        fail();
    }
    v = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

#define REASON_ROWS \
    "FROM vtpm.provider_trait_state s JOIN vtpm.traits t ON t.id = s.trait_id " \
    "JOIN vtpm.resource_providers rp ON rp.id = s.provider_id WHERE rp.name = $1 "

static void
test_publish_rewrites_only_the_reasons_that_changed(void **state)
{
    static const char xmins_sql[] = "SELECT array_agg(s.xmin::text ORDER BY t.bit) " REASON_ROWS;
    static const char sinces_sql[] = "SELECT array_agg(s.since::text ORDER BY t.bit) " REASON_ROWS;
    static const char rewritten_sql[] =
        "SELECT coalesce(string_agg(t.name, ',' ORDER BY t.bit), '') " REASON_ROWS
        "AND s.xmin::text <> ($2::text[])[t.bit + 1]";
    vtpm_traitset set = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0);
    vtpm_publish_result res;
    char *xmins, *sinces, *v;
    vtpm_report r;

    (void)state;
    vtpm_test_report_init(&r, "sem-reasons", set);
    assert_int_equal(vtpm_pg_publish(db_dsn, &r, &res), VTPM_PUBLISH_CHANGED);
    xmins = value1(admin, xmins_sql, "sem-reasons");
    sinces = value1(admin, sinces_sql, "sem-reasons");

    /* The same report again rewrites no reason row. */
    assert_int_equal(vtpm_pg_publish(db_dsn, &r, &res), VTPM_PUBLISH_UNCHANGED);
    v = value2(rewritten_sql, "sem-reasons", xmins);
    assert_string_equal(v, "");
    free(v);

    /* A new reason for an absent trait rewrites that row only; the trait was
     * absent before and still is, so no since moves. */
    vtpm_strfmt(r.traits[VTPM_TRAIT_TPM_CRB].reason, sizeof(r.traits[VTPM_TRAIT_TPM_CRB].reason),
                "a new reason");
    assert_int_equal(vtpm_pg_publish(db_dsn, &r, &res), VTPM_PUBLISH_UNCHANGED);
    v = value2(rewritten_sql, "sem-reasons", xmins);
    assert_string_equal(v, "COMPUTE_SECURITY_TPM_CRB");
    free(v);
    v = value1(admin, sinces_sql, "sem-reasons");
    assert_string_equal(v, sinces);
    free(v);
    v = value1(admin, "SELECT s.reason " REASON_ROWS "AND t.name = 'COMPUTE_SECURITY_TPM_CRB'",
               "sem-reasons");
    assert_string_equal(v, "a new reason");
    free(v);

    /* A trait that appears moves its since, and only its since. */
    vtpm_test_report_init(&r, "sem-reasons", set | VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_CRB));
    assert_int_equal(vtpm_pg_publish(db_dsn, &r, &res), VTPM_PUBLISH_CHANGED);
    v = value2("SELECT coalesce(string_agg(t.name, ',' ORDER BY t.bit), '') " REASON_ROWS
               "AND s.since::text <> ($2::text[])[t.bit + 1]", "sem-reasons", sinces);
    assert_string_equal(v, "COMPUTE_SECURITY_TPM_CRB");
    free(v);
    free(sinces);
    free(xmins);
}

/* ---- concurrency ---- */

enum { PUBLISHERS = 32, ROUNDS = 12 };

typedef struct {
    const char *host;           /* NULL: each thread its own host */
    int index;
    unsigned int seed;
    int changed;
    int failures;
    long long generations[ROUNDS];
    vtpm_publish_status statuses[ROUNDS];
} publisher_state;

static void *
publisher_main(void *arg)
{
    publisher_state *s = arg;
    char host[64];

    if (s->host)
        vtpm_strfmt(host, sizeof(host), "%s", s->host);
    else
        vtpm_strfmt(host, sizeof(host), "conc-many-%02d", s->index);
    for (int i = 0; i < ROUNDS; i++) {
        vtpm_publish_result res;
        vtpm_traitset set = (vtpm_traitset)(rand_r(&s->seed) % 4) ;

        /* Few distinct sets, so that some reports change nothing. */
        set = set == 0 ? 0 : set == 1 ? VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0)
            : set == 2 ? VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0) | VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_CRB)
            : (vtpm_traitset)(rand_r(&s->seed) % 128);
        s->statuses[i] = publish(db_dsn, host, set, &res);
        s->generations[i] = res.generation;
        if (s->statuses[i] == VTPM_PUBLISH_CHANGED)
            s->changed++;
        else if (s->statuses[i] != VTPM_PUBLISH_UNCHANGED)
            s->failures++;
    }
    return NULL;
}

/* The stored history of @host must be a consistent chain. */
static void
assert_history_consistent(const char *host)
{
    const char *values[1] = { host };
    PGresult *res = PQexecParams(admin,
        "SELECT status, generation, vtpm.trait_mask(present), "
        "cardinality(added) + cardinality(removed) FROM vtpm.reports "
        "WHERE host = $1 ORDER BY id", 1, NULL, values, NULL, NULL, 0);
    long long gen = 0, mask = 0;
    int n = PQntuples(res);

    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_true(n > 0);
    for (int i = 0; i < n; i++) {
        long long g = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        long long m = strtoll(PQgetvalue(res, i, 2), NULL, 10);
        int delta = (int)strtol(PQgetvalue(res, i, 3), NULL, 10);

        /* The generation moves by one exactly when the trait set moved. */
        if (m != mask) {
            assert_int_equal(g, gen + 1);
            assert_true(delta > 0);
        } else {
            assert_int_equal(g, gen);
            assert_int_equal(delta, 0);
        }
        gen = g;
        mask = m;
    }
    /* The final state is the last committed report. */
    assert_int_equal(host_bits(host), mask);
    assert_int_equal(host_trait_rows_bits(host), mask);
    assert_int_equal(host_generation(host), gen);
    PQclear(res);
}

static void
run_publishers(const char *host, publisher_state *st)
{
    pthread_t threads[PUBLISHERS];

    for (int i = 0; i < PUBLISHERS; i++) {
        st[i].host = host;
        st[i].index = i;
        st[i].seed = 0x5eed0000u + (unsigned int)i * 7919u;
        assert_int_equal(pthread_create(&threads[i], NULL, publisher_main, &st[i]), 0);
    }
    for (int i = 0; i < PUBLISHERS; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
}

static void
test_concurrent_publishers_on_one_host_lose_no_update(void **state)
{
    static publisher_state st[PUBLISHERS];
    int changed = 0;
    long long max_gen = 0;

    (void)state;
    run_publishers("conc-one", st);
    for (int i = 0; i < PUBLISHERS; i++) {
        assert_int_equal(st[i].failures, 0);
        changed += st[i].changed;
        for (int r = 0; r < ROUNDS; r++) {
            if (st[i].generations[r] > max_gen)
                max_gen = st[i].generations[r];
        }
    }
    assert_int_equal(value1_ll(admin, "SELECT count(*) FROM vtpm.reports WHERE host = $1", "conc-one"),
                     PUBLISHERS * ROUNDS);
    assert_history_consistent("conc-one");
    /* Every changed report the clients saw is one generation step (the
     * creation counts as changed even when it had no trait). */
    assert_int_equal(host_generation("conc-one"), max_gen);
    assert_true(changed == max_gen || changed == max_gen + 1);
    /* No two clients were told the same generation for a change. */
    assert_int_equal(value1_ll(admin, "SELECT count(*) - count(DISTINCT generation) FROM vtpm.reports "
                                      "WHERE host = $1 AND status = 'changed' AND generation > 0", "conc-one"), 0);
}

static void
test_concurrent_publishers_on_many_hosts_lose_no_update(void **state)
{
    static publisher_state st[PUBLISHERS];

    (void)state;
    run_publishers(NULL, st);
    for (int i = 0; i < PUBLISHERS; i++) {
        char host[64];

        assert_int_equal(st[i].failures, 0);
        vtpm_strfmt(host, sizeof(host), "conc-many-%02d", i);
        assert_history_consistent(host);
        assert_int_equal(host_generation(host), st[i].generations[ROUNDS - 1]);
    }
}

static int
group_setup(void **state)
{
    (void)state;
    if (vtpm_test_pg_start_inventory(&pg, "vtpm_test", db_dsn, sizeof(db_dsn), &admin) < 0)
        return -1;
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    PQfinish(admin);
    vtpm_test_pg_destroy(&pg);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_first_report_creates_provider_with_traits),
        cmocka_unit_test(test_publish_same_traits_again_keeps_generation),
        cmocka_unit_test(test_publish_change_bumps_generation_once_and_records_history),
        cmocka_unit_test(test_publish_leaves_unmanaged_traits_alone),
        cmocka_unit_test(test_publish_inconclusive_records_and_changes_nothing),
        cmocka_unit_test(test_publish_notifies_only_on_change),
        cmocka_unit_test(test_publish_refuses_a_different_uuid_for_a_known_host),
        cmocka_unit_test(test_publish_retention_deletes_old_unchanged_reports),
        cmocka_unit_test(test_publish_refuses_malformed_trait_documents_in_order),
        cmocka_unit_test(test_publish_rewrites_only_the_reasons_that_changed),
        cmocka_unit_test(test_publish_unmigrated_database_is_refused),
        cmocka_unit_test(test_publish_never_shows_the_password),
        cmocka_unit_test(test_candidates_are_exactly_the_hosts_with_the_required_traits),
        cmocka_unit_test(test_trait_index_follows_every_write_to_providers),
        cmocka_unit_test(test_security_reporter_publishes_only_its_own_host),
        cmocka_unit_test(test_security_reporter_cannot_touch_tables),
        cmocka_unit_test(test_security_reader_reads_but_cannot_write),
        cmocka_unit_test(test_security_injection_in_host_names_is_stored_as_data),
        cmocka_unit_test(test_security_injection_in_trait_names_is_refused),
        cmocka_unit_test(test_concurrent_publishers_on_one_host_lose_no_update),
        cmocka_unit_test(test_concurrent_publishers_on_many_hosts_lose_no_update),
    };

    return cmocka_run_group_tests_name("publish", tests, group_setup, group_teardown);
}
