/* SPDX-License-Identifier: Apache-2.0 */
/* What a reporter login can and cannot do: UUIDs it may not choose, powers it may not hold, grants that work, bounded reports. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "pg_fixture.h"
#include "util.h"

static vtpm_test_pg pg;
static char db_dsn[512];
static PGconn *admin;

/* A traits document with the seven managed traits absent, @extra spliced into the 2.0 entry. */
static void
traits_doc(char *buf, size_t size, const char *reason, const char *code, const char *extra)
{
    static const char *const names[] = {
        "COMPUTE_SECURITY_TPM_1_2", "COMPUTE_SECURITY_TPM_2_0", "COMPUTE_SECURITY_TPM_TIS",
        "COMPUTE_SECURITY_TPM_CRB", "COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER",
        "COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST",
        "COMPUTE_SECURITY_TPM_SECRET_SECURITY_DEPLOYMENT",
    };
    size_t o = 0;

    o += (size_t)snprintf(buf + o, size - o, "{");
    for (size_t i = 0; i < VTPM_N_ELEMENTS(names) && o < size; i++) {
        bool special = i == 1;

        o += (size_t)snprintf(buf + o, size - o,
                              "%s\"%s\": {\"present\": false, \"code\": \"%s\", \"reason\": \"%s\"%s}",
                              i ? ", " : "", names[i], special && code ? code : "ok",
                              special && reason ? reason : "x",
                              special && extra ? extra : "");
    }
    if (o < size)
        snprintf(buf + o, size - o, "}");
}

/* Runs vtpm.publish() as @conn; returns the SQLSTATE ("" on success) into @state. */
static void
publish_sqlstate(PGconn *conn, const char *host, const char *uuid, const char *reason,
                 const char *traits, const char *facts, char *state, size_t size,
                 char *msg, size_t msgsize)
{
    const char *values[5] = { host, uuid, reason, traits, facts };
    PGresult *res = PQexecParams(conn,
                                 "SELECT status FROM vtpm.publish($1, $2::uuid, $3::text IS NOT NULL, $3::text, "
                                 "$4::jsonb, $5::jsonb)", 5, NULL, values, NULL, NULL, 0);
    const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);

    vtpm_strfmt(state, size, "%s", PQresultStatus(res) == PGRES_TUPLES_OK ? "" : s ? s : "?");
    if (msg)
        vtpm_strfmt(msg, msgsize, "%s", PQresultErrorMessage(res));
    PQclear(res);
}

static PGconn *
connect_as(const char *login)
{
    char dsn[512];

    return vtpm_test_pg_connect(vtpm_test_pg_dsn(&pg, "vtpm_test", login, dsn, sizeof(dsn)));
}

static void
sql_ok(const char *sql)
{
    char err[512];
    char *v = vtpm_test_pg_value(admin, sql, err, sizeof(err));

    if (!v) {
        fail_msg("%s: %s", sql, err);
        return;
    }
    free(v);
}

/* Runs a count(*) query as the admin and returns the count. */
static long long
count_of(const char *sql)
{
    return vtpm_test_pg_number(admin, sql);
}

/* Runs @sql as the admin; returns the error message (static) or NULL on success. */
static const char *
sql_error(const char *sql)
{
    static char err[512];
    char *v = vtpm_test_pg_value(admin, sql, err, sizeof(err));

    if (v) {
        free(v);
        return NULL;
    }
    return err;
}

/* ---- 1. provider UUIDs ---- */

static void
test_reporter_cannot_create_a_provider_with_a_uuid_of_its_choice(void **state)
{
    char traits[2048], st[16], msg[512];
    PGconn *rep;

    (void)state;
    sql_ok("SELECT vtpm.bind_reporter('rep_squat', 'squat-host')");
    traits_doc(traits, sizeof(traits), NULL, NULL, NULL);
    rep = connect_as("rep_squat");
    /* The UUID Nova will use for another host: refused, nothing created. */
    publish_sqlstate(rep, "squat-host", "6f1c7e3a-0000-4000-8000-00000000beef", NULL, traits, NULL,
                     st, sizeof(st), msg, sizeof(msg));
    assert_string_equal(st, "42501");
    assert_non_null(strstr(msg, "its UUID is set when the owner binds the reporter"));
    assert_null(strstr(msg, "beef"));
    assert_int_equal(count_of("SELECT count(*) FROM vtpm.resource_providers WHERE name = 'squat-host'"), 0);
    /* Without a UUID it publishes, under a UUID the database chose. */
    publish_sqlstate(rep, "squat-host", NULL, NULL, traits, NULL, st, sizeof(st), NULL, 0);
    assert_string_equal(st, "");
    PQfinish(rep);
}

static void
test_owner_fixes_the_uuid_at_bind_time(void **state)
{
    char traits[2048], st[16], msg[512];
    const char *err;
    PGconn *rep;
    char *v;

    (void)state;
    sql_ok("SELECT vtpm.bind_reporter('rep_fixed', 'fixed-host', NULL, "
           "'0b6f6d1e-2a4c-4f7e-9a55-1c2d3e4f5a6b')");
    v = vtpm_test_pg_value(admin, "SELECT uuid FROM vtpm.resource_providers WHERE name = 'fixed-host'",
                           NULL, 0);
    assert_non_null(v);
    assert_string_equal(v, "0b6f6d1e-2a4c-4f7e-9a55-1c2d3e4f5a6b");
    free(v);
    traits_doc(traits, sizeof(traits), NULL, NULL, NULL);
    rep = connect_as("rep_fixed");
    publish_sqlstate(rep, "fixed-host", "0b6f6d1e-2a4c-4f7e-9a55-1c2d3e4f5a6b", NULL, traits, NULL,
                     st, sizeof(st), NULL, 0);
    assert_string_equal(st, "");
    publish_sqlstate(rep, "fixed-host", "11111111-2222-4333-8444-555555555555", NULL, traits, NULL,
                     st, sizeof(st), msg, sizeof(msg));
    assert_string_equal(st, "22023");
    PQfinish(rep);
    /* The owner cannot give one UUID to two hosts, nor change a host's. */
    err = sql_error("SELECT vtpm.bind_reporter('rep_fixed2', 'other-host', NULL, "
                    "'0b6f6d1e-2a4c-4f7e-9a55-1c2d3e4f5a6b')");
    assert_non_null(err);
    assert_non_null(strstr(err, "another host's provider"));
    err = sql_error("SELECT vtpm.bind_reporter('rep_fixed', 'fixed-host', NULL, "
                    "'11111111-2222-4333-8444-555555555555')");
    assert_non_null(err);
    assert_non_null(strstr(err, "is provider"));
}

/* ---- 2. reporter logins hold nothing else ---- */

static void
test_bind_refuses_a_login_with_other_powers(void **state)
{
    static const struct { const char *setup; const char *login; const char *why; } cases[] = {
        { "CREATE ROLE pw_owner LOGIN IN ROLE vtpm_owner", "pw_owner", "member of vtpm_owner" },
        { "CREATE ROLE pw_prog LOGIN IN ROLE pg_execute_server_program", "pw_prog",
          "member of pg_execute_server_program" },
        { "CREATE ROLE pw_repl LOGIN REPLICATION", "pw_repl", "REPLICATION" },
        { "CREATE ROLE pw_rls LOGIN BYPASSRLS", "pw_rls", "BYPASSRLS" },
        { "CREATE ROLE pw_db LOGIN CREATEDB", "pw_db", "CREATEDB" },
        { "CREATE ROLE pw_super LOGIN SUPERUSER", "pw_super", "SUPERUSER" },
        { "CREATE ROLE pw_reader LOGIN IN ROLE vtpm_reader", "pw_reader", "member of vtpm_reader" },
        { "CREATE ROLE pw_grant LOGIN; GRANT SELECT ON vtpm.traits TO pw_grant", "pw_grant",
          "holds privileges on objects" },
        { "CREATE ROLE pw_owns LOGIN; CREATE TABLE public.pw_table (x int); "
          "ALTER TABLE public.pw_table OWNER TO pw_owns", "pw_owns", "owns objects" },
    };
    char sql[256];

    (void)state;
    for (size_t i = 0; i < VTPM_N_ELEMENTS(cases); i++) {
        const char *err;

        sql_ok(cases[i].setup);
        vtpm_strfmt(sql, sizeof(sql), "SELECT vtpm.bind_reporter('%s', 'power-host')", cases[i].login);
        err = sql_error(sql);
        if (!err || !strstr(err, cases[i].why) || !strstr(err, "must hold nothing else"))
            fail_msg("%s: expected a refusal naming '%s', got: %s", cases[i].login, cases[i].why,
                     err ? err : "bound");
    }
    assert_int_equal(count_of("SELECT count(*) FROM vtpm.reporter_bindings WHERE host = 'power-host'"), 0);
    /* A plain login, and a reporter bound to a second host, are fine. */
    sql_ok("CREATE ROLE pw_plain LOGIN");
    sql_ok("SELECT vtpm.bind_reporter('pw_plain', 'power-host')");
    sql_ok("SELECT vtpm.bind_reporter('pw_plain', 'power-host-2')");
}

/* ---- 3. every grant works for the role it is given to ---- */

/* The functions @role may execute, as "name(args)" sorted, one per line. */
static char *
executable_by(const char *role)
{
    char sql[512];

    vtpm_strfmt(sql, sizeof(sql),
                "SELECT string_agg(p.oid::regprocedure::text, E'\\n' ORDER BY p.oid::regprocedure::text) FROM pg_proc p "
                "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'vtpm' "
                "AND has_function_privilege('%s', p.oid, 'EXECUTE')", role);
    return vtpm_test_pg_value(admin, sql, NULL, 0);
}

static void
test_each_granted_function_works_for_its_role(void **state)
{
    /* Every function each role may call, and a call that must work as that role. */
    static const struct { const char *fn; const char *call; } reader[] = {
        { "vtpm.candidate_count(text[],text[])",
          "SELECT vtpm.candidate_count('{COMPUTE_SECURITY_TPM_2_0}')" },
        { "vtpm.candidate_uuids(text[],text[],integer)",
          "SELECT count(*) FROM vtpm.candidate_uuids('{COMPUTE_SECURITY_TPM_2_0}')" },
        { "vtpm.candidates(text[],text[],integer)",
          "SELECT count(*) FROM vtpm.candidates('{COMPUTE_SECURITY_TPM_2_0}')" },
        { "vtpm.history(text,timestamp with time zone)", "SELECT count(*) FROM vtpm.history('fixed-host')" },
        { "vtpm.stale_after()", "SELECT vtpm.stale_after()" },
        { "vtpm.trait_mask(text[])", "SELECT vtpm.trait_mask('{COMPUTE_SECURITY_TPM_2_0}')" },
        { "vtpm.trait_masks(text[],text[])", "SELECT * FROM vtpm.trait_masks('{COMPUTE_SECURITY_TPM_2_0}', '{}')" },
        { "vtpm.trait_names(integer)", "SELECT vtpm.trait_names(3)" },
    };
    char expected[1024] = "", traits[2048], st[16], msg[512];
    PGconn *conn;
    char *got;
    size_t o = 0;

    (void)state;
    /* vtpm_reporter: publish only, and publish works (the UUID tests published). */
    got = executable_by("vtpm_reporter");
    assert_non_null(got);
    assert_string_equal(got, "vtpm.flush()\n"
                             "vtpm.publish(text,uuid,boolean,text,jsonb,jsonb)\n"
                             "vtpm.publish(text,uuid,boolean,text,jsonb,jsonb,boolean)");
    free(got);
    /* vtpm_pool_publisher: the signed publish only (what it can do with it:
     * tests/reporter/publish/pg/test_signed.c). */
    got = executable_by("vtpm_pool_publisher");
    assert_non_null(got);
    assert_string_equal(got, "vtpm.flush()\n"
                             "vtpm.publish_signed(text,text,text,text,text,text,text,text,text)\n"
                             "vtpm.publish_signed(text,text,text,text,text,text,text,text,text,boolean)");
    free(got);
    sql_ok("SELECT vtpm.bind_reporter('rep_grant', 'grant-host')");
    traits_doc(traits, sizeof(traits), NULL, NULL, NULL);
    conn = connect_as("rep_grant");
    publish_sqlstate(conn, "grant-host", NULL, NULL, traits, "{}", st, sizeof(st), msg, sizeof(msg));
    if (st[0])
        fail_msg("publish as a reporter: %s", msg);
    /* The deferred form and its flush (tests/sql/test_deferred_flush.c). */
    got = vtpm_test_pg_value(conn, "SELECT status FROM vtpm.publish('grant-host', NULL, true, 'x', "
                             "'{}', '{}', false)", msg, sizeof(msg));
    if (!got)
        fail_msg("deferred publish as a reporter: %s", msg);
    free(got);
    got = vtpm_test_pg_value(conn, "SELECT vtpm.flush() IS NOT NULL", msg, sizeof(msg));
    if (!got)
        fail_msg("flush as a reporter: %s", msg);
    assert_string_equal(got, "t");
    free(got);
    PQfinish(conn);

    /* vtpm_reader: exactly the list above, and each call works. */
    for (size_t i = 0; i < VTPM_N_ELEMENTS(reader); i++)
        o += (size_t)snprintf(expected + o, sizeof(expected) - o, "%s%s", i ? "\n" : "", reader[i].fn);
    got = executable_by("vtpm_reader");
    assert_non_null(got);
    assert_string_equal(got, expected);
    free(got);
    sql_ok("CREATE ROLE grant_reader LOGIN IN ROLE vtpm_reader");
    conn = connect_as("grant_reader");
    for (size_t i = 0; i < VTPM_N_ELEMENTS(reader); i++) {
        char err[512];
        char *v = vtpm_test_pg_value(conn, reader[i].call, err, sizeof(err));

        if (!v)
            fail_msg("as vtpm_reader, %s: %s", reader[i].call, err);
        free(v);
    }
    PQfinish(conn);
}

/* ---- 4. bounded reports ---- */

static void
test_publish_bounds_every_text_and_document(void **state)
{
    char *big = malloc(70000), *traits = malloc(80000), *facts = malloc(80000);
    char ok_traits[2048], st[16], msg[512];
    PGconn *rep;

    (void)state;
    assert_non_null(big);
    assert_non_null(traits);
    assert_non_null(facts);
    sql_ok("SELECT vtpm.bind_reporter('rep_bounds', 'bounds-host')");
    rep = connect_as("rep_bounds");
    traits_doc(ok_traits, sizeof(ok_traits), NULL, NULL, NULL);

    /* A reason of 1000 characters is fine, 1001 is not. */
    memset(big, 'r', 1000);
    big[1000] = '\0';
    traits_doc(traits, 80000, big, NULL, NULL);
    publish_sqlstate(rep, "bounds-host", NULL, NULL, traits, NULL, st, sizeof(st), msg, sizeof(msg));
    assert_string_equal(st, "");
    big[1000] = 'r';
    big[1001] = '\0';
    traits_doc(traits, 80000, big, NULL, NULL);
    publish_sqlstate(rep, "bounds-host", NULL, NULL, traits, NULL, st, sizeof(st), NULL, 0);
    assert_string_equal(st, "22023");
    /* The inconclusive reason too. */
    publish_sqlstate(rep, "bounds-host", NULL, big, "{}", NULL, st, sizeof(st), NULL, 0);
    assert_string_equal(st, "22023");
    /* A reason or a code with a terminal escape, a code that is not a code, an extra member. */
    traits_doc(traits, 80000, "ok \\u001b]0;owned\\u0007", NULL, NULL);
    publish_sqlstate(rep, "bounds-host", NULL, NULL, traits, NULL, st, sizeof(st), NULL, 0);
    assert_string_equal(st, "22023");
    traits_doc(traits, 80000, NULL, "OK; DROP", NULL);
    publish_sqlstate(rep, "bounds-host", NULL, NULL, traits, NULL, st, sizeof(st), NULL, 0);
    assert_string_equal(st, "22023");
    traits_doc(traits, 80000, NULL, NULL, ", \"junk\": \"x\"");
    publish_sqlstate(rep, "bounds-host", NULL, NULL, traits, NULL, st, sizeof(st), NULL, 0);
    assert_string_equal(st, "22023");
    publish_sqlstate(rep, "bounds-host", NULL, "libvirt\nsaid \x1b[2J", "{}", NULL, st, sizeof(st), NULL, 0);
    assert_string_equal(st, "22023");
    /* A traits document made large by its reasons' neighbours. */
    memset(big, 'j', 20000);
    big[20000] = '\0';
    {
        char *extra = malloc(20100);

        assert_non_null(extra);
        snprintf(extra, 20100, ", \"pad\": \"%s\"", big);
        traits_doc(traits, 80000, NULL, NULL, extra);
        free(extra);
    }
    publish_sqlstate(rep, "bounds-host", NULL, NULL, traits, NULL, st, sizeof(st), NULL, 0);
    assert_string_equal(st, "54000");
    /* Facts: 64 KiB at most, no control characters in any string. */
    memset(big, 'f', 66000);
    big[66000] = '\0';
    snprintf(facts, 80000, "{\"swtpm\": {\"version\": \"%s\"}}", big);
    publish_sqlstate(rep, "bounds-host", NULL, NULL, ok_traits, facts, st, sizeof(st), NULL, 0);
    assert_string_equal(st, "54000");
    publish_sqlstate(rep, "bounds-host", NULL, NULL, ok_traits,
                     "{\"swtpm\": {\"features\": [\"tpm-2.0\", \"x\\u001b[31m\"]}}", st, sizeof(st), NULL, 0);
    assert_string_equal(st, "22023");
    publish_sqlstate(rep, "bounds-host", NULL, NULL, ok_traits, "{\"a\": \"line\\nbreak\"}", st, sizeof(st),
                     NULL, 0);
    assert_string_equal(st, "22023");
    /* A backslash followed by n is text, not a newline. */
    publish_sqlstate(rep, "bounds-host", NULL, NULL, ok_traits, "{\"path\": \"C:\\\\new\"}", st, sizeof(st),
                     msg, sizeof(msg));
    if (st[0])
        fail_msg("an escaped backslash was refused: %s", msg);
    /* Nothing refused was stored. */
    assert_int_equal(count_of("SELECT count(*) FROM vtpm.reports WHERE host = 'bounds-host' AND "
                              "(octet_length(traits::text) > 16384 OR octet_length(facts::text) > 65536 "
                              "OR traits::text LIKE '%junk%')"), 0);
    PQfinish(rep);
    free(big);
    free(traits);
    free(facts);
}

/* PL/pgSQL reads a function's string literals in the session that first
 * calls it: the facts check must mean the same when that session does not
 * treat backslashes as plain characters (a role or database default kept
 * for an old application). */
static void
test_publish_checks_facts_alike_without_standard_strings(void **state)
{
    char traits[2048], st[16], msg[512];
    PGconn *rep;
    char *v;

    (void)state;
    sql_ok("SELECT vtpm.bind_reporter('rep_scs', 'scs-host')");
    sql_ok("ALTER ROLE rep_scs SET standard_conforming_strings = off");
    rep = connect_as("rep_scs");
    v = vtpm_test_pg_value(rep, "SHOW standard_conforming_strings", NULL, 0);
    assert_string_equal(v, "off");
    free(v);
    traits_doc(traits, sizeof(traits), NULL, NULL, NULL);

    publish_sqlstate(rep, "scs-host", NULL, NULL, traits,
                     "{\"libvirt\": {\"version\": \"9.0.0\"}, \"swtpm\": {\"version\": \"0.7.3\"}}",
                     st, sizeof(st), msg, sizeof(msg));
    if (st[0])
        fail_msg("plain facts were refused: %s", msg);
    publish_sqlstate(rep, "scs-host", NULL, NULL, traits, "{\"path\": \"C:\\\\new\"}", st, sizeof(st),
                     msg, sizeof(msg));
    if (st[0])
        fail_msg("an escaped backslash was refused: %s", msg);
    publish_sqlstate(rep, "scs-host", NULL, NULL, traits, "{\"a\": \"x\\u001b[31m\"}", st, sizeof(st),
                     msg, sizeof(msg));
    assert_string_equal(st, "22023");
    assert_non_null(strstr(msg, "facts must not contain control characters"));
    publish_sqlstate(rep, "scs-host", NULL, NULL, traits, "{\"a\": \"line\\nbreak\"}", st, sizeof(st),
                     NULL, 0);
    assert_string_equal(st, "22023");
    assert_int_equal(count_of("SELECT count(*) FROM vtpm.reports WHERE host = 'scs-host'"), 2);
    PQfinish(rep);
    sql_ok("ALTER ROLE rep_scs RESET standard_conforming_strings");
}

static int
group_setup(void **state)
{
    (void)state;
    return vtpm_test_pg_start_inventory(&pg, "vtpm_test", db_dsn, sizeof(db_dsn), &admin);
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
        cmocka_unit_test(test_reporter_cannot_create_a_provider_with_a_uuid_of_its_choice),
        cmocka_unit_test(test_owner_fixes_the_uuid_at_bind_time),
        cmocka_unit_test(test_bind_refuses_a_login_with_other_powers),
        cmocka_unit_test(test_each_granted_function_works_for_its_role),
        cmocka_unit_test(test_publish_bounds_every_text_and_document),
        cmocka_unit_test(test_publish_checks_facts_alike_without_standard_strings),
    };

    return cmocka_run_group_tests_name("roles", tests, group_setup, group_teardown);
}
