/* SPDX-License-Identifier: Apache-2.0 */
/* bench_fleet: seed a fleet, run the simulation against a real inventory, check it, print figures. */
#include <dirent.h>
#include <getopt.h>
#include <limits.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "bench_fleet.h"
#include "bench_fleet_publish.h"
#include "bench_util.h"
#include "util.h"

typedef struct {
    const char *admin_dsn;      /* superuser, straight to the primary */
    const char *publish_dsn;    /* what reporters use: PgBouncer, the pooled login */
    const char *cache_dsn;      /* the scheduler's cache */
    const char *direct_dsn;     /* the same login straight to PostgreSQL, for comparison */
    int saturate;               /* publishes per comparison phase, 0: none */
    int saturate_workers[4];    /* clients of each comparison phase */
    int nsaturate_workers;
    long pids[8];               /* postmasters whose CPU is the database's */
    int npids;
    double change_per_hour;
    fleet_opts f;
} fleet_args;

static PGresult *
pg_check(PGconn *conn, PGresult *res)
{
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "bench_fleet: %s", PQerrorMessage(conn));
        exit(1);
    }
    return res;
}

static double
query_double(PGconn *conn, const char *sql)
{
    PGresult *res = pg_check(conn, PQexec(conn, sql));
    double v = PQgetisnull(res, 0, 0) ? 0 : strtod(PQgetvalue(res, 0, 0), NULL);

    PQclear(res);
    return v;
}

/* ---- database CPU: the postmasters, their live children and their reaped ones ---- */

static double
proc_stat_cpu(long pid, long *ppid, bool reaped)
{
    char path[64], buf[1024];
    unsigned long long ut, st;
    long long cut, cst;
    long parent;
    const char *p;
    FILE *f;
    size_t n;

    vtpm_strfmt(path, sizeof(path), "/proc/%ld/stat", pid);
    if (!(f = fopen(path, "r")))
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* After "pid (comm) ": state ppid ... utime stime cutime cstime (fields 4, 14-17). */
    if (!(p = strrchr(buf, ')')) ||
        sscanf(p + 1, /* NOLINT(cert-err34-c) */
               " %*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld",
               &parent, &ut, &st, &cut, &cst) != 5)
        return -1;
    if (ppid)
        *ppid = parent;
    return (double)(ut + st + (reaped ? (unsigned long long)(cut + cst) : 0)) /
           (double)sysconf(_SC_CLK_TCK);
}

static double
db_cpu_s(const fleet_args *a)
{
    double total = 0;
    struct dirent *e;
    DIR *proc;

    for (int k = 0; k < a->npids; k++)
        total += proc_stat_cpu(a->pids[k], NULL, true);
    /* Children still running (backends, walsender, checkpointer...). */
    if (!(proc = opendir("/proc")))
        return total;
    while ((e = readdir(proc))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10), ppid = 0;
        double cpu;

        if (*end != '\0' || pid <= 0 || (cpu = proc_stat_cpu(pid, &ppid, false)) < 0)
            continue;
        for (int k = 0; k < a->npids; k++) {
            if (ppid == a->pids[k])
                total += cpu;
        }
    }
    closedir(proc);
    return total;
}

static double
self_cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* ---- the inventory before and after ---- */

typedef struct {
    double wal_bytes;           /* pg_current_wal_lsn() as a number */
    double reports_bytes;       /* vtpm.reports with its indexes and toast */
    double schema_bytes;        /* every relation of the schema */
    double reports_rows;
    double generations;         /* the sum over the fleet's providers */
} fleet_db;

static void
db_measure(PGconn *conn, fleet_db *m)
{
    m->wal_bytes = query_double(conn, "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn");
    /* Partitioned (0011): the parent has no storage of its own. */
    m->reports_bytes = query_double(conn,
        "SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('vtpm.reports')");
    m->schema_bytes = query_double(conn,
        "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname IN ('vtpm', 'vtpm_keys') AND c.relkind = 'r'");
    m->reports_rows = query_double(conn, "SELECT count(*) FROM vtpm.reports");
    m->generations = query_double(conn,
        "SELECT sum(generation) FROM vtpm.resource_providers WHERE name LIKE 'fleet-%'");
}

/* Creates the fleet's providers (server-side, as the superuser), 5,000 a
 * transaction (one transaction for all grows slower than linearly): 2.0 + TIS
 * + CRB everywhere, 1.2 on even hosts; reads back their uuids in host order. */
static void
fleet_seed_db(PGconn *conn, int hosts, vtpm_uuid *uuids, vtpm_traitset *traits)
{
    char sql[1024];
    PGresult *res;

    for (int first = 0; first < hosts; first += 5000) {
        int last = first + 5000 < hosts ? first + 4999 : hosts - 1;

        vtpm_strfmt(sql, sizeof(sql),
            "SELECT count(p.*) FROM generate_series(%d, %d) AS i, LATERAL vtpm.publish("
            "'fleet-' || lpad(i::text, 6, '0'), md5('fleet-' || i)::uuid, false, NULL, "
            "(SELECT jsonb_object_agg(t.name, jsonb_build_object('present', "
            "t.name IN ('COMPUTE_SECURITY_TPM_2_0', 'COMPUTE_SECURITY_TPM_TIS', "
            "'COMPUTE_SECURITY_TPM_CRB') OR (t.name = 'COMPUTE_SECURITY_TPM_1_2' AND i %% 2 = 0), "
            "'code', 'ok', 'reason', 'seeded')) FROM vtpm.traits t WHERE t.bit IS NOT NULL), "
            "NULL) AS p", first, last);
        PQclear(pg_check(conn, PQexec(conn, sql)));
    }
    PQclear(pg_check(conn, PQexec(conn, "VACUUM ANALYZE")));
    res = pg_check(conn, PQexec(conn,
        "SELECT uuid, tpm_bits FROM vtpm.resource_providers WHERE name LIKE 'fleet-%' "
        "ORDER BY name"));
    if (PQntuples(res) != hosts) {
        fprintf(stderr, "bench_fleet: %d providers seeded, %d wanted (an empty database is)\n",
                PQntuples(res), hosts);
        exit(1);
    }
    for (int i = 0; i < hosts; i++) {
        if (vtpm_uuid_parse(PQgetvalue(res, i, 0), &uuids[i], NULL) != VTPM_OK)
            abort();
        traits[i] = (vtpm_traitset)strtoul(PQgetvalue(res, i, 1), NULL, 10) & FLEET_MANAGED;
    }
    PQclear(res);
}

/* Compares the inventory with what the run acknowledged: returns the hosts that differ. */
static int
fleet_verify(PGconn *conn, int hosts, const fleet_truth *truth, int *differ_truth)
{
    PGresult *res = pg_check(conn, PQexec(conn,
        "SELECT tpm_bits FROM vtpm.resource_providers WHERE name LIKE 'fleet-%' ORDER BY name"));
    int bad = 0;

    *differ_truth = 0;
    for (int i = 0; i < hosts && i < PQntuples(res); i++) {
        vtpm_traitset have = (vtpm_traitset)strtoul(PQgetvalue(res, i, 0), NULL, 10) &
                             FLEET_MANAGED;

        if (have != truth->acked[i]) {
            if (bad++ < 5)
                fprintf(stderr, "bench_fleet: host %d: inventory %#x, acknowledged %#x\n", i,
                        (unsigned)have, (unsigned)truth->acked[i]);
        }
        if (have != truth->traits[i])
            (*differ_truth)++;
    }
    PQclear(res);
    return bad;
}

static void
print_report(const fleet_args *a, const fleet_stats *s, const fleet_db *d0, const fleet_db *d1,
             double db_cpu, double gen_cpu, int bad, int differ_truth)
{
    double sim = s->simulated, days = 86400.0 / sim;

    printf("fleet: hosts=%d period=%.0fs heartbeat=%.0fs start_delay_max=%.0fs "
           "change=%.3f%%/host/hour scale=%.2f workers=%d\n",
           a->f.hosts, a->f.period, a->f.heartbeat, a->f.start_delay_max,
           a->change_per_hour * 100, a->f.scale, a->f.workers);
    printf("simulated %.0fs in %.1fs wall\n", sim, s->wall);
    printf("runs=%lu (%.0f/s simulated) skipped=%lu published=%lu failed=%lu\n", s->runs,
           (double)s->runs / sim, s->skipped, s->published, s->failed);
    printf("reports reaching the database: %.1f/s wall (%.1f/s simulated)\n",
           (double)s->published / s->wall, (double)s->published / sim);
    printf("publish latency (connect + publish + close): p50=%.2fms p99=%.2fms max=%.2fms\n",
           s->lat_p50 * 1e3, s->lat_p99 * 1e3, s->lat_max * 1e3);
    printf("backlog: runs that missed their period=%lu overlapping runs=%lu "
           "latest start=%.2fs after due, queue max=%zu\n",
           s->missed, s->overlaps, s->max_late, s->queue_max);
    printf("changes: made=%lu acknowledged=%lu; cache saw %zu: lag p50=%.1fms p99=%.1fms "
           "max=%.1fms (not seen: %zu, superseded: %lu)\n",
           s->changes_made, s->changes_acked, s->lag_n, s->lag_p50 * 1e3, s->lag_p99 * 1e3,
           s->lag_max * 1e3, s->lag_missing, s->lag_superseded);
    printf("database CPU: %.1fs (%.0f%% of one core), generator CPU: %.1fs\n", db_cpu,
           db_cpu / s->wall * 100, gen_cpu);
    printf("WAL: %.1f MB (%.0f kB/s wall, %.1f GB per simulated day)\n",
           (d1->wal_bytes - d0->wal_bytes) / 1e6, (d1->wal_bytes - d0->wal_bytes) / 1e3 / s->wall,
           (d1->wal_bytes - d0->wal_bytes) * days / 1e9);
    printf("vtpm.reports: +%.0f rows, +%.1f MB (%.2f GB and %.1f M rows per simulated day); "
           "schema +%.1f MB\n",
           d1->reports_rows - d0->reports_rows, (d1->reports_bytes - d0->reports_bytes) / 1e6,
           (d1->reports_bytes - d0->reports_bytes) * days / 1e9,
           (d1->reports_rows - d0->reports_rows) * days / 1e6,
           (d1->schema_bytes - d0->schema_bytes) / 1e6);
    printf("generations bumped=%.0f, changes acknowledged=%lu: %s\n",
           d1->generations - d0->generations, s->changes_acked,
           (unsigned long)(d1->generations - d0->generations) == s->changes_acked
               ? "equal" : "DIFFERENT");
    printf("final inventory vs acknowledged reports: %d host(s) differ; vs probes: %d\n", bad,
           differ_truth);
}

/* Publishes as fast as @workers clients can through @dsn, one new connection
 * each: reports that repeat @state, or with @change that change a trait. */
static void
saturate_phase(const fleet_args *a, const char *path, const char *dsn, const vtpm_uuid *uuids,
               const vtpm_host_key *keys, vtpm_traitset *state, bool change, int workers)
{
    char name[96];
    fleet_publisher *pub = fleet_publisher_new(dsn, a->f.hosts, uuids, keys);
    fleet_opts o = a->f;
    double p50, p99, rate, cpu0 = db_cpu_s(a), self0 = self_cpu_s();
    int failed;

    o.publish = fleet_publisher_publish;
    o.publish_ctx = pub;
    vtpm_strfmt(name, sizeof(name), "saturated, %s, %s:", path, change ? "changed" : "unchanged");
    rate = fleet_saturate(&o, state, change, a->saturate, workers, &p50, &p99, &failed);
    printf("%-46s n=%d clients=%d rate=%.1f/s p50=%.2fms p99=%.2fms failed=%d "
           "database CPU=%.0fus/report client CPU=%.0fus/report\n",
           name, a->saturate, workers, rate, p50 * 1e3, p99 * 1e3, failed,
           (db_cpu_s(a) - cpu0) / a->saturate * 1e6, (self_cpu_s() - self0) / a->saturate * 1e6);
    fflush(stdout);
    fleet_publisher_free(pub);
}

static void
usage(void)
{
    fprintf(stderr,
        "usage: bench_fleet --admin-dsn DSN --publish-dsn DSN --cache-dsn DSN\n"
        "                   [--hosts N] [--duration S] [--scale X] [--workers N]\n"
        "                   [--heartbeat S] [--period S] [--start-delay S]\n"
        "                   [--change-per-hour F] [--pid POSTMASTER_PID]...\n"
        "                   [--saturate N [--saturate-workers N]... [--direct-dsn DSN]]\n");
    exit(2);
}

#define P "bench_fleet"

static void
parse_args(int argc, char **argv, fleet_args *a)
{
    static const struct option longopts[] = {
        { "admin-dsn", required_argument, NULL, 'a' },
        { "publish-dsn", required_argument, NULL, 'p' },
        { "cache-dsn", required_argument, NULL, 'c' },
        { "hosts", required_argument, NULL, 'n' },
        { "duration", required_argument, NULL, 'd' },
        { "scale", required_argument, NULL, 's' },
        { "workers", required_argument, NULL, 'w' },
        { "heartbeat", required_argument, NULL, 'b' },
        { "period", required_argument, NULL, 'P' },
        { "start-delay", required_argument, NULL, 'D' },
        { "change-per-hour", required_argument, NULL, 'C' },
        { "pid", required_argument, NULL, 'i' },
        { "direct-dsn", required_argument, NULL, 'x' },
        { "saturate", required_argument, NULL, 'S' },
        { "saturate-workers", required_argument, NULL, 'W' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'a': a->admin_dsn = optarg; break;
        case 'p': a->publish_dsn = optarg; break;
        case 'c': a->cache_dsn = optarg; break;
        case 'n': a->f.hosts = bench_parse_int(P, "hosts", optarg, 1, 1000000); break;
        case 'd': a->f.duration = bench_parse_double(P, "duration", optarg, 1, 86400); break;
        case 's': a->f.scale = bench_parse_double(P, "scale", optarg, 0.01, 1000); break;
        case 'w':
            a->f.workers = bench_parse_int(P, "workers", optarg, 1, FLEET_MAX_WORKERS);
            break;
        case 'b': a->f.heartbeat = bench_parse_double(P, "heartbeat", optarg, 0, 86400); break;
        case 'P': a->f.period = bench_parse_double(P, "period", optarg, 1, 86400); break;
        case 'D':
            a->f.start_delay_max = bench_parse_double(P, "start-delay", optarg, 0, 3600);
            break;
        case 'C':
            a->change_per_hour = bench_parse_double(P, "change-per-hour", optarg, 0, 3600);
            break;
        case 'x': a->direct_dsn = optarg; break;
        case 'S': a->saturate = bench_parse_int(P, "saturate", optarg, 0, 10000000); break;
        case 'W':
            if (a->nsaturate_workers == 4)
                usage();
            a->saturate_workers[a->nsaturate_workers++] =
                bench_parse_int(P, "saturate-workers", optarg, 1, FLEET_MAX_WORKERS);
            break;
        case 'i':
            if (a->npids < 8)
                a->pids[a->npids++] = bench_parse_int(P, "pid", optarg, 1, INT_MAX);
            break;
        default: usage();
        }
    }
    if (!a->admin_dsn || !a->publish_dsn || !a->cache_dsn || a->f.hosts < 1 ||
        a->f.workers < 1 || a->f.workers > FLEET_MAX_WORKERS || a->f.scale <= 0 ||
        a->f.period <= 0 || a->f.duration <= 0 || a->saturate < 0 || a->saturate > a->f.hosts)
        usage();
    if (a->nsaturate_workers == 0)
        a->saturate_workers[a->nsaturate_workers++] = 4;
    a->f.change_per_run = a->change_per_hour * a->f.period / 3600.0;
}

int
main(int argc, char **argv)
{
    fleet_args a = { .change_per_hour = 0.01,
                     .f = { .hosts = 100000, .period = 60, .start_delay_max = 30,
                            .heartbeat = 300, .duration = 600, .scale = 1, .workers = 8,
                            .rng_seed = 12345 } };
    PGconn *admin;
    vtpm_uuid *uuids;
    vtpm_traitset *traits;
    vtpm_inventory *cache;
    vtpm_error err = { 0 };
    fleet_publisher *pub;
    vtpm_host_key *keys;
    fleet_stats s;
    fleet_truth truth;
    fleet_db d0, d1;
    double cpu0, gen0, t_seed;
    int bad, differ;

    parse_args(argc, argv, &a);
    admin = PQconnectdb(a.admin_dsn);
    if (PQstatus(admin) != CONNECTION_OK) {
        fprintf(stderr, "bench_fleet: %s", PQerrorMessage(admin));
        return 1;
    }
    uuids = calloc((size_t)a.f.hosts, sizeof(*uuids));
    traits = calloc((size_t)a.f.hosts, sizeof(*traits));
    if (!uuids || !traits)
        abort();
    t_seed = now_s();
    fleet_seed_db(admin, a.f.hosts, uuids, traits);
    keys = fleet_keys_create(admin, a.f.hosts);
    t_seed = now_s() - t_seed;
    pub = fleet_publisher_new(a.publish_dsn, a.f.hosts, uuids, keys);
    a.f.publish = fleet_publisher_publish;
    a.f.publish_ctx = pub;
    if (!(cache = vtpm_inventory_open(a.cache_dsn, 0, &err))) {
        fprintf(stderr, "bench_fleet: cache: %s\n", err.message);
        return 1;
    }
    printf("seeded %d hosts and their keys in %.1fs; the cache holds %zu providers\n",
           a.f.hosts, t_seed, vtpm_inventory_size(cache));
    fflush(stdout);
    db_measure(admin, &d0);
    cpu0 = db_cpu_s(&a);
    gen0 = self_cpu_s();
    fleet_run(&a.f, &(fleet_seed){ uuids, traits }, cache, &s, &truth);
    db_measure(admin, &d1);
    bad = fleet_verify(admin, a.f.hosts, &truth, &differ);
    print_report(&a, &s, &d0, &d1, db_cpu_s(&a) - cpu0, self_cpu_s() - gen0, bad, differ);
    fflush(stdout);
    /* The fleet's common publish (a heartbeat: unchanged) and a change, for
     * each number of clients; straight to PostgreSQL with the first. */
    for (int w = 0; a.saturate > 0 && w < a.nsaturate_workers; w++) {
        saturate_phase(&a, "PgBouncer", a.publish_dsn, uuids, keys, truth.acked, false,
                       a.saturate_workers[w]);
        saturate_phase(&a, "PgBouncer", a.publish_dsn, uuids, keys, truth.acked, true,
                       a.saturate_workers[w]);
        if (a.direct_dsn && w == 0) {
            saturate_phase(&a, "direct", a.direct_dsn, uuids, keys, truth.acked, false,
                           a.saturate_workers[w]);
            saturate_phase(&a, "direct", a.direct_dsn, uuids, keys, truth.acked, true,
                           a.saturate_workers[w]);
        }
    }
    vtpm_inventory_close(cache);
    fleet_publisher_free(pub);
    for (int i = 0; i < a.f.hosts; i++)
        vtpm_host_key_clear(&keys[i]);
    free(keys);
    free(truth.traits);
    free(truth.acked);
    free(uuids);
    free(traits);
    PQfinish(admin);
    return bad == 0 && s.failed == 0 ? 0 : 1;
}
