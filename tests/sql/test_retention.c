/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm.reports partitioned by day (migration 0011): retention by dropping days, the contract kept, who may prune. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "migrate.h"
#include "pg_fixture.h"
#include "util.h"

static vtpm_test_pg pg;
static char db_dsn[512];
static PGconn *admin;

static long long
number(PGconn *conn, const char *sql)
{
    char out[512];

    vtpm_test_pg_answer(conn, sql, out, sizeof(out));
    if (strncmp(out, "ERROR:", 6) == 0 || !out[0])
        fail_msg("%s: %s", sql, out);
    return strtoll(out, NULL, 10);
}

static void
sql_ok(PGconn *conn, const char *sql)
{
    char out[512];

    vtpm_test_pg_answer(conn, sql, out, sizeof(out));
    if (strncmp(out, "ERROR:", 6) == 0)
        fail_msg("%s: %s", sql, out);
}

/* Publishes @host as the owner with TPM 2.0 present when @tpm2; returns the report's id. */
static long long
publish(PGconn *conn, const char *host, bool tpm2)
{
    char sql[1024];

    vtpm_strfmt(sql, sizeof(sql),
                "SELECT status FROM vtpm.publish('%s', NULL, false, NULL, "
                "(SELECT jsonb_object_agg(t.name, jsonb_build_object('present', "
                "t.bit = 1 AND %s, 'code', 'x', 'reason', 'x')) FROM vtpm.traits t "
                "WHERE t.bit IS NOT NULL), '{}')", host, tpm2 ? "true" : "false");
    sql_ok(conn, sql);
    return number(conn, "SELECT max(id) FROM vtpm.reports");
}

/* Moves report @id back by @ago (an interval), into whichever partition holds that time. */
static void
backdate(PGconn *conn, long long id, const char *ago)
{
    char sql[256];

    vtpm_strfmt(sql, sizeof(sql), "UPDATE vtpm.reports SET reported_at = now() - interval '%s' "
                "WHERE id = %lld", ago, id);
    sql_ok(conn, sql);
}

/* The partition holding report @id, "" when there is none. */
static void
partition_of(long long id, char *out, size_t size)
{
    char sql[256];

    vtpm_strfmt(sql, sizeof(sql), "SELECT tableoid::regclass FROM vtpm.reports WHERE id = %lld", id);
    vtpm_test_pg_answer(admin, sql, out, size);
}

static void
test_reports_land_in_their_partition(void **state)
{
    char where[128];
    long long first, second;

    (void)state;
    assert_int_equal(number(admin, "SELECT count(*) FROM pg_partitioned_table p JOIN pg_class c "
                                   "ON c.oid = p.partrelid WHERE c.relname IN ('reports', "
                                   "'reports_routine') AND c.relnamespace = 'vtpm'::regnamespace"), 2);
    /* Today and the next three days exist already. */
    assert_int_equal(number(admin, "SELECT count(*) FROM generate_series(0, 3) AS d WHERE "
                                   "to_regclass('vtpm.reports_routine_' || to_char((now() AT TIME "
                                   "ZONE 'UTC')::date + d, 'YYYYMMDD')) IS NOT NULL"), 4);
    first = publish(admin, "ret-a", true);
    second = publish(admin, "ret-a", true);
    partition_of(first, where, sizeof(where));
    assert_string_equal(where, "vtpm.reports_changed");
    partition_of(second, where, sizeof(where));
    assert_non_null(strstr(where, "vtpm.reports_routine_2"));
    /* Identities go on increasing across partitions. */
    assert_true(second > first);
    assert_int_equal(number(admin, "SELECT count(*) FROM vtpm.history('ret-a')"), 2);
    assert_int_equal(number(admin, "SELECT count(*) FROM vtpm.trait_changes WHERE host = 'ret-a'"), 1);
}

/*
 * Days past retention are dropped whole, days in the default partition get
 * their own partition, changed reports stay for change_retention.
 */
static void
test_purge_drops_whole_days_and_keeps_changes(void **state)
{
    long long changed_old, changed_ancient, recent, in_default, aging, expired, removed;
    char where[128], out[256];

    (void)state;
    changed_old = publish(admin, "ret-b", true);                    /* changed: first report */
    changed_ancient = publish(admin, "ret-b", false);               /* changed */
    recent = publish(admin, "ret-b", false);
    in_default = publish(admin, "ret-b", false);
    aging = publish(admin, "ret-b", false);
    expired = publish(admin, "ret-b", false);
    backdate(admin, changed_old, "20 days");
    backdate(admin, changed_ancient, "400 days");
    backdate(admin, in_default, "5 days");
    backdate(admin, aging, "13 days");
    backdate(admin, expired, "20 days");
    partition_of(in_default, where, sizeof(where));
    assert_string_equal(where, "vtpm.reports_routine_default");

    removed = number(admin, "SELECT vtpm.purge_reports()");
    /* 400-day-old change, 20-day-old routine report (deleted), 13-day-old day (dropped). */
    assert_true(removed >= 2);
    partition_of(changed_old, where, sizeof(where));
    assert_string_equal(where, "vtpm.reports_changed");
    partition_of(changed_ancient, where, sizeof(where));
    assert_string_equal(where, "");
    partition_of(recent, where, sizeof(where));
    assert_non_null(strstr(where, "vtpm.reports_routine_2"));
    partition_of(in_default, where, sizeof(where));
    assert_non_null(strstr(where, "vtpm.reports_routine_2"));
    partition_of(aging, where, sizeof(where));
    assert_string_equal(where, "");
    partition_of(expired, where, sizeof(where));
    assert_string_equal(where, "");
    /* No routine day left that ends more than report_retention - 2 days ago. */
    assert_int_equal(number(admin, "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = "
                                   "i.inhrelid WHERE i.inhparent = 'vtpm.reports_routine'::regclass "
                                   "AND c.relname ~ '[0-9]{8}$' AND (to_date(substr(c.relname, 17), "
                                   "'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC' <= now() - "
                                   "interval '12 days'"), 0);
    assert_int_equal(number(admin, "SELECT count(*) FROM vtpm.reports_routine_default"), 0);
    /* Again: nothing left to remove. */
    assert_int_equal(number(admin, "SELECT vtpm.purge_reports()"), 0);
    vtpm_test_pg_answer(admin, "SELECT count(*) FROM vtpm.history('ret-b', now() - interval '30 days')", out,
             sizeof(out));
    assert_string_equal(out, "3");
}

/*
 * Publishing deletes the host's expired reports where purge drops no day (the
 * default partition and the changed reports), once a day per host. An expired day of its own is
 * purge's to drop (deleting there would open every day's partition).
 */
static void
test_publish_deletes_where_purge_drops_no_day(void **state)
{
    long long in_default, in_day, change;
    char where[128];

    (void)state;
    change = publish(admin, "ret-c", true);
    in_default = publish(admin, "ret-c", true);
    in_day = publish(admin, "ret-c", true);
    backdate(admin, in_default, "30 days");
    sql_ok(admin, "SELECT vtpm.reports_day_ensure(((now() - interval '16 days') AT TIME ZONE 'UTC')::date)");
    backdate(admin, in_day, "16 days");
    backdate(admin, change, "400 days");
    partition_of(in_default, where, sizeof(where));
    assert_string_equal(where, "vtpm.reports_routine_default");
    partition_of(in_day, where, sizeof(where));
    assert_non_null(strstr(where, "vtpm.reports_routine_2"));

    /* The host's retention ran with its first report, today: not again
     * before a day has passed. */
    publish(admin, "ret-c", true);
    partition_of(in_default, where, sizeof(where));
    assert_string_equal(where, "vtpm.reports_routine_default");
    sql_ok(admin, "UPDATE vtpm.resource_providers SET retention_at = now() - interval '25 hours' "
                  "WHERE name = 'ret-c'");
    publish(admin, "ret-c", true);
    partition_of(in_default, where, sizeof(where));
    assert_string_equal(where, "");
    partition_of(change, where, sizeof(where));
    assert_string_equal(where, "");
    partition_of(in_day, where, sizeof(where));
    assert_non_null(strstr(where, "vtpm.reports_routine_2"));
    /* The next prune drops that day. */
    assert_true(number(admin, "SELECT vtpm.purge_reports()") >= 0);
    partition_of(in_day, where, sizeof(where));
    assert_string_equal(where, "");
}

/* A retention shorter than the two days purge drops early never drops today's reports. */
static void
test_short_retention_never_drops_today(void **state)
{
    long long today, yesterday;
    char where[128];

    (void)state;
    publish(admin, "ret-f", true);
    yesterday = publish(admin, "ret-f", true);
    today = publish(admin, "ret-f", true);
    sql_ok(admin, "SELECT vtpm.reports_day_ensure(((now() - interval '1 day') AT TIME ZONE 'UTC')::date)");
    backdate(admin, yesterday, "1 day");
    sql_ok(admin, "UPDATE vtpm.settings SET value = '1 day' WHERE name = 'report_retention'");
    number(admin, "SELECT vtpm.purge_reports()");
    sql_ok(admin, "UPDATE vtpm.settings SET value = '14 days' WHERE name = 'report_retention'");
    partition_of(today, where, sizeof(where));
    assert_non_null(strstr(where, "vtpm.reports_routine_2"));
    partition_of(yesterday, where, sizeof(where));
    assert_string_equal(where, "");
    /* Today and the next three days are still there. */
    assert_int_equal(number(admin, "SELECT count(*) FROM generate_series(0, 3) AS d WHERE "
                                   "to_regclass('vtpm.reports_routine_' || to_char((now() AT TIME "
                                   "ZONE 'UTC')::date + d, 'YYYYMMDD')) IS NOT NULL"), 4);
    /* Nothing to do for a NULL day. */
    assert_int_equal(number(admin, "SELECT count(*) FROM (SELECT vtpm.reports_day_ensure(NULL) AS x) s "
                                   "WHERE x IS NULL"), 1);
}

/* Deleting a provider (the owner) takes its reports from every partition. */
static void
test_provider_delete_cascades_into_every_partition(void **state)
{
    long long a, b;

    (void)state;
    a = publish(admin, "ret-d", true);
    b = publish(admin, "ret-d", true);
    assert_true(a < b);
    sql_ok(admin, "DELETE FROM vtpm.resource_providers WHERE name = 'ret-d'");
    assert_int_equal(number(admin, "SELECT count(*) FROM vtpm.reports WHERE host = 'ret-d'"), 0);
}

static void
test_only_the_owner_prunes(void **state)
{
    char dsn[512], out[512], exe[1024], sql[256];
    const char *build = getenv("VTPM_BUILD_ROOT");
    char *prune[] = { exe, (char *)"--dsn", db_dsn, (char *)"prune", NULL };
    PGconn *reader, *reporter;

    (void)state;
    sql_ok(admin, "CREATE ROLE ret_reader LOGIN IN ROLE vtpm_reader");
    sql_ok(admin, "SELECT vtpm.bind_reporter('ret_reporter', 'ret-e')");
    reader = vtpm_test_pg_connect(vtpm_test_pg_dsn(&pg, "vtpm_test", "ret_reader", dsn, sizeof(dsn)));
    reporter = vtpm_test_pg_connect(vtpm_test_pg_dsn(&pg, "vtpm_test", "ret_reporter", dsn,
                                                     sizeof(dsn)));
    vtpm_test_pg_answer(reader, "SELECT count(*) FROM vtpm.reports_routine_default", out, sizeof(out));
    assert_false(strncmp(out, "ERROR:", 6) == 0);
    for (PGconn *c = reader; c; c = c == reader ? reporter : NULL) {
        static const char *const denied[] = {
            "SELECT vtpm.purge_reports()",
            "SELECT vtpm.reports_day_ensure(current_date + 30)",
            "DELETE FROM vtpm.reports_changed",
            "DELETE FROM vtpm.reports_routine_default",
            "DROP TABLE vtpm.reports_routine_default",
            "INSERT INTO vtpm.reports_changed SELECT * FROM vtpm.reports_changed",
        };

        for (size_t i = 0; i < VTPM_N_ELEMENTS(denied); i++) {
            vtpm_test_pg_answer(c, denied[i], out, sizeof(out));
            if (strncmp(out, "ERROR:42501", 11) != 0)
                fail_msg("%s as %s: %s", denied[i], PQuser(c), out);
        }
    }
    PQfinish(reader);
    PQfinish(reporter);
    /* A partition made by a superuser's prune still belongs to vtpm_owner. */
    vtpm_strfmt(exe, sizeof(exe), "%s/sql/vtpm-inventory/vtpm-inventory", build ? build : ".");
    vtpm_test_pg_answer(admin, "SELECT 'vtpm.reports_routine_' || to_char((now() AT TIME ZONE 'UTC')::date + 3, "
                    "'YYYYMMDD')", out, sizeof(out));
    vtpm_strfmt(sql, sizeof(sql), "DROP TABLE %s", out);
    sql_ok(admin, sql);
    assert_int_equal(vtpm_test_spawn(prune, out, sizeof(out)), 0);
    assert_non_null(strstr(out, ": removed 0 reports"));
    assert_int_equal(number(admin, "SELECT count(*) FROM pg_class WHERE relname = 'reports_routine_' "
                                   "|| to_char((now() AT TIME ZONE 'UTC')::date + 3, 'YYYYMMDD') AND "
                                   "relowner = 'vtpm_owner'::regrole"), 1);
}

/* A database with reports before 0011 keeps every one of them, ids and all. */
static void
test_migration_moves_existing_reports(void **state)
{
    char dsn[512], err[1024], dir[300], out[256];
    char *mk[] = { (char *)"mkdir", (char *)"-p", dir, NULL };
    unsigned int applied = 0;
    long long before, max_id, next;
    PGconn *conn;

    (void)state;
    vtpm_strfmt(dir, sizeof(dir), "%s/upto0010", pg.dir);
    assert_int_equal(vtpm_test_spawn(mk, NULL, 0), 0);
    for (int i = 1; i <= 10; i++) {
        char cmd[1200];
        char *sh[] = { (char *)"sh", (char *)"-c", cmd, NULL };

        vtpm_strfmt(cmd, sizeof(cmd), "for f in '%s'/%04d_*.sql; do [ ! -e \"$f\" ] || cp \"$f\" '%s'/; done",
                    vtpm_test_migrations_dir(), i, dir);
        assert_int_equal(vtpm_test_spawn(sh, NULL, 0), 0);
    }
    assert_int_equal(vtpm_test_pg_create_db(&pg, "vtpm_before", dsn, sizeof(dsn)), 0);
    conn = vtpm_test_pg_connect(dsn);
    if (vtpm_migrate_apply(conn, dir, &applied, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    for (int i = 0; i < 6; i++)
        publish(conn, i % 2 ? "old-a" : "old-b", i % 4 == 0);
    sql_ok(conn, "UPDATE vtpm.reports SET reported_at = reported_at - interval '3 days' "
                 "WHERE id % 3 = 0");
    sql_ok(conn, "UPDATE vtpm.reports SET reported_at = reported_at - interval '40 days' "
                 "WHERE id = 1");
    before = number(conn, "SELECT count(*) FROM vtpm.reports");
    max_id = number(conn, "SELECT max(id) FROM vtpm.reports");
    vtpm_test_pg_answer(conn, "SELECT md5(string_agg(r::text, ',' ORDER BY id)) FROM vtpm.reports r", out,
             sizeof(out));
    if (vtpm_migrate_apply(conn, vtpm_test_migrations_dir(), &applied, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    assert_int_equal(number(conn, "SELECT count(*) FROM vtpm.reports"), before);
    {
        char again[256];

        vtpm_test_pg_answer(conn, "SELECT md5(string_agg(r::text, ',' ORDER BY id)) FROM vtpm.reports r",
                 again, sizeof(again));
        assert_string_equal(again, out);
    }
    assert_int_equal(number(conn, "SELECT count(*) FROM vtpm.reports_routine_default"), 0);
    next = publish(conn, "old-a", true);
    assert_true(next > max_id);
    PQfinish(conn);
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
        cmocka_unit_test(test_reports_land_in_their_partition),
        cmocka_unit_test(test_purge_drops_whole_days_and_keeps_changes),
        cmocka_unit_test(test_publish_deletes_where_purge_drops_no_day),
        cmocka_unit_test(test_short_retention_never_drops_today),
        cmocka_unit_test(test_provider_delete_cascades_into_every_partition),
        cmocka_unit_test(test_only_the_owner_prunes),
        cmocka_unit_test(test_migration_moves_existing_reports),
    };

    return cmocka_run_group_tests_name("retention", tests, group_setup, group_teardown);
}
