/* SPDX-License-Identifier: Apache-2.0 */
/* The reporter and libvtpm-inventory against a database host that stops answering. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
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

#include <vtpm/inventory.h>

#include "clock.h"
#include "pg_fixture.h"
#include "publish_pg.h"
#include "report_fixture.h"
#include "require.h"
#include "run.h"
#include "util.h"

/*
 * The whole program runs in a private network namespace (group_setup), so the
 * cluster it starts listens on a loopback of its own and the iptables rules
 * below touch nothing else on the machine. A DROP rule makes no answer at all
 * come back, no ACK and no RST: to TCP that is a host that lost power or a
 * cut link, which a user-space proxy cannot imitate (its kernel still ACKs).
 * The admin connections use the cluster's Unix socket and see no partition.
 */

#define PASSWORD "partition-test"
/* Short versions of the clients' defaults, so that a case takes seconds. */
#define SHORT_TIMEOUTS \
    "keepalives_idle=1 keepalives_interval=1 keepalives_count=2 tcp_user_timeout=2000 " \
    "connect_timeout=2"
/* Whatever the short timeouts are meant to end ends well before this. */
#define BOUND_S 15.0
/* Waits for the server, or for a client call in a thread, give up after this. */
#define WAIT_MAX_S 60.0

static vtpm_test_pg pg;
static char db_dsn[512];          /* superuser over the Unix socket: never partitioned */
static char tcp_dsn[768];         /* superuser over TCP 127.0.0.1, short timeouts */
static char default_dsn[768];     /* the same with the publisher's own timeouts */
static char where[160];           /* "database 'vtpm_test' on '127.0.0.1:P'" */
static char port[16];
static char lock_path[300];
static PGconn *admin;             /* over the Unix socket */
static char iptables_path[64], ip_path[64];

/* ---- the partition ---- */

enum { TO_SERVER = 1, FROM_SERVER = 2 };

/* @name from /usr/sbin or /sbin (a test's PATH may lack them), else PATH's. */
static void
tool_find(const char *name, char *path, size_t size)
{
    static const char *const dirs[] = { "/usr/sbin", "/sbin" };

    for (size_t i = 0; i < VTPM_N_ELEMENTS(dirs); i++) {
        vtpm_strfmt(path, size, "%s/%s", dirs[i], name);
        if (access(path, X_OK) == 0)
            return;
    }
    vtpm_strfmt(path, size, "%s", name);
}

static int
iptables_append(const char *match)
{
    char *argv[] = { iptables_path, (char *)"-A", (char *)"INPUT", (char *)"-p", (char *)"tcp",
                     (char *)match, port, (char *)"-j", (char *)"DROP", NULL };

    return vtpm_test_spawn(argv, NULL, 0);
}

/*
 * Drops TCP segments to the cluster's port (@dirs has TO_SERVER) and from it
 * (FROM_SERVER). On loopback every segment passes INPUT once, so matching
 * there on the destination or the source port picks one direction.
 */
static void
partition(unsigned int dirs)
{
    if ((dirs & TO_SERVER) && iptables_append("--dport") != 0)
        fail_msg("cannot add the iptables rule dropping TCP to port %s", port);
    if ((dirs & FROM_SERVER) && iptables_append("--sport") != 0)
        fail_msg("cannot add the iptables rule dropping TCP from port %s", port);
}

/*
 * Removes every rule partition() added: the namespace is this program's own,
 * so flushing its INPUT chain is exactly that, and idempotent for teardowns.
 * Returns 0 or -1.
 */
static int
heal(void)
{
    char *argv[] = { iptables_path, (char *)"-F", (char *)"INPUT", NULL };

    return vtpm_test_spawn(argv, NULL, 0) == 0 ? 0 : -1;
}

/*
 * Moves this process into a new network namespace with its loopback up and
 * checks that iptables works there. Returns 0, or -1 with what is missing.
 */
static int
namespace_enter(void)
{
    char *lo_up[] = { ip_path, (char *)"link", (char *)"set", (char *)"lo", (char *)"up", NULL };
    char *list[] = { iptables_path, (char *)"-S", (char *)"INPUT", NULL };
    char out[256];

    tool_find("ip", ip_path, sizeof(ip_path));
    tool_find("iptables", iptables_path, sizeof(iptables_path));
    if (unshare(CLONE_NEWNET) < 0) {
        fprintf(stderr, "cannot create a private network namespace: %s (the partition tests "
                "need root: CAP_SYS_ADMIN and CAP_NET_ADMIN)\n", strerror(errno));
        return -1;
    }
    if (vtpm_test_spawn(lo_up, NULL, 0) != 0) {
        fprintf(stderr, "cannot bring the loopback of the private network namespace up with "
                "'%s' (install iproute2: scripts/setup.sh)\n", ip_path);
        return -1;
    }
    if (vtpm_test_spawn(list, out, sizeof(out)) != 0) {
        fprintf(stderr, "cannot use '%s' in the private network namespace (install iptables: "
                "scripts/setup.sh; the kernel needs nf_tables)\n", iptables_path);
        return -1;
    }
    return 0;
}

/* ---- helpers ---- */

static void
assert_within(double seconds, const char *what)
{
    if (seconds >= BOUND_S)
        fail_msg("%s took %.1f s, the bound is %.0f s", what, seconds, BOUND_S);
}

/* For the publisher's own settings: neither cut short nor left to the kernel. */
static void
assert_between(double seconds, double low, double high, const char *what)
{
    if (seconds < low || seconds >= high)
        fail_msg("%s took %.1f s, expected %.0f to %.0f s", what, seconds, low, high);
}

/* Publishes over the Unix socket, past any partition; returns the generation. */
static long long
publish_admin(const char *host, vtpm_traitset present)
{
    vtpm_publish_result res;
    vtpm_report r;

    vtpm_test_report_init(&r, host, present);
    if (vtpm_pg_publish(db_dsn, &r, &res) > VTPM_PUBLISH_INCONCLUSIVE)
        fail_msg("cannot publish '%s': %s", host, res.message);
    return res.generation;
}

/* The first value of @sql with optional text parameter @param, as a number (-1: no row). */
static long long
value_ll(const char *sql, const char *param)
{
    const char *values[1] = { param };
    PGresult *res = PQexecParams(admin, sql, param ? 1 : 0, NULL, values, NULL, NULL, 0);
    long long n;

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "query failed: %s: %s", sql, PQerrorMessage(admin));
        PQclear(res);
        fail();
    }
    n = PQntuples(res) ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : -1;
    PQclear(res);
    return n;
}

static long long
reports_of(const char *host)
{
    return value_ll("SELECT count(*) FROM vtpm.reports WHERE host = $1", host);
}

/*
 * @host is stored exactly as @bits at @generation with @reports reports: the
 * mask column, the trait rows and the newest report agree, so nothing is
 * half-written. @reports 0: no provider and no report at all.
 */
static void
assert_host_stored(const char *host, long long reports, vtpm_traitset bits, long long generation)
{
    assert_int_equal(reports_of(host), reports);
    if (reports == 0) {
        assert_int_equal(value_ll("SELECT count(*) FROM vtpm.resource_providers WHERE name = $1",
                                  host), 0);
        return;
    }
    assert_int_equal(value_ll("SELECT tpm_bits FROM vtpm.resource_providers WHERE name = $1",
                              host), (long long)bits);
    assert_int_equal(value_ll("SELECT generation FROM vtpm.resource_providers WHERE name = $1",
                              host), generation);
    assert_int_equal(value_ll("SELECT coalesce(bit_or(1 << t.bit), 0) FROM vtpm.provider_traits pt "
                              "JOIN vtpm.traits t ON t.id = pt.trait_id "
                              "JOIN vtpm.resource_providers rp ON rp.id = pt.provider_id "
                              "WHERE rp.name = $1 AND t.bit IS NOT NULL", host), (long long)bits);
    assert_int_equal(value_ll("SELECT generation FROM vtpm.reports WHERE host = $1 "
                              "ORDER BY id DESC LIMIT 1", host), generation);
    assert_int_equal(value_ll("SELECT coalesce(bit_or(1 << t.bit), 0) FROM vtpm.traits t "
                              "WHERE t.name IN (SELECT unnest(present) FROM (SELECT present "
                              "FROM vtpm.reports WHERE host = $1 ORDER BY id DESC LIMIT 1) r)",
                              host),
                     (long long)bits);
}

/* The server's sessions named @app, or only those of them waiting on a lock. */
static long long
sessions_of(const char *app, bool waiting_on_lock)
{
    return value_ll(waiting_on_lock
                    ? "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 "
                      "AND wait_event_type = 'Lock'"
                    : "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app);
}

/*
 * Waits until a statement of @app waits on a lock, then a little longer: the
 * server may delay its ACK of the statement (up to 200 ms), and a partition
 * before that ACK would leave the statement unacknowledged, a case for
 * tcp_user_timeout, not for the keepalives these waits are about.
 */
static void
wait_blocked(const char *app)
{
    for (int i = 0; i < 500; i++) {
        if (sessions_of(app, true) == 1) {
            vtpm_clock_sleep(0.5);
            return;
        }
        usleep(20000);
    }
    fail_msg("no statement of '%s' ever waited on the lock", app);
}

/*
 * Waits until the server has no session of @app left: after healing, the
 * server's unanswered segments reach the client's kernel, which resets the
 * connection, and the backend ends.
 */
static void
wait_sessions_gone(const char *app)
{
    double deadline = vtpm_clock_now() + WAIT_MAX_S;

    while (sessions_of(app, false) > 0) {
        if (vtpm_clock_now() > deadline)
            fail_msg("a session of '%s' stayed on the server %.0f s after healing", app,
                     WAIT_MAX_S);
        usleep(50000);
    }
}

/* ---- a lock held over the Unix socket, so that a client's statement waits ---- */

static PGconn *blocker;

static void
blocker_hold(const char *sql, const char *param)
{
    const char *values[1] = { param };
    PGresult *res;

    blocker = vtpm_test_pg_connect(db_dsn);
    PQclear(PQexec(blocker, "BEGIN"));
    res = PQexecParams(blocker, sql, param ? 1 : 0, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK &&
        (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1))
        fail_msg("cannot take the lock: %s", PQerrorMessage(blocker));
    PQclear(res);
}

static void
blocker_release(void)
{
    PQfinish(blocker);
    blocker = NULL;
}

/* ---- a client call in a thread, while this one partitions ---- */

/* What the thread calls: vtpm_pg_publish(), vtpm_run() or vtpm_inventory_reload(). */
typedef enum { JOB_PUBLISH, JOB_RUN, JOB_RELOAD } job_kind;

typedef struct {
    pthread_t thread;
    bool started;
    job_kind kind;
    double seconds;
    const char *dsn;            /* publish: NULL for tcp_dsn */
    /* publish and run */
    vtpm_report report;
    vtpm_publish_result result;
    vtpm_conf conf;
    vtpm_run_options opts;
    int exit_code;
    /* reload */
    vtpm_inventory *inv;
    vtpm_status status;
    vtpm_error err;
} job_t;

static job_t job;

static void *
job_main(void *arg)
{
    job_t *j = arg;
    double t0 = vtpm_clock_now();

    switch (j->kind) {
    case JOB_PUBLISH:
        vtpm_pg_publish(j->dsn ? j->dsn : tcp_dsn, &j->report, &j->result);
        break;
    case JOB_RUN:
        j->exit_code = vtpm_run(&j->conf, &j->report, &j->opts, &j->result);
        break;
    case JOB_RELOAD:
        j->status = vtpm_inventory_reload(j->inv, &j->err);
        break;
    }
    j->seconds = vtpm_clock_now() - t0;
    return NULL;
}

static void
job_start(job_kind kind)
{
    job.kind = kind;
    assert_int_equal(pthread_create(&job.thread, NULL, job_main, &job), 0);
    job.started = true;
}

/* Waits for the job; a job still running after WAIT_MAX_S fails the case
 * (the teardown heals, which lets it finish, and joins it). */
static void
job_join(void)
{
    struct timespec deadline;

    if (!job.started)
        return;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += (time_t)WAIT_MAX_S;
    if (pthread_timedjoin_np(job.thread, NULL, &deadline) != 0)
        fail_msg("the client call still runs after %.0f s", WAIT_MAX_S);
    job.started = false;
}

/* For the teardown: waits as long as it takes. */
static void
job_end(void)
{
    if (job.started)
        pthread_join(job.thread, NULL);
    job.started = false;
}

/*
 * Runs @kind (a publish or a run of job.report) until its statement reached
 * the server and waits on @host's row lock, then cuts the server's answers
 * and lets the lock go: the server commits, and its answer never arrives.
 * Nothing but keepalives can end the client's wait. Returns once the job
 * has ended.
 */
static void
job_lose_answer(job_kind kind, const char *host)
{
    blocker_hold("SELECT 1 FROM vtpm.resource_providers WHERE name = $1 FOR UPDATE", host);
    job_start(kind);
    wait_blocked("vtpm-reporter");
    partition(FROM_SERVER);
    blocker_release();
    job_join();
}

/* ---- the reporter ---- */

static unsigned int sleeps;
static bool heal_in_sleep;

/* vtpm_run's pause between attempts: counts, and heals when asked to. */
static void
backoff_sleep(double seconds)
{
    sleeps++;
    /* A failure shows as the run's outcome; no assertion off the test's thread. */
    if (heal_in_sleep)
        (void)heal();
    vtpm_clock_sleep(seconds);
}

/* Prepares vtpm_run() of @host over TCP with @retries; @heal: heal in its first pause. */
static void
run_init(const char *host, vtpm_traitset present, unsigned int retries, bool heal_on_retry)
{
    heal_in_sleep = heal_on_retry;
    memset(&job.conf, 0, sizeof(job.conf));
    job.conf.postgres_dsn = tcp_dsn;
    job.conf.retries = retries;
    job.conf.lock_file = lock_path;
    memset(&job.opts, 0, sizeof(job.opts));
    job.opts.no_delay = true;
    job.opts.backoff_initial = 0.05;
    job.opts.sleep_fn = backoff_sleep;
    vtpm_test_report_init(&job.report, host, present);
    sleeps = 0;
}

/* Runs the prepared vtpm_run() into a partition; returns its exit code. */
static int
run_partitioned(const char *what)
{
    double t0;
    int code;

    partition(TO_SERVER | FROM_SERVER);
    t0 = vtpm_clock_now();
    code = vtpm_run(&job.conf, &job.report, &job.opts, &job.result);
    assert_within(vtpm_clock_now() - t0, what);
    return code;
}

static void
test_publish_into_a_partition_is_unreachable_within_the_connect_timeout(void **state)
{
    vtpm_traitset set = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0);
    vtpm_publish_result res;
    vtpm_report r;
    double t0;

    (void)state;
    vtpm_test_report_init(&r, "part-before", set);
    partition(TO_SERVER | FROM_SERVER);
    t0 = vtpm_clock_now();
    assert_int_equal(vtpm_pg_publish(tcp_dsn, &r, &res), VTPM_PUBLISH_UNREACHABLE);
    assert_within(vtpm_clock_now() - t0, "a publish into a partition");
    if (!strstr(res.message, "cannot connect to ") || !strstr(res.message, where))
        fail_msg("the message does not name %s: %s", where, res.message);
    assert_int_equal(heal(), 0);
    assert_host_stored("part-before", 0, 0, 0);

    /* The partition was all that stood in the way. */
    assert_int_equal(vtpm_pg_publish(tcp_dsn, &r, &res), VTPM_PUBLISH_CHANGED);
    assert_host_stored("part-before", 1, set, 1);
}

static void
test_publish_whose_answer_is_lost_is_unreachable_and_its_retry_is_unchanged(void **state)
{
    vtpm_traitset before = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_TIS);
    vtpm_traitset after = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0) |
                          VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_CRB);
    vtpm_publish_result res;
    long long reports;

    (void)state;
    assert_int_equal(publish_admin("part-answer", before), 1);
    reports = reports_of("part-answer");

    vtpm_test_report_init(&job.report, "part-answer", after);
    job_lose_answer(JOB_PUBLISH, "part-answer");
    assert_int_equal(job.result.status, VTPM_PUBLISH_UNREACHABLE);
    assert_within(job.seconds, "a publish whose answer is lost");
    if (!strstr(job.result.message, "went away while publishing") ||
        !strstr(job.result.message, where))
        fail_msg("unexpected message: %s", job.result.message);
    assert_int_equal(heal(), 0);
    wait_sessions_gone("vtpm-reporter");

    /* The statement had reached the server: the report is stored whole. */
    assert_host_stored("part-answer", reports + 1, after, 2);

    /* A retry of the same report is recorded, and changes nothing. */
    assert_int_equal(vtpm_pg_publish(tcp_dsn, &job.report, &res), VTPM_PUBLISH_UNCHANGED);
    assert_int_equal(res.generation, 2);
    assert_host_stored("part-answer", reports + 2, after, 2);
}

/*
 * The two cases above with the settings vtpm_pg_publish() adds itself
 * (docs/reporter.md, "When the database stops answering"): a connection
 * attempt ends after connect_timeout=10, a lost answer after keepalives
 * (10 s idle, then 4 probes 5 s apart) and tcp_user_timeout=30000, i.e.
 * about 30 s. The lower bounds check that these are the settings in force.
 */
static void
test_publish_with_its_own_settings_gives_up_connecting_after_10_s(void **state)
{
    vtpm_publish_result res;
    vtpm_report r;
    double t0;

    (void)state;
    vtpm_test_report_init(&r, "part-default-connect", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0));
    partition(TO_SERVER | FROM_SERVER);
    t0 = vtpm_clock_now();
    assert_int_equal(vtpm_pg_publish(default_dsn, &r, &res), VTPM_PUBLISH_UNREACHABLE);
    printf("# gave up connecting after %.1f s\n", vtpm_clock_now() - t0);
    assert_between(vtpm_clock_now() - t0, 9.5, 15.0, "a default publish into a partition");
    if (!strstr(res.message, "cannot connect to ") || !strstr(res.message, "timeout"))
        fail_msg("unexpected message: %s", res.message);
    assert_int_equal(heal(), 0);
    assert_host_stored("part-default-connect", 0, 0, 0);
}

static void
test_publish_with_its_own_settings_gives_up_on_a_lost_answer_after_about_30_s(void **state)
{
    vtpm_traitset before = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_TIS);
    vtpm_traitset after = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2);
    long long reports;

    (void)state;
    assert_int_equal(publish_admin("part-default-answer", before), 1);
    reports = reports_of("part-default-answer");
    vtpm_test_report_init(&job.report, "part-default-answer", after);
    job.dsn = default_dsn;
    job_lose_answer(JOB_PUBLISH, "part-default-answer");
    job.dsn = NULL;
    assert_int_equal(job.result.status, VTPM_PUBLISH_UNREACHABLE);
    printf("# gave up on the answer after %.1f s\n", job.seconds);
    assert_between(job.seconds, 25.0, 50.0, "a default publish whose answer is lost");
    if (!strstr(job.result.message, "went away while publishing"))
        fail_msg("unexpected message: %s", job.result.message);
    assert_int_equal(heal(), 0);
    wait_sessions_gone("vtpm-reporter");
    assert_host_stored("part-default-answer", reports + 1, after, 2);
}

static void
test_run_publishes_once_the_partition_heals_during_its_backoff(void **state)
{
    vtpm_traitset set = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2) |
                        VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_TIS);

    (void)state;
    run_init("part-run-heal", set, 3, true);
    assert_int_equal(run_partitioned("a run healed during its backoff"), VTPM_EXIT_OK);
    assert_int_equal(sleeps, 1);
    assert_int_equal(job.result.status, VTPM_PUBLISH_CHANGED);
    assert_host_stored("part-run-heal", 1, set, 1);
}

static void
test_run_retries_a_lost_answer_after_healing_and_ends_unchanged(void **state)
{
    vtpm_traitset before = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_CRB);
    vtpm_traitset after = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0);
    long long reports;

    (void)state;
    assert_int_equal(publish_admin("part-run-lost", before), 1);
    reports = reports_of("part-run-lost");
    run_init("part-run-lost", after, 3, true);
    job_lose_answer(JOB_RUN, "part-run-lost");
    /* The first attempt committed without knowing; the retry found it done. */
    assert_int_equal(job.exit_code, VTPM_EXIT_UNCHANGED);
    assert_within(job.seconds, "a run whose first answer is lost");
    assert_int_equal(sleeps, 1);
    assert_int_equal(job.result.generation, 2);
    assert_host_stored("part-run-lost", reports + 2, after, 2);
}

static void
test_run_in_a_partition_that_never_heals_ends_unreachable_after_its_retries(void **state)
{
    (void)state;
    run_init("part-run-never", VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0), 2, false);
    assert_int_equal(run_partitioned("a run of three attempts into a partition"),
                     VTPM_EXIT_UNREACHABLE);
    assert_int_equal(sleeps, 2);
    assert_int_equal(job.result.status, VTPM_PUBLISH_UNREACHABLE);
    assert_non_null(strstr(job.result.message, where));
    assert_int_equal(heal(), 0);
    assert_host_stored("part-run-never", 0, 0, 0);
}

/* ---- the cache ---- */

static vtpm_inventory *cache;

static vtpm_uuid
uuid_of(const char *host)
{
    const char *values[1] = { host };
    PGresult *res = PQexecParams(admin, "SELECT uuid::text FROM vtpm.resource_providers "
                                 "WHERE name = $1", 1, NULL, values, NULL, NULL, 0);
    vtpm_uuid uuid;

    assert_int_equal(PQntuples(res), 1);
    assert_int_equal(vtpm_uuid_parse(PQgetvalue(res, 0, 0), &uuid, NULL), VTPM_OK);
    PQclear(res);
    return uuid;
}

/* The cache holds @uuid with exactly @bits at @generation. */
static void
assert_cached(const vtpm_uuid *uuid, vtpm_traitset bits, int64_t generation)
{
    vtpm_traitset got = 0;
    int64_t gen = -1;

    assert_true(vtpm_inventory_lookup(cache, uuid, &got, &gen));
    assert_int_equal(got, bits);
    assert_int_equal(gen, generation);
}

/* Publishes the new host @host with @bits, then opens the cache over TCP with @dsn
 * (NULL: tcp_dsn); returns the host's uuid. */
static vtpm_uuid
cache_open_dsn(const char *host, vtpm_traitset bits, const char *dsn)
{
    vtpm_error err = { 0 };
    vtpm_uuid uuid;

    assert_int_equal(publish_admin(host, bits), 1);
    uuid = uuid_of(host);
    cache = vtpm_inventory_open(dsn ? dsn : tcp_dsn, 0, &err);
    if (!cache)
        fail_msg("cannot open the inventory over TCP: %s", err.message);
    assert_cached(&uuid, bits, 1);
    return uuid;
}

static vtpm_uuid
cache_open_with(const char *host, vtpm_traitset bits)
{
    return cache_open_dsn(host, bits, NULL);
}

/* Every provider of the table is cached with its bits and generation, and no other. */
static void
assert_cache_equals_table(void)
{
    PGresult *res = PQexec(admin, "SELECT uuid::text, tpm_bits, generation "
                                  "FROM vtpm.resource_providers");

    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_int_equal(vtpm_inventory_size(cache), (size_t)PQntuples(res));
    for (int r = 0; r < PQntuples(res); r++) {
        vtpm_uuid uuid;

        assert_int_equal(vtpm_uuid_parse(PQgetvalue(res, r, 0), &uuid, NULL), VTPM_OK);
        assert_cached(&uuid, (vtpm_traitset)strtoull(PQgetvalue(res, r, 1), NULL, 10),
                      strtoll(PQgetvalue(res, r, 2), NULL, 10));
    }
    PQclear(res);
}

/* Expects @st to be VTPM_ERR_UNREACHABLE with @needle and @where in @err. */
static void
assert_unreachable(vtpm_status st, const vtpm_error *err, const char *needle)
{
    if (st != VTPM_ERR_UNREACHABLE || !strstr(err->message, needle) ||
        !strstr(err->message, where))
        fail_msg("expected unreachable with '%s', got status %d: %s", needle, (int)st,
                 err->message);
}

/* Refreshes until one succeeds (the reconnection), within the bound. */
static void
refresh_until_reconnected(void)
{
    uint64_t reconnects = vtpm_inventory_counter(cache, VTPM_INVENTORY_RECONNECTS);
    double t0 = vtpm_clock_now();
    vtpm_error err = { 0 };

    while (vtpm_inventory_refresh(cache, 100, &err) != VTPM_OK) {
        if (vtpm_clock_now() - t0 > BOUND_S)
            fail_msg("the cache did not reconnect after healing: %s", err.message);
        usleep(50000);
    }
    assert_int_equal(vtpm_inventory_counter(cache, VTPM_INVENTORY_RECONNECTS), reconnects + 1);
    assert_true(vtpm_inventory_fd(cache) >= 0);
}

static void
test_cache_idle_in_a_partition_answers_from_memory_and_catches_up_after_healing(void **state)
{
    vtpm_traitset a = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2);
    vtpm_traitset b = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0) | VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_TIS);
    vtpm_error err = { 0 };
    vtpm_uuid uuid, added;
    uint64_t reloads;
    size_t size, with_a;
    vtpm_status st;
    double t0;

    (void)state;
    uuid = cache_open_with("part-cache-idle", a);
    size = vtpm_inventory_size(cache);
    with_a = vtpm_inventory_candidates(cache, a, 0, NULL, 0);
    reloads = vtpm_inventory_counter(cache, VTPM_INVENTORY_RELOADS);

    /* Changes the cache will not be told about: their notifications are lost. */
    partition(TO_SERVER | FROM_SERVER);
    assert_int_equal(publish_admin("part-cache-idle", b), 2);
    assert_int_equal(publish_admin("part-cache-added", b), 1);
    added = uuid_of("part-cache-added");

    /* Waiting for notifications on a dead connection ends with the keepalives. */
    t0 = vtpm_clock_now();
    st = vtpm_inventory_refresh(cache, 60000, &err);
    assert_within(vtpm_clock_now() - t0, "a refresh waiting in a partition");
    assert_unreachable(st, &err, "lost the connection to ");
    assert_int_equal(vtpm_inventory_fd(cache), -1);

    /* What docs/api.md promises while the connection is lost: every question
     * keeps its answer from the data held. */
    assert_int_equal(vtpm_inventory_size(cache), size);
    assert_cached(&uuid, a, 1);
    assert_false(vtpm_inventory_lookup(cache, &added, NULL, NULL));
    assert_int_equal(vtpm_inventory_candidates(cache, a, 0, NULL, 0), with_a);

    /* The next refresh tries to reconnect, which the connect timeout ends;
     * one right after it returns at once, the attempts being spaced out. */
    t0 = vtpm_clock_now();
    st = vtpm_inventory_refresh(cache, 60000, &err);
    assert_within(vtpm_clock_now() - t0, "a reconnection into a partition");
    assert_unreachable(st, &err, "cannot connect to ");
    t0 = vtpm_clock_now();
    st = vtpm_inventory_refresh(cache, 60000, &err);
    if (vtpm_clock_now() - t0 > 0.5)
        fail_msg("a refresh right after a failed reconnection took %.1f s: %s",
                 vtpm_clock_now() - t0, err.message);
    assert_unreachable(st, &err, "next attempt in ");
    assert_cached(&uuid, a, 1);
    assert_int_equal(vtpm_inventory_size(cache), size);

    assert_int_equal(heal(), 0);
    refresh_until_reconnected();
    assert_int_equal(vtpm_inventory_counter(cache, VTPM_INVENTORY_RELOADS), reloads + 1);
    assert_cached(&uuid, b, 2);
    assert_cached(&added, b, 1);
    assert_cache_equals_table();
}

/*
 * The idle case with the cache's own settings (docs/api.md): keepalives after
 * 30 s of silence, and tcp_user_timeout=30000 ends the connection at the
 * first unanswered probe past 30 s, i.e. after about 40 s; 3 probes 10 s apart
 * would take a minute.
 */
static void
test_cache_with_its_own_settings_notices_a_silent_partition_within_a_minute(void **state)
{
    vtpm_traitset a = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0) | VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_CRB);
    vtpm_error err = { 0 };
    vtpm_uuid uuid;
    vtpm_status st;
    double t0;

    (void)state;
    uuid = cache_open_dsn("part-cache-default", a, default_dsn);
    partition(TO_SERVER | FROM_SERVER);
    t0 = vtpm_clock_now();
    st = vtpm_inventory_refresh(cache, 120000, &err);
    printf("# the idle connection was given up after %.1f s\n", vtpm_clock_now() - t0);
    assert_between(vtpm_clock_now() - t0, 25.0, 75.0, "a default refresh waiting in a partition");
    assert_unreachable(st, &err, "lost the connection to ");
    assert_cached(&uuid, a, 1);
    assert_int_equal(heal(), 0);
    refresh_until_reconnected();
    assert_cache_equals_table();
}

static void
test_cache_reload_waiting_for_rows_in_a_partition_fails_and_recovers(void **state)
{
    vtpm_traitset a = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_CRB);
    vtpm_traitset b = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_CRB) | VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2);
    vtpm_error err = { 0 };
    vtpm_uuid uuid;
    size_t size;

    (void)state;
    uuid = cache_open_with("part-cache-load", a);
    size = vtpm_inventory_size(cache);

    /* The full load reaches the server and waits for the table; the partition
     * comes down while it waits, so the rows never arrive. */
    blocker_hold("LOCK TABLE vtpm.resource_providers IN ACCESS EXCLUSIVE MODE", NULL);
    job.inv = cache;
    job_start(JOB_RELOAD);
    wait_blocked("vtpm-inventory-cache");
    partition(TO_SERVER | FROM_SERVER);
    blocker_release();
    assert_int_equal(publish_admin("part-cache-load", b), 2);
    job_join();
    assert_within(job.seconds, "a reload whose rows are lost");
    assert_unreachable(job.status, &job.err, "lost the connection to ");
    assert_int_equal(vtpm_inventory_size(cache), size);
    assert_cached(&uuid, a, 1);

    assert_int_equal(heal(), 0);
    wait_sessions_gone("vtpm-inventory-cache");
    assert_int_equal(vtpm_inventory_reload(cache, &err), VTPM_OK);
    assert_cached(&uuid, b, 2);
    assert_cache_equals_table();
}

static void
test_cache_reload_sent_into_a_partition_fails_by_the_user_timeout_and_recovers(void **state)
{
    vtpm_traitset a = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_TIS);
    vtpm_traitset b = VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_CRB);
    vtpm_error err = { 0 };
    vtpm_uuid uuid;
    vtpm_status st;
    size_t size;
    double t0;

    (void)state;
    uuid = cache_open_with("part-cache-send", a);
    size = vtpm_inventory_size(cache);

    /* The query itself goes unacknowledged: keepalives wait for an idle
     * socket, so only tcp_user_timeout ends this one. */
    partition(TO_SERVER | FROM_SERVER);
    assert_int_equal(publish_admin("part-cache-send", b), 2);
    t0 = vtpm_clock_now();
    st = vtpm_inventory_reload(cache, &err);
    assert_within(vtpm_clock_now() - t0, "a reload sent into a partition");
    assert_unreachable(st, &err, "lost the connection to ");
    assert_int_equal(vtpm_inventory_size(cache), size);
    assert_cached(&uuid, a, 1);

    assert_int_equal(heal(), 0);
    refresh_until_reconnected();
    assert_cached(&uuid, b, 2);
    assert_cache_equals_table();
}

/* ---- fixture ---- */

/* Heals and lets go of whatever a failed case left, so the next case starts clean. */
static int
case_teardown(void **state)
{
    (void)state;
    (void)heal();
    heal_in_sleep = false;
    if (blocker)
        blocker_release();
    job_end();
    memset(&job, 0, sizeof(job));
    vtpm_inventory_close(cache);
    cache = NULL;
    return 0;
}

static int
group_setup(void **state)
{
    char err[256];
    char *v;

    (void)state;
    if (namespace_enter() < 0)
        return -1;
    if (vtpm_test_pg_start_inventory(&pg, "vtpm_test", db_dsn, sizeof(db_dsn), &admin) < 0)
        return -1;
    /* Under valgrind the client's SCRAM login (4096 rounds of PBKDF2 in
     * libpq) takes longer than the short connect_timeout these cases pin:
     * there, the superuser logs in over TCP with md5, which costs nothing. */
    if (getenv("VTPM_TEST_UNDER_VALGRIND")) {
        PQfinish(admin);
        if (vtpm_test_pg_configure(&pg, NULL, "host all postgres 127.0.0.1/32 md5\n") < 0)
            return -1;
        admin = vtpm_test_pg_connect(db_dsn);
        v = vtpm_test_pg_value(admin, "SET password_encryption = 'md5'", err, sizeof(err));
        free(v);
    }
    /* TCP logins need a password (scripts/pg-cluster.sh); a constant, for a throwaway cluster. */
    v = vtpm_test_pg_value(admin, "ALTER ROLE postgres PASSWORD '" PASSWORD "'", err, sizeof(err));
    if (!v) {
        fprintf(stderr, "cannot set the superuser's password: %s\n", err);
        return -1;
    }
    free(v);
    vtpm_test_pg_tcp_dsn(&pg, "vtpm_test", PASSWORD, tcp_dsn, sizeof(tcp_dsn));
    vtpm_strfmt(default_dsn, sizeof(default_dsn), "%s", tcp_dsn);
    vtpm_strfmt(tcp_dsn + strlen(tcp_dsn), sizeof(tcp_dsn) - strlen(tcp_dsn), " %s",
                SHORT_TIMEOUTS);
    {
        const char *p = strstr(tcp_dsn, " port=") + 6;

        vtpm_strfmt(port, sizeof(port), "%.*s", (int)strcspn(p, " "), p);
    }
    vtpm_strfmt(where, sizeof(where), "database 'vtpm_test' on '127.0.0.1:%s'", port);
    /* the cluster's folder belongs to postgres: the lock needs a folder of ours */
    vtpm_strfmt(lock_path, sizeof(lock_path), "%s/lock", pg.dir);
    if (mkdir(lock_path, 0700) < 0)
        return -1;
    vtpm_strfmt(lock_path, sizeof(lock_path), "%s/lock/run.lock", pg.dir);
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    PQfinish(admin);
    admin = NULL;
    vtpm_test_pg_destroy(&pg);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(
            test_publish_into_a_partition_is_unreachable_within_the_connect_timeout,
            case_teardown),
        cmocka_unit_test_teardown(
            test_publish_whose_answer_is_lost_is_unreachable_and_its_retry_is_unchanged,
            case_teardown),
        cmocka_unit_test_teardown(
            test_publish_with_its_own_settings_gives_up_connecting_after_10_s, case_teardown),
        cmocka_unit_test_teardown(
            test_publish_with_its_own_settings_gives_up_on_a_lost_answer_after_about_30_s,
            case_teardown),
        cmocka_unit_test_teardown(test_run_publishes_once_the_partition_heals_during_its_backoff,
                                  case_teardown),
        cmocka_unit_test_teardown(test_run_retries_a_lost_answer_after_healing_and_ends_unchanged,
                                  case_teardown),
        cmocka_unit_test_teardown(
            test_run_in_a_partition_that_never_heals_ends_unreachable_after_its_retries,
            case_teardown),
        cmocka_unit_test_teardown(
            test_cache_idle_in_a_partition_answers_from_memory_and_catches_up_after_healing,
            case_teardown),
        cmocka_unit_test_teardown(
            test_cache_with_its_own_settings_notices_a_silent_partition_within_a_minute,
            case_teardown),
        cmocka_unit_test_teardown(
            test_cache_reload_waiting_for_rows_in_a_partition_fails_and_recovers,
            case_teardown),
        cmocka_unit_test_teardown(
            test_cache_reload_sent_into_a_partition_fails_by_the_user_timeout_and_recovers,
            case_teardown),
    };

    vtpm_test_require_root("cut the network in a namespace of its own with iptables");

    return cmocka_run_group_tests_name("partition", tests, group_setup, group_teardown);
}
