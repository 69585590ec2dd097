/* SPDX-License-Identifier: Apache-2.0 */
/* Reporters and the scheduler's cache across a failover to a promoted standby, with synchronous and asynchronous replication. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <vtpm/inventory.h>

#include "clock.h"
#include "migrate.h"
#include "pg_fixture.h"
#include "publish_pg.h"
#include "report_fixture.h"
#include "require.h"
#include "run.h"
#include "util.h"

/*
 * tests/fixtures/pg-standby.sh starts a primary and a streaming standby on
 * 127.0.0.1. Reporters (vtpm_run(), the retrying run loop of `vtpm-reporter
 * run`, one login per host) publish round after round through multi-host
 * DSNs that name both servers, half of them the standby first; a
 * libvtpm-inventory cache follows through such a DSN too. None of the DSNs
 * says target_session_attrs: the clients ask for a server that accepts
 * writes by themselves. Then the primary crashes and the standby is
 * promoted.
 */

#define HOSTS 16
#define PASSWORD "failover-test"
#define ACKS_MAX 4096
/* Any wait of this test that takes longer has failed. */
#define WAIT_MAX_S 40.0

static char dir[64];
static char ports[2][16];              /* primary, standby */
static char primary_dsn[512];          /* superuser over the primary's socket, database vtpm */
static char standby_dsn[512];
static char lock_path[128];
static char reporter_dsn[HOSTS][512];
static char reader_dsn[512];

/* ---- the pair ---- */

static int
pair(const char *cmd, const char *mode, char *out, size_t size)
{
    char script[1024];
    const char *root = getenv("VTPM_SOURCE_ROOT");
    char *argv[] = { script, (char *)cmd, dir, (char *)mode, NULL };

    vtpm_strfmt(script, sizeof(script), "%s/tests/fixtures/pg-standby.sh", root ? root : ".");
    return vtpm_test_spawn(argv, out, (unsigned int)size);
}

static PGconn *
connect_or_fail(const char *dsn)
{
    return vtpm_test_pg_connect(dsn);
}

static void
sql_on(const char *dsn, const char *sql)
{
    PGconn *conn = connect_or_fail(dsn);
    char err[512];
    char *v = vtpm_test_pg_value(conn, sql, err, sizeof(err));

    PQfinish(conn);
    if (!v)
        fail_msg("%s: %s", sql, err);
    free(v);
}

/* The first value of @sql on @dsn as a number. */
static long long
number_on(const char *dsn, const char *sql)
{
    PGconn *conn = connect_or_fail(dsn);
    char err[512];
    char *v = vtpm_test_pg_value(conn, sql, err, sizeof(err));
    long long n;

    PQfinish(conn);
    if (!v) {
        fail_msg("%s: %s", sql, err);
        return -1;
    }
    n = strtoll(v, NULL, 10);
    free(v);
    return n;
}

static void
host_name(char *buf, size_t size, int h)
{
    vtpm_strfmt(buf, size, "fo-host-%02d", h);
}

static void
host_uuid(char *buf, size_t size, int h)
{
    vtpm_strfmt(buf, size, "0f0f0f0f-0000-4000-8000-0000000000%02d", h);
}

/*
 * Waits until the standby has replayed everything the primary wrote so far:
 * libpq tries the next server of a DSN when one does not answer or is a
 * standby, not when one refuses the login, which a standby does until it
 * has replayed the login's creation.
 */
static void
standby_catch_up(void)
{
    PGconn *conn = connect_or_fail(primary_dsn);
    char err[512], sql[256];
    char *lsn = vtpm_test_pg_value(conn, "SELECT pg_current_wal_lsn()", err, sizeof(err));
    double deadline = vtpm_clock_now() + WAIT_MAX_S;

    PQfinish(conn);
    if (!lsn) {
        fail_msg("cannot read the primary's WAL position: %s", err);
        return;
    }
    vtpm_strfmt(sql, sizeof(sql), "SELECT (pg_last_wal_replay_lsn() >= '%s')::int", lsn);
    free(lsn);
    while (number_on(standby_dsn, sql) != 1) {
        if (vtpm_clock_now() > deadline)
            fail_msg("the standby did not replay the setup within %.0f s", WAIT_MAX_S);
        vtpm_clock_sleep(0.05);
    }
}

/* Starts the pair, migrates the primary, binds one login per host and a reader. */
static void
pair_start(const char *mode)
{
    char tmpl[] = "/tmp/vtpm-fo-XXXXXX";
    char out[512], sql[512], host[32], uuid[40], err[1024];
    unsigned int applied = 0;
    PGconn *conn;

    if (!mkdtemp(tmpl) || chmod(tmpl, 0755) < 0)
        fail_msg("cannot create a temporary folder: %s", strerror(errno));
    vtpm_strfmt(dir, sizeof(dir), "%s", tmpl);
    vtpm_strfmt(lock_path, sizeof(lock_path), "%s/reporter.lock", dir);
    if (pair("start", mode, out, sizeof(out)) != 0 ||
        sscanf(out, "primary %15s standby %15s", ports[0], ports[1]) != 2)
        fail_msg("cannot start a primary and a standby (scripts/setup.sh installs "
                 "PostgreSQL): %s", out);
    vtpm_strfmt(primary_dsn, sizeof(primary_dsn), "host=%s/primary/run port=%s user=postgres "
                "dbname=postgres", dir, ports[0]);
    sql_on(primary_dsn, "CREATE DATABASE vtpm");
    vtpm_strfmt(primary_dsn, sizeof(primary_dsn), "host=%s/primary/run port=%s user=postgres "
                "dbname=vtpm", dir, ports[0]);
    vtpm_strfmt(standby_dsn, sizeof(standby_dsn), "host=%s/standby/run port=%s user=postgres "
                "dbname=vtpm", dir, ports[1]);
    conn = connect_or_fail(primary_dsn);
    if (vtpm_migrate_apply(conn, vtpm_test_migrations_dir(), &applied, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    PQfinish(conn);
    for (int h = 0; h < HOSTS; h++) {
        host_name(host, sizeof(host), h);
        host_uuid(uuid, sizeof(uuid), h);
        vtpm_strfmt(sql, sizeof(sql), "SELECT vtpm.bind_reporter('fo_rep_%02d', '%s', '%s', '%s')",
                    h, host, PASSWORD, uuid);
        sql_on(primary_dsn, sql);
        /* Half the reporters name the standby first: only a server that
         * accepts writes will do, wherever it is in the list. */
        vtpm_strfmt(reporter_dsn[h], sizeof(reporter_dsn[h]),
                    "host=127.0.0.1,127.0.0.1 port=%s,%s dbname=vtpm user=fo_rep_%02d "
                    "password=%s connect_timeout=10", ports[h % 2], ports[1 - h % 2], h,
                    PASSWORD);
    }
    sql_on(primary_dsn, "CREATE ROLE fo_reader LOGIN IN ROLE vtpm_reader PASSWORD '" PASSWORD "'");
    vtpm_strfmt(reader_dsn, sizeof(reader_dsn),
                "host=127.0.0.1,127.0.0.1 port=%s,%s dbname=vtpm user=fo_reader password=%s "
                "connect_timeout=10", ports[1], ports[0], PASSWORD);
    standby_catch_up();
}

static void
pair_destroy(void)
{
    char out[512];
    char *rm[] = { (char *)"rm", (char *)"-rf", dir, NULL };

    if (!dir[0])
        return;
    (void)pair("stop", NULL, out, sizeof(out));
    (void)vtpm_test_spawn(rm, NULL, 0);
    dir[0] = '\0';
}

/* ---- the reporters: one thread publishing every host, round after round ---- */

typedef struct {
    long long seq;
    bool started_after_crash;    /* so it can only have reached the new primary */
} ack_t;

static struct {
    pthread_t thread;
    atomic_bool stop;
    atomic_bool crashed;         /* the old primary is gone */
    atomic_int rounds_started;
    atomic_int rounds_done;
    atomic_uint retries;         /* pauses between attempts, over all runs */
    /* the reporter thread's own until it is joined */
    vtpm_traitset truth[HOSTS];  /* what each host is now */
    int worst_exit;              /* 0 or 3 unless a run failed */
    ack_t acks[ACKS_MAX];
    atomic_size_t n_acks;        /* written by the reporter thread only */
} rep;

static void
backoff_sleep(double seconds)
{
    atomic_fetch_add(&rep.retries, 1);
    vtpm_clock_sleep(seconds);
}

/* Host @h's traits in round @r: half the hosts change each round. */
static vtpm_traitset
traits_in_round(int h, int r, vtpm_traitset before)
{
    if (r > 0 && (h + r) % 2 != 0)
        return before;
    return (vtpm_traitset)((unsigned int)(h * 37 + r * 11 + 5) % 127 + 1);
}

static void
publish_one(int h, int r, long long seq)
{
    char host[32], facts[64];
    vtpm_conf conf;
    vtpm_run_options opts;
    vtpm_report report;
    vtpm_publish_result res;
    bool after_crash = atomic_load(&rep.crashed);
    int code;

    rep.truth[h] = traits_in_round(h, r, rep.truth[h]);
    host_name(host, sizeof(host), h);
    vtpm_test_report_init(&report, host, rep.truth[h]);
    vtpm_strfmt(facts, sizeof(facts), "{\"seq\": %lld}", seq);
    report.facts_json = facts;
    memset(&conf, 0, sizeof(conf));
    conf.inventory = VTPM_INVENTORY_POSTGRES;
    conf.postgres_dsn = reporter_dsn[h];
    conf.retries = 40;
    conf.lock_file = lock_path;
    memset(&opts, 0, sizeof(opts));
    opts.no_delay = true;
    opts.backoff_initial = 0.1;
    opts.backoff_max = 0.4;
    opts.sleep_fn = backoff_sleep;
    code = vtpm_run(&conf, &report, &opts, &res);
    if (code == VTPM_EXIT_OK || code == VTPM_EXIT_UNCHANGED) {
        size_t n = atomic_load(&rep.n_acks);

        if (n < ACKS_MAX) {
            rep.acks[n] = (ack_t){ .seq = seq, .started_after_crash = after_crash };
            atomic_store(&rep.n_acks, n + 1);
        }
    } else if (rep.worst_exit == 0 || rep.worst_exit == VTPM_EXIT_UNCHANGED) {
        rep.worst_exit = code;
        fprintf(stderr, "# run of %s ended %d: %s\n", host, code, res.message);
    }
}

static void *
reporters_main(void *arg)
{
    long long seq = 0;

    (void)arg;
    for (int r = 0; !atomic_load(&rep.stop); r++) {
        atomic_fetch_add(&rep.rounds_started, 1);
        for (int h = 0; h < HOSTS; h++)
            publish_one(h, r, ++seq);
        atomic_fetch_add(&rep.rounds_done, 1);
    }
    return NULL;
}

/* Keeps the cache refreshed until @n rounds are done. */
static void
wait_rounds(vtpm_inventory *inv, int n)
{
    double deadline = vtpm_clock_now() + WAIT_MAX_S;

    while (atomic_load(&rep.rounds_done) < n) {
        if (vtpm_clock_now() > deadline)
            fail_msg("the reporters did not finish round %d within %.0f s", n, WAIT_MAX_S);
        (void)vtpm_inventory_refresh(inv, 50, NULL);
    }
}

/* ---- the checks ---- */

/* Whether the cache holds every host with its true traits and the database's generation. */
static bool
cache_is_truth(vtpm_inventory *inv, const long long *generations)
{
    for (int h = 0; h < HOSTS; h++) {
        char text[40];
        vtpm_uuid uuid;
        vtpm_traitset bits;
        int64_t gen;

        host_uuid(text, sizeof(text), h);
        if (vtpm_uuid_parse(text, &uuid, NULL) != VTPM_OK ||
            !vtpm_inventory_lookup(inv, &uuid, &bits, &gen) || bits != rep.truth[h] ||
            gen != generations[h])
            return false;
    }
    return true;
}

/* The new primary holds every host's true traits; their generations into @generations. */
static void
assert_database_is_truth(long long *generations)
{
    for (int h = 0; h < HOSTS; h++) {
        char host[32], sql[256];

        host_name(host, sizeof(host), h);
        vtpm_strfmt(sql, sizeof(sql), "SELECT tpm_bits FROM vtpm.resource_providers "
                    "WHERE name = '%s'", host);
        if (number_on(standby_dsn, sql) != (long long)rep.truth[h])
            fail_msg("%s: the database has traits %lld, the host has %u", host,
                     number_on(standby_dsn, sql), (unsigned int)rep.truth[h]);
        vtpm_strfmt(sql, sizeof(sql), "SELECT generation FROM vtpm.resource_providers "
                    "WHERE name = '%s'", host);
        generations[h] = number_on(standby_dsn, sql);
    }
}

/* How many acknowledged reports the new primary lacks; *@after: of them, published after the crash. */
static long long
acknowledged_but_missing(long long *after)
{
    char *list = malloc(ACKS_MAX * 24 + 64);
    size_t o = 0;
    long long missing = 0;
    PGconn *conn = connect_or_fail(standby_dsn);
    PGresult *res;

    assert_non_null(list);
    o += (size_t)snprintf(list, 8, "{");
    for (size_t i = 0; i < atomic_load(&rep.n_acks); i++)
        o += (size_t)snprintf(list + o, 24, "%s%lld", i ? "," : "", rep.acks[i].seq);
    snprintf(list + o, 8, "}");
    {
        const char *values[1] = { list };

        res = PQexecParams(conn,
                           "SELECT s FROM unnest($1::bigint[]) AS s WHERE NOT EXISTS "
                           "(SELECT 1 FROM vtpm.reports r WHERE (r.facts ->> 'seq')::bigint = s)",
                           1, NULL, values, NULL, NULL, 0);
    }
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("cannot compare the acknowledged reports: %s", PQerrorMessage(conn));
    *after = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        long long seq = strtoll(PQgetvalue(res, i, 0), NULL, 10);

        missing++;
        for (size_t a = 0; a < atomic_load(&rep.n_acks); a++) {
            if (rep.acks[a].seq == seq && rep.acks[a].started_after_crash)
                (*after)++;
        }
    }
    PQclear(res);
    PQfinish(conn);
    free(list);
    return missing;
}

/*
 * Cuts the standby off its primary without stopping either (as a slow link
 * or a lagging standby would): the standby forgets where its primary is.
 * What the primary acknowledges from now on reaches no standby, which is
 * what asynchronous replication risks at a crash.
 */
static void
standby_cut_off(void)
{
    double deadline = vtpm_clock_now() + WAIT_MAX_S;

    sql_on(standby_dsn, "ALTER SYSTEM SET primary_conninfo = ''");
    sql_on(standby_dsn, "SELECT pg_reload_conf()");
    while (number_on(primary_dsn, "SELECT count(*) FROM pg_stat_replication") != 0) {
        if (vtpm_clock_now() > deadline)
            fail_msg("the standby still streams %.0f s after its walsender ended", WAIT_MAX_S);
        vtpm_clock_sleep(0.05);
    }
}

/* ---- the failover, in either mode ---- */

static void
failover_case(bool sync)
{
    long long generations[HOSTS], missing, missing_after;
    size_t acks_at_cut, acks_at_crash;
    vtpm_inventory *inv;
    vtpm_error err;
    int promoted_at;
    double deadline;
    char out[512];

    pair_start(sync ? "sync" : "async");
    memset(&rep, 0, sizeof(rep));
    inv = vtpm_inventory_open(reader_dsn, 0, &err);
    if (!inv)
        fail_msg("cannot open the cache: %s", err.message);
    assert_int_equal(pthread_create(&rep.thread, NULL, reporters_main, NULL), 0);
    wait_rounds(inv, 2);
    /* The standby falls behind for a while: an asynchronous primary goes on
     * acknowledging reports, a synchronous one holds every commit. */
    standby_cut_off();
    /* A report whose commit the standby confirmed just before the cut may
     * still be on its way back to its reporter: let those arrive first. */
    deadline = vtpm_clock_now() + 0.3;
    while (vtpm_clock_now() < deadline)
        (void)vtpm_inventory_refresh(inv, 50, NULL);
    acks_at_cut = atomic_load(&rep.n_acks);
    deadline = vtpm_clock_now() + 1.5;
    while (vtpm_clock_now() < deadline)
        (void)vtpm_inventory_refresh(inv, 50, NULL);
    acks_at_crash = atomic_load(&rep.n_acks);

    if (pair("crash-primary", NULL, out, sizeof(out)) != 0)
        fail_msg("cannot crash the primary: %s", out);
    atomic_store(&rep.crashed, true);
    /* Reporters retry meanwhile; the cache answers from memory. */
    deadline = vtpm_clock_now() + 1.0;
    while (vtpm_clock_now() < deadline)
        (void)vtpm_inventory_refresh(inv, 50, NULL);
    if (pair("promote", NULL, out, sizeof(out)) != 0)
        fail_msg("cannot promote the standby: %s", out);

    /* One more round, started after the promotion, then stop. */
    promoted_at = atomic_load(&rep.rounds_started);
    wait_rounds(inv, promoted_at + 1);
    atomic_store(&rep.stop, true);
    wait_rounds(inv, atomic_load(&rep.rounds_started));
    assert_int_equal(pthread_join(rep.thread, NULL), 0);

    /* Every run ended published: the ones caught by the failover retried onto the new primary. */
    if (rep.worst_exit != 0 && rep.worst_exit != VTPM_EXIT_UNCHANGED)
        fail_msg("a run ended with exit status %d", rep.worst_exit);
    assert_true(atomic_load(&rep.retries) > 0);
    assert_database_is_truth(generations);

    missing = acknowledged_but_missing(&missing_after);
    fprintf(stderr, "# %s: %zu reports acknowledged, %zu of them while the standby was cut "
            "off, %lld not on the new primary, %u pauses between attempts\n", sync ? "sync" : "async",
            atomic_load(&rep.n_acks), acks_at_crash - acks_at_cut, missing,
            atomic_load(&rep.retries));
    assert_int_equal(missing_after, 0);
    if (sync) {
        assert_int_equal(acks_at_crash, acks_at_cut);
        assert_int_equal(missing, 0);
    } else {
        /* What the standby never saw is lost, and was acknowledged. */
        assert_true(acks_at_crash > acks_at_cut);
        assert_true(missing > 0);
    }

    /* The cache reconnected to the new primary, reloaded, and agrees. */
    deadline = vtpm_clock_now() + WAIT_MAX_S;
    while (!cache_is_truth(inv, generations)) {
        if (vtpm_clock_now() > deadline)
            fail_msg("the cache does not hold the truth %.0f s after the last round", WAIT_MAX_S);
        (void)vtpm_inventory_refresh(inv, 100, NULL);
    }
    assert_true(vtpm_inventory_counter(inv, VTPM_INVENTORY_RECONNECTS) >= 1);
    assert_true(vtpm_inventory_counter(inv, VTPM_INVENTORY_RELOADS) >= 2);
    assert_int_equal(vtpm_inventory_size(inv), HOSTS);
    vtpm_inventory_close(inv);
}

/* Synchronous: nothing is acknowledged while the standby is away, and every report the reporters were told was stored is on the new primary. */
static void
test_sync_failover_loses_no_acknowledged_report(void **state)
{
    (void)state;
    failover_case(true);
}

/* Asynchronous: acknowledged reports the standby never received are lost; the next round republishes them. */
static void
test_async_failover_loses_the_unreplicated_and_the_next_round_restores_them(void **state)
{
    (void)state;
    failover_case(false);
}

/* While no server accepts writes, a publish is unreachable (retried), not refused. */
static void
test_publish_without_a_primary_is_unreachable(void **state)
{
    vtpm_publish_result res;
    vtpm_report r;
    char out[512];

    (void)state;
    pair_start("async");
    if (pair("crash-primary", NULL, out, sizeof(out)) != 0)
        fail_msg("cannot crash the primary: %s", out);
    vtpm_test_report_init(&r, "fo-host-00", 0);
    assert_int_equal(vtpm_pg_publish(reporter_dsn[0], &r, &res), VTPM_PUBLISH_UNREACHABLE);
    assert_int_equal(vtpm_pg_publish(reporter_dsn[1], &r, &res), VTPM_PUBLISH_UNREACHABLE);
    if (!strstr(res.message, "read-only") && !strstr(res.message, "hot standby"))
        fail_msg("the message does not say why the standby was passed over: %s", res.message);
    if (pair("promote", NULL, out, sizeof(out)) != 0)
        fail_msg("cannot promote the standby: %s", out);
    assert_int_equal(vtpm_pg_publish(reporter_dsn[0], &r, &res), VTPM_PUBLISH_UNCHANGED);
}

/* vtpm-inventory: what writes goes to the primary, wherever it is listed; metrics may read a standby. */
static void
test_inventory_tool_writes_to_the_primary(void **state)
{
    char exe[1024], dsn[512], out[4096];
    const char *build = getenv("VTPM_BUILD_ROOT");
    char *set[] = { exe, (char *)"--dsn", dsn, (char *)"set-heartbeat", (char *)"120", NULL };
    char *metrics[] = { exe, (char *)"--dsn", dsn, (char *)"metrics", NULL };

    (void)state;
    pair_start("async");
    sql_on(primary_dsn, "CREATE ROLE fo_admin LOGIN IN ROLE vtpm_owner PASSWORD '" PASSWORD "'");
    standby_catch_up();
    vtpm_strfmt(exe, sizeof(exe), "%s/sql/vtpm-inventory/vtpm-inventory", build ? build : ".");
    vtpm_strfmt(dsn, sizeof(dsn), "host=127.0.0.1,127.0.0.1 port=%s,%s dbname=vtpm user=fo_admin "
                "password=%s", ports[1], ports[0], PASSWORD);
    if (vtpm_test_spawn(set, out, sizeof(out)) != 0)
        fail_msg("set-heartbeat through the standby first: %s", out);
    assert_int_equal(number_on(primary_dsn, "SELECT extract(epoch FROM vtpm.stale_after())::int"), 780);
    /* The standby alone: metrics answer, with what it has replayed. */
    standby_catch_up();
    vtpm_strfmt(dsn, sizeof(dsn), "host=127.0.0.1 port=%s dbname=vtpm user=fo_reader password=%s",
                ports[1], PASSWORD);
    if (vtpm_test_spawn(metrics, out, sizeof(out)) != 0)
        fail_msg("metrics from the standby: %s", out);
    assert_non_null(strstr(out, "vtpm_inventory_stale_after_seconds 780"));
}

static int
case_teardown(void **state)
{
    (void)state;
    if (rep.thread && !atomic_load(&rep.stop)) {
        atomic_store(&rep.stop, true);
        pthread_join(rep.thread, NULL);
    }
    memset(&rep, 0, sizeof(rep));
    pair_destroy();
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_publish_without_a_primary_is_unreachable, case_teardown),
        cmocka_unit_test_teardown(test_inventory_tool_writes_to_the_primary, case_teardown),
        cmocka_unit_test_teardown(test_sync_failover_loses_no_acknowledged_report, case_teardown),
        cmocka_unit_test_teardown(
            test_async_failover_loses_the_unreplicated_and_the_next_round_restores_them,
            case_teardown),
    };

    vtpm_test_require_program("/usr/lib/postgresql/15/bin/pg_basebackup", "postgresql-15");
    return cmocka_run_group_tests_name("failover", tests, NULL, NULL);
}
