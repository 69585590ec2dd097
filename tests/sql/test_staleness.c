/* SPDX-License-Identifier: Apache-2.0 */
/* Staleness from the heartbeat (migration 0010): the threshold, set-heartbeat, who may change it. */
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

static void
sql_ok(const char *sql)
{
    char out[256];

    vtpm_test_pg_answer(admin, sql, out, sizeof(out));
    if (strncmp(out, "ERROR:", 6) == 0)
        fail_msg("%s: %s", sql, out);
}

/* Whether vtpm.hosts shows @host as stale once its last report is @ago old. */
static bool
stale_after_ago(const char *host, const char *ago)
{
    char sql[512], out[64];

    vtpm_strfmt(sql, sizeof(sql),
                "UPDATE vtpm.resource_providers SET last_report_at = now() - interval '%s' "
                "WHERE name = '%s'", ago, host);
    sql_ok(sql);
    vtpm_strfmt(sql, sizeof(sql), "SELECT stale FROM vtpm.hosts WHERE host = '%s'", host);
    vtpm_test_pg_answer(admin, sql, out, sizeof(out));
    if (strcmp(out, "t") != 0 && strcmp(out, "f") != 0)
        fail_msg("stale of %s: '%s'", host, out);
    return strcmp(out, "t") == 0;
}

/* Runs vtpm-inventory with @args (at most 4) on the test database; its status, output in @out. */
static int
inventory_cli(char *out, size_t size, const char *a1, const char *a2, const char *a3,
              const char *a4)
{
    char exe[1024];
    const char *build = getenv("VTPM_BUILD_ROOT");
    char *argv[] = { exe, (char *)"--dsn", db_dsn, (char *)a1, (char *)a2, (char *)a3,
                     (char *)a4, NULL };

    vtpm_strfmt(exe, sizeof(exe), "%s/sql/vtpm-inventory/vtpm-inventory", build ? build : ".");
    return vtpm_test_spawn(argv, out, (unsigned int)size);
}

static void
publish_host(const char *host)
{
    char sql[1024];

    vtpm_strfmt(sql, sizeof(sql),
                "SELECT status FROM vtpm.publish('%s', NULL, false, NULL, "
                "(SELECT jsonb_object_agg(t.name, jsonb_build_object('present', false, "
                "'code', 'x', 'reason', 'x')) FROM vtpm.traits t WHERE t.bit IS NOT NULL), '{}')",
                host);
    sql_ok(sql);
}

/* Default: a heartbeat of 300 s plus 11 minutes of grace; a host that never reported is stale. */
static void
test_host_is_stale_once_it_missed_its_heartbeat_and_grace(void **state)
{
    char out[64];

    (void)state;
    vtpm_test_pg_answer(admin, "SELECT extract(epoch FROM vtpm.stale_after())::int", out, sizeof(out));
    assert_string_equal(out, "960");
    vtpm_test_pg_answer(admin, "SELECT count(*) FROM vtpm.settings WHERE name = 'stale_after'", out, sizeof(out));
    assert_string_equal(out, "0");
    publish_host("beat-a");
    assert_false(stale_after_ago("beat-a", "0 seconds"));
    /* Two missed heartbeats of a host whose timer runs every 10 minutes: not yet. */
    assert_false(stale_after_ago("beat-a", "15 minutes 50 seconds"));
    assert_true(stale_after_ago("beat-a", "16 minutes 10 seconds"));
    sql_ok("UPDATE vtpm.resource_providers SET last_report_at = NULL WHERE name = 'beat-a'");
    vtpm_test_pg_answer(admin, "SELECT stale FROM vtpm.hosts WHERE host = 'beat-a'", out, sizeof(out));
    assert_string_equal(out, "t");
}

static void
test_set_heartbeat_moves_the_threshold(void **state)
{
    char out[1024];

    (void)state;
    publish_host("beat-b");
    assert_int_equal(inventory_cli(out, sizeof(out), "set-heartbeat", "60", "--grace", "30"), 0);
    assert_string_equal(out, "heartbeat 60 s: a host is stale after 90 s without a report\n");
    assert_false(stale_after_ago("beat-b", "80 seconds"));
    assert_true(stale_after_ago("beat-b", "100 seconds"));
    /* Without --grace, the grace stays. */
    assert_int_equal(inventory_cli(out, sizeof(out), "set-heartbeat", "3600", NULL, NULL), 0);
    assert_string_equal(out, "heartbeat 3600 s: a host is stale after 3630 s without a report\n");
    assert_false(stale_after_ago("beat-b", "1 hour"));
    assert_true(stale_after_ago("beat-b", "1 hour 31 seconds"));
    /* 0: reporters publish every run; the grace alone is left. */
    assert_int_equal(inventory_cli(out, sizeof(out), "set-heartbeat", "0", "--grace", "660"), 0);
    assert_true(stale_after_ago("beat-b", "11 minutes 1 second"));
    assert_int_equal(inventory_cli(out, sizeof(out), "set-heartbeat", "300", NULL, NULL), 0);
    vtpm_test_pg_answer(admin, "SELECT extract(epoch FROM vtpm.stale_after())::int", out, sizeof(out));
    assert_string_equal(out, "960");
}

/* Nonsense is refused by the command before it connects, and by the database. */
static void
test_set_heartbeat_refuses_what_is_not_a_duration(void **state)
{
    static const char *const bad[] = { "-5", "86401", "1x", "", " 60", "0x10",
                                       "99999999999999999999" };
    char out[1024];

    (void)state;
    for (size_t i = 0; i < VTPM_N_ELEMENTS(bad); i++) {
        if (inventory_cli(out, sizeof(out), "set-heartbeat", bad[i], NULL, NULL) != 2)
            fail_msg("set-heartbeat '%s' was not a usage error: %s", bad[i], out);
        if (inventory_cli(out, sizeof(out), "set-heartbeat", "60", "--grace", bad[i]) != 2)
            fail_msg("--grace '%s' was not a usage error: %s", bad[i], out);
    }
    assert_int_equal(inventory_cli(out, sizeof(out), "set-heartbeat", NULL, NULL, NULL), 2);
    vtpm_test_pg_answer(admin, "SELECT vtpm.set_heartbeat(-1)", out, sizeof(out));
    assert_string_equal(out, "ERROR:22023");
    vtpm_test_pg_answer(admin, "SELECT vtpm.set_heartbeat(NULL)", out, sizeof(out));
    assert_string_equal(out, "ERROR:22023");
    vtpm_test_pg_answer(admin, "SELECT vtpm.set_heartbeat(60, 86401)", out, sizeof(out));
    assert_string_equal(out, "ERROR:22023");
    /* Even by hand, the owner cannot store a negative duration. */
    vtpm_test_pg_answer(admin, "UPDATE vtpm.settings SET value = '-1 second' WHERE name = 'heartbeat_grace'",
             out, sizeof(out));
    assert_string_equal(out, "ERROR:23514");
    vtpm_test_pg_answer(admin, "SELECT extract(epoch FROM vtpm.stale_after())::int", out, sizeof(out));
    assert_string_equal(out, "960");
}

/* Readers see the threshold; neither they nor reporters may change it. */
static void
test_only_the_owner_changes_the_heartbeat(void **state)
{
    char dsn[512], out[256];
    PGconn *reader, *reporter;

    (void)state;
    sql_ok("CREATE ROLE beat_reader LOGIN IN ROLE vtpm_reader");
    sql_ok("SELECT vtpm.bind_reporter('beat_reporter', 'beat-c')");
    reader = vtpm_test_pg_connect(vtpm_test_pg_dsn(&pg, "vtpm_test", "beat_reader", dsn, sizeof(dsn)));
    reporter = vtpm_test_pg_connect(vtpm_test_pg_dsn(&pg, "vtpm_test", "beat_reporter", dsn,
                                                     sizeof(dsn)));
    vtpm_test_pg_answer(reader, "SELECT count(*) FROM vtpm.hosts WHERE stale IS NOT NULL", out, sizeof(out));
    assert_false(strncmp(out, "ERROR:", 6) == 0);
    vtpm_test_pg_answer(reader, "SELECT extract(epoch FROM vtpm.stale_after())::int", out, sizeof(out));
    assert_string_equal(out, "960");
    for (PGconn *c = reader; c; c = c == reader ? reporter : NULL) {
        vtpm_test_pg_answer(c, "SELECT vtpm.set_heartbeat(1)", out, sizeof(out));
        assert_string_equal(out, "ERROR:42501");
        vtpm_test_pg_answer(c, "UPDATE vtpm.settings SET value = '1 second' WHERE name = 'heartbeat'", out,
                 sizeof(out));
        assert_string_equal(out, "ERROR:42501");
    }
    vtpm_test_pg_answer(admin, "SELECT extract(epoch FROM vtpm.stale_after())::int", out, sizeof(out));
    assert_string_equal(out, "960");
    PQfinish(reader);
    PQfinish(reporter);
}

/* An operator's own stale_after from before 0010 stays the total threshold. */
static void
test_migration_keeps_an_operators_stale_after(void **state)
{
    char dsn[512], err[1024], dir[300], out[256];
    char *mk[] = { (char *)"mkdir", (char *)"-p", dir, NULL };
    unsigned int applied = 0;
    PGconn *conn;

    (void)state;
    vtpm_strfmt(dir, sizeof(dir), "%s/upto0008", pg.dir);
    assert_int_equal(vtpm_test_spawn(mk, NULL, 0), 0);
    for (int i = 1; i <= 8; i++) {
        char pattern[1024], cmd[1200];
        char *sh[] = { (char *)"sh", (char *)"-c", cmd, NULL };

        vtpm_strfmt(pattern, sizeof(pattern), "%s/%04d_*.sql", vtpm_test_migrations_dir(), i);
        vtpm_strfmt(cmd, sizeof(cmd), "cp %s '%s'/", pattern, dir);
        assert_int_equal(vtpm_test_spawn(sh, NULL, 0), 0);
    }
    assert_int_equal(vtpm_test_pg_create_db(&pg, "vtpm_old", dsn, sizeof(dsn)), 0);
    conn = vtpm_test_pg_connect(dsn);
    if (vtpm_migrate_apply(conn, dir, &applied, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    assert_int_equal(applied, 8);
    vtpm_test_pg_answer(conn, "UPDATE vtpm.settings SET value = '2 hours' WHERE name = 'stale_after'", out,
             sizeof(out));
    assert_string_equal(out, "");
    if (vtpm_migrate_apply(conn, vtpm_test_migrations_dir(), &applied, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    vtpm_test_pg_answer(conn, "SELECT extract(epoch FROM vtpm.stale_after())::int", out, sizeof(out));
    assert_string_equal(out, "7200");
    vtpm_test_pg_answer(conn, "SELECT extract(epoch FROM value)::int FROM vtpm.settings WHERE name = 'heartbeat'",
             out, sizeof(out));
    assert_string_equal(out, "300");
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
        cmocka_unit_test(test_host_is_stale_once_it_missed_its_heartbeat_and_grace),
        cmocka_unit_test(test_set_heartbeat_moves_the_threshold),
        cmocka_unit_test(test_set_heartbeat_refuses_what_is_not_a_duration),
        cmocka_unit_test(test_only_the_owner_changes_the_heartbeat),
        cmocka_unit_test(test_migration_keeps_an_operators_stale_after),
    };

    return cmocka_run_group_tests_name("staleness", tests, group_setup, group_teardown);
}
