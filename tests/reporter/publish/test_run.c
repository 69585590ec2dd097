/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm_run(): exit codes, lock, delay, retries, and faults of a real database. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "migrate.h"
#include "pg_fixture.h"
#include "publish_pg.h"
#include "report_fixture.h"
#include "require.h"
#include "run.h"
#include "util.h"

static vtpm_test_pg pg;
static char db_dsn[512];      /* the superuser, straight to the server: checks, set-up */
static char pub_dsn[512];     /* what the runs publish through: db_dsn, or PgBouncer */
static char bouncer[256];     /* "host=127.0.0.1 port=N" of PgBouncer, or "" */
static char bouncer_dir[300];
#define TEST_PASSWORD "run-test-pw"   /* every login's, at PgBouncer */
static char lock_dir[64];
static char lock_path[256];

/* ---- a fake publisher and sleep, for the logic around publishing ---- */

static vtpm_publish_status fake_statuses[8];
static unsigned int fake_calls;
static double sleeps[16];
static unsigned int nsleeps;

static vtpm_publish_status
fake_publish(void *ctx, const vtpm_report *report, vtpm_publish_result *out)
{
    unsigned int i = fake_calls < VTPM_N_ELEMENTS(fake_statuses) ? fake_calls : 7;

    (void)ctx;
    (void)report;
    fake_calls++;
    memset(out, 0, sizeof(*out));
    out->status = fake_statuses[i];
    out->generation = 7;
    vtpm_strfmt(out->message, sizeof(out->message), "fake %u", fake_calls);
    return out->status;
}

static const vtpm_publisher_ops fake_ops = { .name = "fake", .publish = fake_publish };
static const vtpm_publisher fake_publisher = { .ops = &fake_ops };

static void
fake_sleep(double seconds)
{
    if (nsleeps < VTPM_N_ELEMENTS(sleeps))
        sleeps[nsleeps] = seconds;
    nsleeps++;
}

static void
fake_reset(vtpm_publish_status all)
{
    for (size_t i = 0; i < VTPM_N_ELEMENTS(fake_statuses); i++)
        fake_statuses[i] = all;
    fake_calls = 0;
    nsleeps = 0;
}

static void
conf_init(vtpm_conf *conf, const char *dsn)
{
    memset(conf, 0, sizeof(*conf));
    conf->postgres_dsn = (char *)dsn;
    conf->retries = 3;
    conf->lock_file = lock_path;
}

static void
test_run_maps_every_publish_status_to_its_exit_code(void **state)
{
    static const struct { vtpm_publish_status st; int code; } cases[] = {
        { VTPM_PUBLISH_CHANGED, VTPM_EXIT_OK },
        { VTPM_PUBLISH_UNCHANGED, VTPM_EXIT_UNCHANGED },
        { VTPM_PUBLISH_INCONCLUSIVE, VTPM_EXIT_INCONCLUSIVE },
        { VTPM_PUBLISH_UNREACHABLE, VTPM_EXIT_UNREACHABLE },
        { VTPM_PUBLISH_REFUSED, VTPM_EXIT_REFUSED },
        { VTPM_PUBLISH_CONFIG, VTPM_EXIT_USAGE },
    };
    vtpm_run_options opts = { .publisher = &fake_publisher, .sleep_fn = fake_sleep };
    vtpm_conf conf;
    vtpm_report r;

    (void)state;
    conf_init(&conf, NULL);
    vtpm_test_report_init(&r, "run-codes", 0);
    for (size_t i = 0; i < VTPM_N_ELEMENTS(cases); i++) {
        fake_reset(cases[i].st);
        assert_int_equal(vtpm_run(&conf, &r, &opts, NULL), cases[i].code);
    }
}

static void
test_run_retries_unreachable_with_doubling_backoff(void **state)
{
    vtpm_run_options opts = { .publisher = &fake_publisher, .sleep_fn = fake_sleep,
                              .backoff_initial = 2, .backoff_max = 5 };
    vtpm_publish_result res;
    vtpm_conf conf;
    vtpm_report r;

    (void)state;
    conf_init(&conf, NULL);
    conf.retries = 4;
    vtpm_test_report_init(&r, "run-retry", 0);
    fake_reset(VTPM_PUBLISH_UNREACHABLE);
    assert_int_equal(vtpm_run(&conf, &r, &opts, &res), VTPM_EXIT_UNREACHABLE);
    assert_int_equal(fake_calls, 5);
    assert_int_equal(nsleeps, 4);
    assert_true(sleeps[0] == 2 && sleeps[1] == 4 && sleeps[2] == 5 && sleeps[3] == 5);

    /* Unreachable twice, then it works: published. */
    fake_reset(VTPM_PUBLISH_CHANGED);
    fake_statuses[0] = fake_statuses[1] = VTPM_PUBLISH_UNREACHABLE;
    assert_int_equal(vtpm_run(&conf, &r, &opts, &res), VTPM_EXIT_OK);
    assert_int_equal(fake_calls, 3);

    /* Refused is final: no retry. */
    fake_reset(VTPM_PUBLISH_REFUSED);
    assert_int_equal(vtpm_run(&conf, &r, &opts, &res), VTPM_EXIT_REFUSED);
    assert_int_equal(fake_calls, 1);
    assert_int_equal(nsleeps, 0);
}

static void
test_run_waits_a_random_delay_within_the_limit(void **state)
{
    vtpm_run_options opts = { .publisher = &fake_publisher, .sleep_fn = fake_sleep };
    vtpm_conf conf;
    vtpm_report r;
    bool differ = false;

    (void)state;
    conf_init(&conf, NULL);
    conf.start_delay_max = 30;
    vtpm_test_report_init(&r, "run-delay", 0);
    for (int i = 0; i < 8; i++) {
        fake_reset(VTPM_PUBLISH_UNCHANGED);
        assert_int_equal(vtpm_run(&conf, &r, &opts, NULL), VTPM_EXIT_UNCHANGED);
        assert_int_equal(nsleeps, 1);
        assert_true(sleeps[0] >= 0 && sleeps[0] <= 30);
        if (i > 0 && sleeps[0] != sleeps[1])
            differ = true;
        sleeps[1] = sleeps[0];
    }
    assert_true(differ);
    opts.no_delay = true;
    fake_reset(VTPM_PUBLISH_UNCHANGED);
    assert_int_equal(vtpm_run(&conf, &r, &opts, NULL), VTPM_EXIT_UNCHANGED);
    assert_int_equal(nsleeps, 0);
}

/* Holds the lock from another descriptor, as another run does. */
static int
lock_hold(void)
{
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
    return fd;
}

static void
test_run_waits_for_a_stuck_run_then_exits_locked(void **state)
{
    vtpm_run_options opts = { .publisher = &fake_publisher, .sleep_fn = fake_sleep };
    vtpm_publish_result res;
    vtpm_conf conf;
    vtpm_report r;
    double bound, waited = 0;
    int fd;

    (void)state;
    conf_init(&conf, NULL);
    vtpm_test_report_init(&r, "run-lock", 0);
    conf.start_delay_max = 30;
    /* 30 s of delay, 4 attempts of 40 s and pauses of 1, 2 and 4 s */
    bound = vtpm_run_lock_wait_bound(&conf, &opts);
    assert_true(bound > 196.9 && bound < 197.1);
    fd = lock_hold();
    fake_reset(VTPM_PUBLISH_CHANGED);
    assert_int_equal(vtpm_run(&conf, &r, &opts, &res), VTPM_EXIT_LOCKED);
    assert_int_equal(fake_calls, 0);
    assert_non_null(strstr(res.message, "for more than 197 s"));
    /* it waited the whole bound, and not longer */
    for (unsigned int i = 0; i < nsleeps && i < VTPM_N_ELEMENTS(sleeps); i++)
        waited += sleeps[i];
    assert_true(nsleeps >= 197 && nsleeps <= 198);
    assert_true(waited > 0);
    close(fd);
    fake_reset(VTPM_PUBLISH_CHANGED);
    assert_int_equal(vtpm_run(&conf, &r, &(vtpm_run_options){ .publisher = &fake_publisher,
                                                              .sleep_fn = fake_sleep,
                                                              .no_delay = true }, &res),
                     VTPM_EXIT_OK);
    assert_int_equal(fake_calls, 1);
}

static int held_fd = -1;

/* A pause during which the other run ends, on the third poll. */
static void
sleep_then_release(double seconds)
{
    fake_sleep(seconds);
    if (nsleeps == 3 && held_fd >= 0) {
        close(held_fd);
        held_fd = -1;
    }
}

static void
test_run_publishes_once_the_other_run_ends(void **state)
{
    vtpm_run_options opts = { .publisher = &fake_publisher, .sleep_fn = sleep_then_release,
                              .no_delay = true };
    vtpm_conf conf;
    vtpm_report r;

    (void)state;
    conf_init(&conf, NULL);
    vtpm_test_report_init(&r, "run-lock-wait", 0);
    held_fd = lock_hold();
    fake_reset(VTPM_PUBLISH_CHANGED);
    assert_int_equal(vtpm_run(&conf, &r, &opts, NULL), VTPM_EXIT_OK);
    assert_int_equal(nsleeps, 3);
    assert_int_equal(fake_calls, 1);
}

/* vtpm_run() on a lock in @dir/run.lock; returns the exit code. */
static int
run_with_lock_in(const char *dir, vtpm_publish_result *res)
{
    vtpm_run_options opts = { .publisher = &fake_publisher, .sleep_fn = fake_sleep,
                              .no_delay = true };
    char path[512];
    vtpm_conf conf;
    vtpm_report r;

    conf_init(&conf, NULL);
    vtpm_test_report_init(&r, "run-lock-unsafe", 0);
    snprintf(path, sizeof(path), "%s/run.lock", dir);
    conf.lock_file = path;
    fake_reset(VTPM_PUBLISH_CHANGED);
    return vtpm_run(&conf, &r, &opts, res);
}

static void
test_run_refuses_a_lock_others_can_write_or_redirect(void **state)
{
    vtpm_publish_result res;
    char dir[300], link[320], victim[320], path[340];
    struct stat st;
    int fd;

    (void)state;
    snprintf(dir, sizeof(dir), "%s/shared", lock_dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(run_with_lock_in(dir, &res), VTPM_EXIT_OK);
    snprintf(path, sizeof(path), "%s/run.lock", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);

    /* a folder others can write, with or without the sticky bit */
    assert_int_equal(chmod(dir, 0777), 0);
    assert_int_equal(run_with_lock_in(dir, &res), VTPM_EXIT_USAGE);
    assert_non_null(strstr(res.message, "others can write it"));
    assert_int_equal(chmod(dir, 01777), 0);
    assert_int_equal(run_with_lock_in(dir, &res), VTPM_EXIT_USAGE);
    assert_int_equal(fake_calls, 0);
    assert_int_equal(chmod(dir, 0700), 0);

    /* a lock file that is a link to another file: that file is left alone */
    snprintf(victim, sizeof(victim), "%s/victim", lock_dir);
    fd = open(victim, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "keep", 4), 4);
    close(fd);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(symlink(victim, path), 0);
    assert_int_equal(run_with_lock_in(dir, &res), VTPM_EXIT_USAGE);
    assert_int_equal(stat(victim, &st), 0);
    assert_int_equal(st.st_size, 4);
    assert_int_equal(unlink(path), 0);

    /* a folder that is a symbolic link */
    snprintf(link, sizeof(link), "%s/link", lock_dir);
    assert_int_equal(symlink(dir, link), 0);
    assert_int_equal(run_with_lock_in(link, &res), VTPM_EXIT_USAGE);
    assert_non_null(strstr(res.message, "lock folder"));

    /* a lock file of another user, which could hold it forever */
    if (geteuid() == 0) {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(chown(path, 65534, 65534), 0);
        assert_int_equal(run_with_lock_in(dir, &res), VTPM_EXIT_USAGE);
        assert_non_null(strstr(res.message, "not a regular file of this user"));
    }
    assert_int_equal(fake_calls, 0);

    /* An unusable lock file is a configuration error. */
    assert_int_equal(run_with_lock_in("/nonexistent-dir", &res), VTPM_EXIT_USAGE);
}

static void
test_run_uses_vtpm_dsn_from_the_environment(void **state)
{
    vtpm_conf conf;

    (void)state;
    conf_init(&conf, NULL);
    setenv("VTPM_DSN", "host=envhost", 1);
    assert_string_equal(vtpm_dsn_lookup(conf.postgres_dsn), "host=envhost");
    conf.postgres_dsn = (char *)"host=confhost";
    assert_string_equal(vtpm_dsn_lookup(conf.postgres_dsn), "host=confhost");
    unsetenv("VTPM_DSN");
    conf.postgres_dsn = NULL;
    assert_string_equal(vtpm_dsn_lookup(conf.postgres_dsn), "");
}

/* ---- a real database that goes away ---- */

static long long
query_ll(const char *sql)
{
    PGconn *c = vtpm_test_pg_connect(db_dsn);
    char *v = vtpm_test_pg_value(c, sql, NULL, 0);
    long long n;

    assert_non_null(v);
    n = strtoll(v, NULL, 10);
    free(v);
    PQfinish(c);
    return n;
}

/* Pauses between attempts: through PgBouncer, longer than its
 * server_login_retry (1 s in the fixture) after the server came back. */
static double
backoff(void)
{
    return bouncer[0] ? 0.8 : 0.05;
}

static void
test_run_database_stopped_before_run_then_next_run_catches_up(void **state)
{
    vtpm_run_options opts = { .no_delay = true, .backoff_initial = backoff() };
    vtpm_publish_result res;
    vtpm_conf conf;
    vtpm_report r;

    (void)state;
    conf_init(&conf, pub_dsn);
    conf.retries = 2;
    vtpm_test_report_init(&r, "fault-before", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0));
    assert_int_equal(vtpm_run(&conf, &r, &opts, &res), VTPM_EXIT_OK);

    assert_int_equal(vtpm_test_pg_stop(&pg), 0);
    vtpm_test_report_init(&r, "fault-before", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2));
    assert_int_equal(vtpm_run(&conf, &r, &opts, &res), VTPM_EXIT_UNREACHABLE);
    assert_int_equal(res.status, VTPM_PUBLISH_UNREACHABLE);
    /* PgBouncer lets the login in, then has no server for the query. */
    assert_non_null(strstr(res.message, bouncer[0] ? "database 'vtpm_test' on '127.0.0.1:"
                                                   : "cannot connect to database 'vtpm_test'"));
    assert_int_equal(vtpm_test_pg_restart(&pg), 0);

    assert_int_equal(query_ll("SELECT tpm_bits FROM vtpm.resource_providers WHERE name = 'fault-before'"),
                     (long long)VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0));
    /* PgBouncer turns clients away at once while the server's last login
     * failed less than server_login_retry ago, and tries the server again
     * only when a client arrives after that: the first attempts after a
     * restart may all be refused, whatever their timing. */
    conf.retries = 4;
    assert_int_equal(vtpm_run(&conf, &r, &opts, &res), VTPM_EXIT_OK);
    assert_int_equal(res.generation, 2);
    assert_int_equal(query_ll("SELECT tpm_bits FROM vtpm.resource_providers WHERE name = 'fault-before'"),
                     (long long)VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2));
}

/*
 * Starts a child that runs a publish of @host which blocks on a row lock held
 * by @blocker, and waits until the child's statement is waiting on it.
 */
static pid_t
start_blocked_run(PGconn *blocker, const char *host, vtpm_traitset set, unsigned int retries)
{
    const char *values[1] = { host };
    PGresult *res;
    pid_t pid;

    res = PQexec(blocker, "BEGIN");
    PQclear(res);
    res = PQexecParams(blocker, "SELECT 1 FROM vtpm.resource_providers WHERE name = $1 FOR UPDATE",
                       1, NULL, values, NULL, NULL, 0);
    assert_int_equal(PQntuples(res), 1);
    PQclear(res);

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        vtpm_run_options opts = { .no_delay = true, .backoff_initial = 0.05 };
        vtpm_conf conf;
        vtpm_report r;

        conf_init(&conf, pub_dsn);
        conf.retries = retries;
        vtpm_test_report_init(&r, host, set);
        _exit(vtpm_run(&conf, &r, &opts, NULL));
    }
    /* Polled from another connection: pg_stat_activity is a snapshot per
     * transaction, and the blocker is inside one. */
    for (int i = 0; i < 250; i++) {
        if (query_ll("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                     "AND query LIKE 'SELECT status, generation FROM vtpm.publish%'") == 1)
            return pid;
        usleep(20000);
    }
    fail_msg("the publish never blocked on the row lock");
    return pid;
}

static int
wait_child(pid_t pid)
{
    int status;

    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

static void
test_run_database_stopped_during_publish_writes_nothing(void **state)
{
    vtpm_run_options opts = { .no_delay = true, .backoff_initial = backoff() };
    vtpm_conf conf;
    vtpm_report r;
    PGconn *blocker;
    long long reports_before;
    pid_t pid;

    (void)state;
    conf_init(&conf, pub_dsn);
    vtpm_test_report_init(&r, "fault-during", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_TIS));
    assert_int_equal(vtpm_run(&conf, &r, &opts, NULL), VTPM_EXIT_OK);
    reports_before = query_ll("SELECT count(*) FROM vtpm.reports WHERE host = 'fault-during'");
    /* The test cluster commits without waiting for its WAL: what the crash
     * below must keep, the report acknowledged above, is written first. */
    blocker = vtpm_test_pg_connect(db_dsn);
    PQclear(PQexec(blocker, "CHECKPOINT"));
    PQfinish(blocker);

    blocker = vtpm_test_pg_connect(db_dsn);
    pid = start_blocked_run(blocker, "fault-during", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_CRB), 1);
    /* A crash (immediate shutdown) ends every session at once, the blocked
     * publish included. (A fast shutdown may end the blocker's session
     * first and let the publish commit before its own ends: the publisher
     * then says "changed" if its flush after the change returned, else
     * "unreachable", and the next run finds the report stored.) */
    assert_int_equal(vtpm_test_pg_crash(&pg), 0);
    PQfinish(blocker);
    assert_int_equal(wait_child(pid), VTPM_EXIT_UNREACHABLE);
    assert_int_equal(vtpm_test_pg_restart(&pg), 0);

    assert_int_equal(query_ll("SELECT count(*) FROM vtpm.reports WHERE host = 'fault-during'"),
                     reports_before);
    assert_int_equal(query_ll("SELECT tpm_bits FROM vtpm.resource_providers WHERE name = 'fault-during'"),
                     (long long)VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_TIS));
    assert_int_equal(query_ll("SELECT generation FROM vtpm.resource_providers WHERE name = 'fault-during'"), 1);

    /* The next run catches up. */
    vtpm_test_report_init(&r, "fault-during", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_CRB));
    assert_int_equal(vtpm_run(&conf, &r, &opts, NULL), VTPM_EXIT_OK);
    assert_int_equal(query_ll("SELECT tpm_bits FROM vtpm.resource_providers WHERE name = 'fault-during'"),
                     (long long)VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_CRB));
    assert_int_equal(query_ll("SELECT generation FROM vtpm.resource_providers WHERE name = 'fault-during'"), 2);
}

static void
test_run_reporter_killed_during_publish_leaves_a_whole_report_or_none(void **state)
{
    vtpm_run_options opts = { .no_delay = true };
    vtpm_conf conf;
    vtpm_report r;
    PGconn *blocker;
    long long reports_before, reports_after, bits, gen;
    pid_t pid;

    (void)state;
    conf_init(&conf, pub_dsn);
    vtpm_test_report_init(&r, "fault-kill", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_TIS));
    assert_int_equal(vtpm_run(&conf, &r, &opts, NULL), VTPM_EXIT_OK);
    reports_before = query_ll("SELECT count(*) FROM vtpm.reports WHERE host = 'fault-kill'");

    blocker = vtpm_test_pg_connect(db_dsn);
    pid = start_blocked_run(blocker, "fault-kill", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0), 0);
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(wait_child(pid), 128 + SIGKILL);
    PQclear(PQexec(blocker, "ROLLBACK"));
    PQfinish(blocker);
    /* The server may still finish the orphaned statement; wait until no
     * publish is running any more. */
    for (int i = 0; i < 200 && query_ll("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%vtpm.publish(%' AND state = 'active' AND pid <> pg_backend_pid()") > 0; i++)
        usleep(20000);

    reports_after = query_ll("SELECT count(*) FROM vtpm.reports WHERE host = 'fault-kill'");
    bits = query_ll("SELECT tpm_bits FROM vtpm.resource_providers WHERE name = 'fault-kill'");
    gen = query_ll("SELECT generation FROM vtpm.resource_providers WHERE name = 'fault-kill'");
    if (reports_after == reports_before) {
        assert_int_equal(bits, (long long)VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_TIS));
        assert_int_equal(gen, 1);
    } else {
        assert_int_equal(reports_after, reports_before + 1);
        assert_int_equal(bits, (long long)VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0));
        assert_int_equal(gen, 2);
    }
    assert_int_equal(query_ll("SELECT coalesce(bit_or(1 << t.bit), 0) FROM vtpm.provider_traits pt "
                              "JOIN vtpm.traits t ON t.id = pt.trait_id JOIN vtpm.resource_providers rp "
                              "ON rp.id = pt.provider_id WHERE rp.name = 'fault-kill'"), bits);

    /* The next run catches up either way. */
    vtpm_test_report_init(&r, "fault-kill", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0) | VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_CRB));
    assert_int_equal(vtpm_run(&conf, &r, &opts, NULL), VTPM_EXIT_OK);
    assert_int_equal(query_ll("SELECT tpm_bits FROM vtpm.resource_providers WHERE name = 'fault-kill'"),
                     (long long)(VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0) | VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_CRB)));
}

static void
test_run_refused_for_a_host_the_login_is_not_bound_to(void **state)
{
    vtpm_run_options opts = { .no_delay = true };
    PGconn *admin = vtpm_test_pg_connect(db_dsn);
    char dsn[512], err[512];
    vtpm_conf conf;
    vtpm_report r;
    bool created;

    (void)state;
    assert_int_equal(vtpm_reporter_bind(admin, "rep_run", "run-bound", NULL, NULL, &created, err, sizeof(err)), 0);
    PQfinish(admin);
    if (bouncer[0])
        vtpm_strfmt(dsn, sizeof(dsn), "%s dbname=vtpm_test user=rep_run password=" TEST_PASSWORD,
                    bouncer);
    else
        vtpm_test_pg_dsn(&pg, "vtpm_test", "rep_run", dsn, sizeof(dsn));
    conf_init(&conf, dsn);
    vtpm_test_report_init(&r, "run-bound", 1);
    assert_int_equal(vtpm_run(&conf, &r, &opts, NULL), VTPM_EXIT_OK);
    assert_int_equal(vtpm_run(&conf, &r, &opts, NULL), VTPM_EXIT_UNCHANGED);
    vtpm_test_report_init(&r, "run-other", 1);
    assert_int_equal(vtpm_run(&conf, &r, &opts, NULL), VTPM_EXIT_REFUSED);
    r.inconclusive = true;
    vtpm_test_report_init(&r, "run-bound", 0);
    r.inconclusive = true;
    vtpm_strfmt(r.inconclusive_reason, sizeof(r.inconclusive_reason), "libvirtd down");
    assert_int_equal(vtpm_run(&conf, &r, &opts, NULL), VTPM_EXIT_INCONCLUSIVE);
}

static int
group_setup(void **state)
{
    char err[1024];
    unsigned int applied = 0;
    PGconn *conn;
    int rc;

    (void)state;
    if (vtpm_test_pg_start(&pg) < 0)
        return -1;
    /* a private folder for the lock: the cluster's may belong to postgres */
    vtpm_strfmt(lock_dir, sizeof(lock_dir), "/tmp/vtpm-test-run-XXXXXX");
    if (!mkdtemp(lock_dir))
        return -1;
    vtpm_strfmt(lock_path, sizeof(lock_path), "%s/run.lock", lock_dir);
    if (vtpm_test_pg_create_db(&pg, "vtpm_test", db_dsn, sizeof(db_dsn)) < 0)
        return -1;
    conn = vtpm_test_pg_connect(db_dsn);
    rc = vtpm_migrate_apply(conn, vtpm_test_migrations_dir(), &applied, err, sizeof(err));
    if (rc < 0)
        fprintf(stderr, "%s\n", err);
    PQfinish(conn);
    vtpm_strfmt(pub_dsn, sizeof(pub_dsn), "%s", db_dsn);
    if (rc == 0 && vtpm_test_through_pgbouncer()) {
        vtpm_strfmt(bouncer_dir, sizeof(bouncer_dir), "%s/pgbouncer", pg.dir);
        if (vtpm_test_pgbouncer_start(&pg, bouncer_dir,
                                      "\"postgres\" \"" TEST_PASSWORD "\"\n"
                                      "\"rep_run\" \"" TEST_PASSWORD "\"\n",
                                      bouncer, sizeof(bouncer)) < 0)
            return -1;
        vtpm_strfmt(pub_dsn, sizeof(pub_dsn), "%s dbname=vtpm_test user=postgres password="
                    TEST_PASSWORD, bouncer);
    }
    return rc;
}

static int
group_teardown(void **state)
{
    char cmd[128];

    (void)state;
    if (bouncer_dir[0])
        vtpm_test_pgbouncer_stop(bouncer_dir);
    vtpm_test_pg_destroy(&pg);
    if (lock_dir[0]) {
        vtpm_strfmt(cmd, sizeof(cmd), "rm -rf '%s'", lock_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove '%s'\n", lock_dir);
    }
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_maps_every_publish_status_to_its_exit_code),
        cmocka_unit_test(test_run_retries_unreachable_with_doubling_backoff),
        cmocka_unit_test(test_run_waits_a_random_delay_within_the_limit),
        cmocka_unit_test(test_run_waits_for_a_stuck_run_then_exits_locked),
        cmocka_unit_test(test_run_publishes_once_the_other_run_ends),
        cmocka_unit_test(test_run_refuses_a_lock_others_can_write_or_redirect),
        cmocka_unit_test(test_run_uses_vtpm_dsn_from_the_environment),
        cmocka_unit_test(test_run_database_stopped_before_run_then_next_run_catches_up),
        cmocka_unit_test(test_run_database_stopped_during_publish_writes_nothing),
        cmocka_unit_test(test_run_reporter_killed_during_publish_leaves_a_whole_report_or_none),
        cmocka_unit_test(test_run_refused_for_a_host_the_login_is_not_bound_to),
    };

    if (vtpm_test_through_pgbouncer())
        vtpm_test_require_program("/usr/sbin/pgbouncer", "pgbouncer");
    return cmocka_run_group_tests_name(vtpm_test_through_pgbouncer() ? "run-pgbouncer" : "run",
                                       tests, group_setup, group_teardown);
}
