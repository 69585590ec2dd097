/* SPDX-License-Identifier: Apache-2.0 */
/* `vtpm-inventory metrics` against a real PostgreSQL: the numbers, who may read them, promtool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pg_fixture.h"
#include "require.h"
#include "util.h"

static vtpm_test_pg pg;
static char db_dsn[512];
static char exe[1024];
static char out_path[] = "/tmp/vtpm-fleet-metrics-XXXXXX";

static void
sql_ok(PGconn *conn, const char *sql)
{
    char err[512];
    char *v = vtpm_test_pg_value(conn, sql, err, sizeof(err));

    if (!v)
        fail_msg("%s: %s", sql, err);
    free(v);
}

/* Runs `vtpm-inventory --dsn DSN-of-@login metrics @extra`; stdout into @out. */
static int
metrics_as(const char *login, const char *extra, char *out, unsigned int size)
{
    char dsn[512];
    char *argv[] = { exe, (char *)"--dsn", dsn, (char *)"metrics", (char *)extra, NULL };

    vtpm_test_pg_dsn(&pg, "vtpm_test", login, dsn, sizeof(dsn));
    if (!extra)
        argv[4] = NULL;
    return vtpm_test_spawn(argv, out, size);
}

/* The value of series @series in @text; fails the test when it is missing. */
static double
series(const char *text, const char *name)
{
    size_t n = strlen(name);

    for (const char *line = text; line; line = strchr(line, '\n')) {
        line += line != text;
        if (strncmp(line, name, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
    }
    fail_msg("no series %s in:\n%s", name, text);
    return -1;
}

static void
assert_promtool_accepts(const char *text)
{
    char out[4096];
    char *argv[] = { (char *)"sh", (char *)"-c", (char *)"promtool check metrics < \"$0\" 2>&1",
                     out_path, NULL };
    FILE *f = fopen(out_path, "w");

    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
    if (vtpm_test_spawn(argv, out, sizeof(out)) != 0)
        fail_msg("promtool check metrics refused:\n%s\n%s", out, text);
}

/*
 * A small fleet published through vtpm.publish() as the owner would:
 *   m1: every trait, then TPM 1.2 lost (two changed reports);
 *   m2: TPM 2.0 + CRB, twice (changed, unchanged);
 *   m3: TPM 2.0, then an inconclusive report;
 *   m4: TPM 2.0, two hours ago (stale, its report outside the interval);
 *   m5: created by bind-reporter --uuid, never reported (stale).
 */
static void
fleet_publish(PGconn *admin)
{
    sql_ok(admin,
        "CREATE FUNCTION pg_temp.t(bits integer) RETURNS jsonb LANGUAGE sql AS $$"
        " SELECT jsonb_object_agg(name, jsonb_build_object('present', bits & (1 << bit) <> 0,"
        "        'code', 'test', 'reason', 'test'))"
        "   FROM vtpm.traits WHERE bit IS NOT NULL $$");
    sql_ok(admin, "SELECT vtpm.publish('m1', NULL, false, NULL, pg_temp.t(127), NULL)");
    sql_ok(admin, "SELECT vtpm.publish('m1', NULL, false, NULL, pg_temp.t(126), NULL)");
    sql_ok(admin, "SELECT vtpm.publish('m2', NULL, false, NULL, pg_temp.t(10), NULL)");
    sql_ok(admin, "SELECT vtpm.publish('m2', NULL, false, NULL, pg_temp.t(10), NULL)");
    sql_ok(admin, "SELECT vtpm.publish('m3', NULL, false, NULL, pg_temp.t(2), NULL)");
    sql_ok(admin, "SELECT vtpm.publish('m3', NULL, true, 'libvirtd not answering', "
                  "pg_temp.t(0), NULL)");
    sql_ok(admin, "SELECT vtpm.publish('m4', NULL, false, NULL, pg_temp.t(2), NULL)");
    sql_ok(admin, "UPDATE vtpm.resource_providers SET last_report_at = now() - interval '2 hours'"
                  " WHERE name = 'm4'");
    sql_ok(admin, "UPDATE vtpm.reports SET reported_at = now() - interval '2 hours'"
                  " WHERE host = 'm4'");
    sql_ok(admin, "SELECT vtpm.bind_reporter('rep_m5', 'm5', NULL, "
                  "'0b6f6d1e-2a4c-4f7e-9a55-1c2d3e4f5a6b')");
    sql_ok(admin, "CREATE ROLE metrics_reader LOGIN IN ROLE vtpm_reader");
}

/* What a vtpm_reader login reads: each number from the fleet above. */
static void
test_fleet_metrics_count_the_fleet(void **state)
{
    static char out[16384];
    PGconn *admin = vtpm_test_pg_connect(db_dsn);
    static const struct {
        const char *trait;
        double hosts, added, removed;
    } traits[] = {
        { "COMPUTE_SECURITY_TPM_1_2", 0, 1, 1 },
        { "COMPUTE_SECURITY_TPM_2_0", 4, 3, 0 },
        { "COMPUTE_SECURITY_TPM_TIS", 1, 1, 0 },
        { "COMPUTE_SECURITY_TPM_CRB", 2, 2, 0 },
        { "COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER", 1, 1, 0 },
        { "COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST", 1, 1, 0 },
        { "COMPUTE_SECURITY_TPM_SECRET_SECURITY_DEPLOYMENT", 1, 1, 0 },
    };
    char name[256];
    double age;

    (void)state;
    fleet_publish(admin);
    PQfinish(admin);
    assert_int_equal(metrics_as("metrics_reader", NULL, out, sizeof(out)), 0);
    assert_promtool_accepts(out);
    assert_true(series(out, "vtpm_inventory_hosts") == 5);
    assert_true(series(out, "vtpm_inventory_stale_hosts") == 2);
    assert_true(series(out, "vtpm_inventory_inconclusive_hosts") == 1);
    assert_true(series(out, "vtpm_inventory_never_reported_hosts") == 1);
    age = series(out, "vtpm_inventory_oldest_report_age_seconds");
    assert_true(age >= 7200 && age < 7200 + 120);
    /* heartbeat 300 s + grace 660 s (migration 0010) */
    assert_true(series(out, "vtpm_inventory_stale_after_seconds") == 960);
    assert_true(series(out, "vtpm_inventory_interval_seconds") == 600);
    assert_true(series(out, "vtpm_inventory_interval_reports{status=\"changed\"}") == 4);
    assert_true(series(out, "vtpm_inventory_interval_reports{status=\"unchanged\"}") == 1);
    assert_true(series(out, "vtpm_inventory_interval_reports{status=\"inconclusive\"}") == 1);
    for (size_t i = 0; i < VTPM_N_ELEMENTS(traits); i++) {
        snprintf(name, sizeof(name), "vtpm_inventory_trait_hosts{trait=\"%s\"}", traits[i].trait);
        assert_true(series(out, name) == traits[i].hosts);
        snprintf(name, sizeof(name),
                 "vtpm_inventory_interval_trait_changes{trait=\"%s\",change=\"added\"}",
                 traits[i].trait);
        assert_true(series(out, name) == traits[i].added);
        snprintf(name, sizeof(name),
                 "vtpm_inventory_interval_trait_changes{trait=\"%s\",change=\"removed\"}",
                 traits[i].trait);
        assert_true(series(out, name) == traits[i].removed);
    }

    /* A shorter interval that the reports are older than counts none of them. */
    sleep(2);
    assert_int_equal(metrics_as("metrics_reader", "--interval=1", out, sizeof(out)), 0);
    assert_promtool_accepts(out);
    assert_true(series(out, "vtpm_inventory_interval_seconds") == 1);
    assert_true(series(out, "vtpm_inventory_interval_reports{status=\"changed\"}") == 0);
    assert_true(series(out,
        "vtpm_inventory_interval_trait_changes{trait=\"COMPUTE_SECURITY_TPM_1_2\",change=\"removed\"}") == 0);
    assert_true(series(out, "vtpm_inventory_hosts") == 5);
}

/* A reporter login reads no fleet metrics: refused, and nothing printed half. */
static void
test_fleet_metrics_refused_to_a_reporter(void **state)
{
    char out[4096];

    (void)state;
    assert_int_equal(metrics_as("rep_m5", NULL, out, sizeof(out)), 1);
    assert_string_equal(out, "");
}

/* An empty inventory (the hosts above deleted) is valid output, every gauge
 * 0; a bad interval is a usage error; no server is "unreachable". */
static void
test_fleet_metrics_empty_inventory_and_usage(void **state)
{
    static char out[16384];
    char dsn[512];
    char *argv[] = { exe, (char *)"--dsn", dsn, (char *)"metrics", NULL, NULL };
    static const char *const bad[] = { "--interval=0", "--interval=-5", "--interval=abc",
                                       "--interval=1e12", "--interval=nan", "--interval=" };
    PGconn *conn;

    (void)state;
    conn = vtpm_test_pg_connect(db_dsn);
    sql_ok(conn, "DELETE FROM vtpm.resource_providers");
    PQfinish(conn);
    vtpm_test_pg_dsn(&pg, "vtpm_test", NULL, dsn, sizeof(dsn));
    assert_int_equal(vtpm_test_spawn(argv, out, sizeof(out)), 0);
    assert_promtool_accepts(out);
    assert_true(series(out, "vtpm_inventory_hosts") == 0);
    assert_true(series(out, "vtpm_inventory_oldest_report_age_seconds") == 0);
    assert_true(series(out, "vtpm_inventory_trait_hosts{trait=\"COMPUTE_SECURITY_TPM_2_0\"}") == 0);

    for (size_t i = 0; i < VTPM_N_ELEMENTS(bad); i++) {
        argv[4] = (char *)bad[i];
        assert_int_equal(vtpm_test_spawn(argv, out, sizeof(out)), 2);
        assert_string_equal(out, "");
    }
    argv[2] = (char *)"host=/nonexistent port=1 connect_timeout=2";
    argv[4] = NULL;
    assert_int_equal(vtpm_test_spawn(argv, out, sizeof(out)), 5);
    assert_string_equal(out, "");
}

static int
setup(void **state)
{
    const char *build = getenv("VTPM_BUILD_ROOT");
    PGconn *admin = NULL;
    int fd;

    (void)state;
    vtpm_strfmt(exe, sizeof(exe), "%s/sql/vtpm-inventory/vtpm-inventory", build ? build : ".");
    if ((fd = mkstemp(out_path)) < 0)
        return -1;
    close(fd);
    if (vtpm_test_pg_start_inventory(&pg, "vtpm_test", db_dsn, sizeof(db_dsn), &admin) < 0)
        return -1;
    PQfinish(admin);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    vtpm_test_pg_destroy(&pg);
    unlink(out_path);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fleet_metrics_count_the_fleet),
        cmocka_unit_test(test_fleet_metrics_refused_to_a_reporter),
        cmocka_unit_test(test_fleet_metrics_empty_inventory_and_usage),
    };

    vtpm_test_require_program("promtool", "prometheus");
    return cmocka_run_group_tests(tests, setup, teardown);
}
