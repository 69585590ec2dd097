/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Deferred durability (migration 0013): a changed report commits without
 * waiting for its WAL, and the publisher counts it as stored only once
 * vtpm.flush() has waited for it. A synchronous standby that never answers
 * makes every wait for durability visible: a commit that waits never returns.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "host_keys.h"
#include "pg_fixture.h"
#include "publish_pg.h"
#include "report_fixture.h"
#include "util.h"

#define POOL_LOGIN "durable_pool"
#define POOL_PASSWORD "durable-pool-password"

/* A traits document in SQL: TPM 2.0 present, every other managed trait absent. */
#define TPM_2_0_TRAITS                                                                        \
    "(SELECT jsonb_object_agg(t.name, jsonb_build_object('present', t.name = "                 \
    "'COMPUTE_SECURITY_TPM_2_0', 'code', 'c', 'reason', 'r')) FROM vtpm.traits t "             \
    "WHERE t.bit IS NOT NULL)"

static vtpm_test_pg pg;
static char db_dsn[512];          /* superuser */
static char pool_dsn[512];        /* the shared publishing login */
static PGconn *admin;

static void
sql_ok(PGconn *conn, const char *sql)
{
    char err[512];
    char *v = vtpm_test_pg_value(conn, sql, err, sizeof(err));

    if (!v)
        fail_msg("%s: %s", sql, err);
    free(v);
}

static char *
value(PGconn *conn, const char *sql)
{
    char err[512];
    char *v = vtpm_test_pg_value(conn, sql, err, sizeof(err));

    if (!v)
        fail_msg("%s: %s", sql, err);
    return v;
}

static void
assert_value(PGconn *conn, const char *sql, const char *want)
{
    char *v = value(conn, sql);

    if (strcmp(v, want) != 0)
        fail_msg("%s: '%s', not '%s'", sql, v, want);
    free(v);
}

/* A synchronous standby that does not exist: every durable commit waits. */
static void
standby_required(bool on)
{
    sql_ok(admin, on ? "ALTER SYSTEM SET synchronous_standby_names = 'vtpm_absent_standby'"
                     : "ALTER SYSTEM RESET synchronous_standby_names");
    sql_ok(admin, "SELECT pg_reload_conf()");
    /* The reload reaches every backend before its next command; give the
     * postmaster's signal time to arrive at the walsenders and waiters. */
    usleep(300 * 1000);
}

/* Whether the query sent on @conn finishes within @ms; its result is dropped. */
static bool
finishes_within(PGconn *conn, int ms)
{
    struct pollfd p = { .fd = PQsocket(conn), .events = POLLIN };
    PGresult *res;

    for (;;) {
        if (!PQconsumeInput(conn))
            fail_msg("connection lost: %s", PQerrorMessage(conn));
        if (!PQisBusy(conn))
            break;
        if (poll(&p, 1, ms) <= 0)
            return false;
    }
    while ((res = PQgetResult(conn)))
        PQclear(res);
    return true;
}

/* @host's key, issued by the owner. */
static void
issue(const char *host, vtpm_host_key *key)
{
    char token[VTPM_HOST_KEY_TOKEN_LEN + 1], id[VTPM_HOST_KEY_ID_LEN + 1], err[512];

    if (vtpm_host_key_issue(admin, host, NULL, false, id, token, sizeof(token), err,
                            sizeof(err)) < 0)
        fail_msg("%s", err);
    assert_int_equal(vtpm_host_key_parse(token, key, err, sizeof(err)), 0);
}

/* Publishes @r on @conn, signed with @key unless it is NULL. */
static vtpm_publish_status
publish_on(PGconn *conn, const vtpm_host_key *key, const vtpm_report *r, vtpm_publish_result *res)
{
    return key ? vtpm_pg_publish_signed_conn(conn, key, r, res) : vtpm_pg_publish_conn(conn, r, res);
}

/* Publishes @r on @conn inside a transaction and returns the transaction's
 * synchronous_commit once the publish returned; the transaction is rolled back. */
static char *
commit_mode_of(PGconn *conn, const vtpm_host_key *key, const vtpm_report *r,
               vtpm_publish_status want)
{
    vtpm_publish_result res;
    char *mode;

    sql_ok(conn, "BEGIN");
    if (publish_on(conn, key, r, &res) != want)
        fail_msg("publish of '%s': %s", r->host, res.message);
    mode = value(conn, "SHOW synchronous_commit");
    sql_ok(conn, "ROLLBACK");
    return mode;
}

/*
 * Only a report that changed a trait commits without waiting; an unchanged
 * or inconclusive one commits as any transaction does, and so does every
 * publish of a caller that does not ask (the signatures of 0002 and 0009).
 */
static void
test_durable_deferred_only_for_a_change(void **state)
{
    PGconn *pool = vtpm_test_pg_connect(pool_dsn);
    vtpm_publish_result res;
    vtpm_host_key key;
    vtpm_report r;
    char *mode;

    (void)state;
    for (int signed_mode = 0; signed_mode < 2; signed_mode++) {
        PGconn *conn = signed_mode ? pool : admin;
        const char *host = signed_mode ? "dur-mode-signed" : "dur-mode-direct";
        vtpm_host_key *k = signed_mode ? &key : NULL;

        if (signed_mode)
            issue(host, &key);
        vtpm_test_report_init(&r, host, VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0));
        mode = commit_mode_of(conn, k, &r, VTPM_PUBLISH_CHANGED);
        assert_string_equal(mode, "off");
        free(mode);
        /* Rolled back: publish it for real, then the same report again.
         * (A signed report's sequence is its time in microseconds.) */
        usleep(2000);
        assert_int_equal(publish_on(conn, k, &r, &res), VTPM_PUBLISH_CHANGED);
        usleep(2000);
        mode = commit_mode_of(conn, k, &r, VTPM_PUBLISH_UNCHANGED);
        assert_string_equal(mode, "on");
        free(mode);
        r.inconclusive = true;
        vtpm_strfmt(r.inconclusive_reason, sizeof(r.inconclusive_reason), "libvirt is down");
        usleep(2000);
        mode = commit_mode_of(conn, k, &r, VTPM_PUBLISH_INCONCLUSIVE);
        assert_string_equal(mode, "on");
        free(mode);
    }
    vtpm_host_key_clear(&key);
    PQfinish(pool);

    /* Without p_durable: waits, as before 0013. */
    sql_ok(admin, "BEGIN");
    assert_value(admin, "SELECT status FROM vtpm.publish('dur-mode-old', NULL, false, NULL, "
                 TPM_2_0_TRAITS ", NULL)", "changed");
    assert_value(admin, "SHOW synchronous_commit", "on");
    sql_ok(admin, "ROLLBACK");
    /* p_durable must say which. */
    {
        static const char null_durable[] =
            "SELECT status FROM vtpm.publish('dur-mode-old', NULL, true, 'x', '{}', NULL, NULL)";
        char answer[256], err[512];

        assert_string_equal(vtpm_test_pg_answer(admin, null_durable, answer, sizeof(answer)),
                            "ERROR:22023");
        assert_null(vtpm_test_pg_value(admin, null_durable, err, sizeof(err)));
        assert_non_null(strstr(err, "durable must be true or false"));
    }
}

/*
 * The database side: with a synchronous standby required and absent, a
 * deferred changed publish returns at once, the flush after it waits, as
 * does a durable publish; when the requirement goes, both return.
 */
static void
test_durable_flush_waits_for_the_synchronous_standby(void **state)
{
    static const char traits[] = TPM_2_0_TRAITS;
    PGconn *a = vtpm_test_pg_connect(db_dsn), *b = vtpm_test_pg_connect(db_dsn);
    char sql[512];

    (void)state;
    standby_required(true);
    vtpm_strfmt(sql, sizeof(sql), "SELECT status FROM vtpm.publish('dur-sync', NULL, false, NULL, %s, "
                "NULL, false)", traits);
    assert_int_equal(PQsendQuery(a, sql), 1);
    if (!finishes_within(a, 10000))
        fail_msg("a deferred changed publish waited for the standby");
    assert_int_equal(PQsendQuery(a, "SELECT vtpm.flush()"), 1);
    vtpm_strfmt(sql, sizeof(sql), "SELECT status FROM vtpm.publish('dur-sync-2', NULL, false, NULL, %s, "
                "NULL)", traits);
    assert_int_equal(PQsendQuery(b, sql), 1);
    assert_false(finishes_within(a, 1500));
    assert_false(finishes_within(b, 100));
    /* The report is stored and visible while its flush waits. */
    assert_int_equal(vtpm_test_pg_number(admin, "SELECT count(*) FROM vtpm.resource_providers "
                                                "WHERE name = 'dur-sync' AND tpm_bits <> 0"), 1);
    standby_required(false);
    assert_true(finishes_within(a, 10000));
    assert_true(finishes_within(b, 10000));
    PQfinish(a);
    PQfinish(b);
}

/* Runs a publish of @host (TPM 2.0 when @tpm2) in a child that writes its
 * status and message to a pipe; returns the child, the pipe's end in *fd. */
static pid_t
publish_in_child(const char *dsn, const vtpm_host_key *key, const char *host, bool tpm2, int *fd)
{
    int fds[2];
    pid_t pid;

    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        vtpm_publish_result res;
        vtpm_report r;

        close(fds[0]);
        vtpm_test_report_init(&r, host, tpm2 ? VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0) : 0);
        res.status = vtpm_pg_publish_signed(dsn, key, &r, &res);
        if (write(fds[1], &res, sizeof(res)) != (ssize_t)sizeof(res))
            _exit(2);
        _exit(0);
    }
    close(fds[1]);
    *fd = fds[0];
    return pid;
}

/* The result the child on @fd sent within @ms, or false. */
static bool
child_result(int fd, int ms, vtpm_publish_result *res)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };

    memset(res, 0, sizeof(*res));
    if (poll(&p, 1, ms) <= 0)
        return false;
    return read(fd, res, sizeof(*res)) == (ssize_t)sizeof(*res);
}

static void
child_reap(pid_t pid, int fd)
{
    int st = 0;

    close(fd);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        continue;
}

/*
 * The publisher, both modes: a change is reported stored only once the
 * standby confirmed it, though it was visible before; an unchanged report
 * after it waits as a durable commit does.
 */
static void
test_durable_publisher_reports_a_change_once_it_is_stored(void **state)
{
    vtpm_host_key key;
    vtpm_publish_result res;
    int fd = -1;
    pid_t pid;

    (void)state;
    issue("dur-pub-signed", &key);
    for (int signed_mode = 0; signed_mode < 2; signed_mode++) {
        const char *host = signed_mode ? "dur-pub-signed" : "dur-pub-direct";
        char sql[256];

        standby_required(true);
        pid = publish_in_child(signed_mode ? pool_dsn : db_dsn, signed_mode ? &key : NULL, host,
                               true, &fd);
        if (child_result(fd, 1500, &res))
            fail_msg("'%s' counted as stored before the standby confirmed it: %s", host,
                     res.message);
        vtpm_strfmt(sql, sizeof(sql), "SELECT count(*) FROM vtpm.resource_providers "
                    "WHERE name = '%s' AND tpm_bits <> 0", host);
        assert_int_equal(vtpm_test_pg_number(admin, sql), 1);
        standby_required(false);
        if (!child_result(fd, 10000, &res))
            fail_msg("'%s': no result once the standby was no longer required", host);
        child_reap(pid, fd);
        assert_int_equal(res.status, VTPM_PUBLISH_CHANGED);
    }
    vtpm_host_key_clear(&key);
}

/*
 * A flush that fails (the server ends the session while it waits) leaves
 * the report uncounted: "unreachable", retried by the next attempt.
 */
static void
test_durable_failed_flush_is_not_counted(void **state)
{
    vtpm_publish_result res;
    int fd = -1;
    pid_t pid;
    long long killed = 0;

    (void)state;
    standby_required(true);
    pid = publish_in_child(db_dsn, NULL, "dur-kill", true, &fd);
    for (int i = 0; i < 100 && killed == 0; i++) {
        usleep(50 * 1000);
        killed = vtpm_test_pg_number(admin, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                            "WHERE query = 'SELECT vtpm.flush()' AND state = 'active'");
    }
    assert_int_equal(killed, 1);
    if (!child_result(fd, 10000, &res))
        fail_msg("no result after the session was ended");
    child_reap(pid, fd);
    standby_required(false);
    assert_int_equal(res.status, VTPM_PUBLISH_UNREACHABLE);
    assert_non_null(strstr(res.message, "could not confirm it is stored"));
    assert_int_equal(res.generation, -1);
    /* The next attempt finds the report committed: unchanged, and stored. */
    pid = publish_in_child(db_dsn, NULL, "dur-kill", true, &fd);
    assert_true(child_result(fd, 10000, &res));
    child_reap(pid, fd);
    assert_int_equal(res.status, VTPM_PUBLISH_UNCHANGED);
}

/*
 * A database migrated up to 0012 only (the deferred form missing) refuses
 * this publisher's call: refused (exit 6, "not migrated"), with a message
 * that says to migrate, not an outage retried for ever. Runs last: it drops the function.
 */
static void
test_durable_older_schema_says_migrate(void **state)
{
    vtpm_publish_result res;
    vtpm_report r;

    (void)state;
    sql_ok(admin, "DROP FUNCTION vtpm.publish(text, uuid, boolean, text, jsonb, jsonb, boolean)");
    vtpm_test_report_init(&r, "dur-old-schema", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0));
    assert_int_equal(vtpm_pg_publish(db_dsn, &r, &res), VTPM_PUBLISH_REFUSED);
    assert_non_null(strstr(res.message, "run vtpm-inventory migrate"));
    assert_int_equal(vtpm_test_pg_number(admin, "SELECT count(*) FROM vtpm.resource_providers "
                                                "WHERE name = 'dur-old-schema'"), 0);
}

static int
group_setup(void **state)
{
    static const char *const wait_for_commits[] = {
        "ALTER DATABASE vtpm_test SET synchronous_commit = on", "SET synchronous_commit = on",
    };
    char err[512];
    bool created;

    (void)state;
    if (vtpm_test_pg_start_inventory(&pg, "vtpm_test", db_dsn, sizeof(db_dsn), &admin) < 0)
        return -1;
    if (vtpm_pool_login_create(admin, POOL_LOGIN, POOL_PASSWORD, &created, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    vtpm_test_pg_dsn(&pg, "vtpm_test", POOL_LOGIN, pool_dsn, sizeof(pool_dsn));
    /* The test clusters commit without waiting (VTPM_PG_FAST): this database does wait. */
    for (size_t i = 0; i < VTPM_N_ELEMENTS(wait_for_commits); i++) {
        char *v = vtpm_test_pg_value(admin, wait_for_commits[i], err, sizeof(err));

        if (!v) {
            fprintf(stderr, "%s: %s\n", wait_for_commits[i], err);
            return -1;
        }
        free(v);
    }
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
        cmocka_unit_test(test_durable_deferred_only_for_a_change),
        cmocka_unit_test(test_durable_flush_waits_for_the_synchronous_standby),
        cmocka_unit_test(test_durable_publisher_reports_a_change_once_it_is_stored),
        cmocka_unit_test(test_durable_failed_flush_is_not_counted),
        cmocka_unit_test(test_durable_older_schema_says_migrate),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("durable", tests, group_setup, group_teardown);
}
