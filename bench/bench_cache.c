/* SPDX-License-Identifier: Apache-2.0 */
/* Inventory cache benchmark: load, in-memory candidates next to the same SQL, change propagation. */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include <vtpm/inventory.h>

#include "bench_util.h"

#define T20 "COMPUTE_SECURITY_TPM_2_0"
#define T12 "COMPUTE_SECURITY_TPM_1_2"
#define MAX_RUNS 1000

typedef struct {
    const char *dsn;
    long hosts;
    int runs;
    int changes;
} bench_opts;

/* @s seconds as "12.3us" below a millisecond, else "1.18ms", in @buf. */
static const char *
duration_format(char *buf, size_t size, double s)
{
    if (s < 1e-3)
        snprintf(buf, size, "%.1fus", s * 1e6);
    else
        snprintf(buf, size, "%.2fms", s * 1e3);
    return buf;
}

/* Sorts @lat (seconds) and prints one line; returns the median. */
static double
print_times(const char *name, long rows, double *lat, int runs)
{
    char median[32], min[32], max[32];

    qsort(lat, (size_t)runs, sizeof(*lat), compare_double);
    printf("%-34s rows=%-6ld runs=%d median=%s min=%s max=%s\n", name, rows, runs,
           duration_format(median, sizeof(median), lat[runs / 2]),
           duration_format(min, sizeof(min), lat[0]),
           duration_format(max, sizeof(max), lat[runs - 1]));
    fflush(stdout);
    return lat[runs / 2];
}

static PGresult *
pg_check(PGconn *conn, PGresult *res)
{
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "bench_cache: %s", PQerrorMessage(conn));
        exit(1);
    }
    return res;
}

/* Publishes hosts @first..@last (server-side, one statement): even ones TPM 2.0, odd ones 1.2. */
static void
hosts_fill(PGconn *conn, long first, long last)
{
    char sql[1024];

    snprintf(sql, sizeof(sql),
        "SELECT count(p.*) FROM generate_series(%ld, %ld) AS i, LATERAL vtpm.publish("
        "'bench-host-' || lpad(i::text, 6, '0'), NULL, false, NULL, "
        "(SELECT jsonb_object_agg(t.name, jsonb_build_object('present', "
        "t.name = CASE WHEN i %% 2 = 0 THEN '" T20 "' ELSE '" T12 "' END, "
        "'code', 'ok', 'reason', 'bulk')) FROM vtpm.traits t WHERE t.bit IS NOT NULL), "
        "NULL) AS p", first, last);
    PQclear(pg_check(conn, PQexec(conn, sql)));
    PQclear(pg_check(conn, PQexec(conn, "VACUUM ANALYZE vtpm.resource_providers, vtpm.trait_index")));
}

static vtpm_inventory *
inventory_open_or_die(const char *dsn)
{
    vtpm_error err = { 0 };
    vtpm_inventory *inv = vtpm_inventory_open(dsn, 0, &err);

    if (!inv) {
        fprintf(stderr, "bench_cache: %s\n", err.message);
        exit(1);
    }
    return inv;
}

static void
bench_open(const bench_opts *o, vtpm_inventory **keep)
{
    double lat[MAX_RUNS];
    int runs = o->runs < 10 ? o->runs : 10;
    long rows = 0;

    for (int r = 0; r < runs; r++) {
        double t0 = now_s();
        vtpm_inventory *inv = inventory_open_or_die(o->dsn);

        lat[r] = now_s() - t0;
        rows = (long)vtpm_inventory_size(inv);
        if (r == runs - 1)
            *keep = inv;
        else
            vtpm_inventory_close(inv);
    }
    print_times("cache open (LISTEN + load)", rows, lat, runs);
}

/* @runs in-memory candidate questions; returns the median in seconds. */
static double
bench_candidates(const char *name, const vtpm_inventory *inv, vtpm_traitset required,
                 size_t max, vtpm_uuid *out, int runs)
{
    double lat[MAX_RUNS];
    size_t n = 0;

    /* Warm-up: the first scan pays for faulting in the output pages. */
    (void)vtpm_inventory_candidates(inv, required, 0, out, max);
    for (int r = 0; r < runs; r++) {
        double t0 = now_s();

        n = vtpm_inventory_candidates(inv, required, 0, out, max);
        lat[r] = now_s() - t0;
    }
    /* Counting only: the count is the answer. */
    return print_times(name, (long)(out && max < n ? max : n), lat, runs);
}

/* The same question in SQL, as a scheduler asks it: prepared, binary results. */
static double
bench_sql(PGconn *conn, int runs)
{
    double lat[MAX_RUNS];
    long rows = 0;

    PQclear(pg_check(conn, PQprepare(conn, "bench_candidates",
                                     "SELECT * FROM vtpm.candidate_uuids('{" T20 "}')", 0,
                                     NULL)));
    for (int r = 0; r < runs; r++) {
        double t0 = now_s();
        PGresult *res = pg_check(conn, PQexecPrepared(conn, "bench_candidates", 0, NULL, NULL,
                                                      NULL, 1));

        rows = PQntuples(res);
        PQclear(res);
        lat[r] = now_s() - t0;
    }
    PQclear(pg_check(conn, PQexec(conn, "DEALLOCATE bench_candidates")));
    return print_times("SQL candidate_uuids TPM_2_0", rows, lat, runs);
}

/*
 * Publishes a trait change on @conn and refreshes @inv (waiting on its
 * socket) until it holds the new generation: from the publish's commit, and
 * from the publish's start.
 */
static void
bench_propagation(PGconn *conn, vtpm_inventory *inv, int changes)
{
    static const char publish_sql[] =
        "SELECT p.generation, rp.uuid::text FROM vtpm.publish('bench-host-000000', NULL, false, "
        "NULL, (SELECT jsonb_object_agg(t.name, jsonb_build_object('present', "
        "t.name = '" T20 "' OR (t.name = 'COMPUTE_SECURITY_TPM_CRB' AND $1::int % 2 = 0), "
        "'code', 'ok', 'reason', 'bench')) FROM vtpm.traits t WHERE t.bit IS NOT NULL), NULL) p "
        "JOIN vtpm.resource_providers rp ON rp.name = 'bench-host-000000'";
    double from_commit[MAX_RUNS], from_start[MAX_RUNS];
    int done = 0;

    for (int i = 0; i < changes; i++) {
        char round[16];
        const char *values[1] = { round };
        double t0, t1;
        int64_t want, gen = -1;
        vtpm_uuid uuid;
        PGresult *res;

        snprintf(round, sizeof(round), "%d", i);
        t0 = now_s();
        res = pg_check(conn, PQexecParams(conn, publish_sql, 1, NULL, values, NULL, NULL, 0));
        t1 = now_s();
        want = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        if (vtpm_uuid_parse(PQgetvalue(res, 0, 1), &uuid, NULL) != VTPM_OK) {
            fprintf(stderr, "bench_cache: bad uuid from the database\n");
            exit(1);
        }
        PQclear(res);
        while (!vtpm_inventory_lookup(inv, &uuid, NULL, &gen) || gen < want) {
            vtpm_error err = { 0 };

            if (vtpm_inventory_refresh(inv, 1000, &err) != VTPM_OK) {
                fprintf(stderr, "bench_cache: %s\n", err.message);
                exit(1);
            }
            if (now_s() - t1 > 10) {
                fprintf(stderr, "bench_cache: change %d never reached the cache\n", i);
                exit(1);
            }
        }
        from_commit[done] = now_s() - t1;
        from_start[done] = now_s() - t0;
        done++;
    }
    print_times("change seen, from commit", 1, from_commit, done);
    print_times("change seen, from publish start", 1, from_start, done);
}

static void
bench_cache(const bench_opts *o)
{
    PGconn *conn = PQconnectdb(o->dsn);
    vtpm_inventory *inv = NULL;
    vtpm_uuid *out;
    double mem, sql;
    char name[96];

    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "bench_cache: cannot connect: %s", PQerrorMessage(conn));
        exit(1);
    }
    PQclear(pg_check(conn, PQexec(conn, "SET client_min_messages = warning")));
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("== inventory cache: %ld hosts, half TPM_2_0, half TPM_1_2 ==\n", o->hosts);
    hosts_fill(conn, 0, o->hosts - 1);

    bench_open(o, &inv);
    if (!(out = calloc(vtpm_inventory_size(inv) + 1, sizeof(*out)))) {
        fprintf(stderr, "bench_cache: out of memory\n");
        exit(1);
    }
    snprintf(name, sizeof(name), "cache candidates TPM_2_0 @%ld", o->hosts);
    mem = bench_candidates(name, inv, VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0),
                           vtpm_inventory_size(inv), out, o->runs);
    snprintf(name, sizeof(name), "cache candidates max 1000 @%ld", o->hosts);
    bench_candidates(name, inv, VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0), 1000, out, o->runs);
    snprintf(name, sizeof(name), "cache count TPM_2_0 @%ld", o->hosts);
    bench_candidates(name, inv, VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0), 0, NULL, o->runs);
    sql = bench_sql(conn, o->runs);
    printf("%-34s %.0fx faster in memory (medians, all matches)\n", "cache vs SQL", sql / mem);
    bench_propagation(conn, inv, o->changes);
    printf("%-34s notifications=%llu applied=%llu ignored=%llu reloads=%llu\n", "cache counters",
           (unsigned long long)vtpm_inventory_counter(inv, VTPM_INVENTORY_NOTIFICATIONS),
           (unsigned long long)vtpm_inventory_counter(inv, VTPM_INVENTORY_ROWS_APPLIED),
           (unsigned long long)vtpm_inventory_counter(inv, VTPM_INVENTORY_NOTIFICATIONS_IGNORED),
           (unsigned long long)vtpm_inventory_counter(inv, VTPM_INVENTORY_RELOADS));
    free(out);
    vtpm_inventory_close(inv);
    PQfinish(conn);
}

/* A positive number no larger than @max from @text, or -1. */
static long
number_parse(const char *text, long max)
{
    char *end = NULL;
    long v = strtol(text, &end, 10);

    return end && end != text && *end == '\0' && v > 0 && v <= max ? v : -1;
}

int
main(int argc, char **argv)
{
    static const struct option options[] = {
        { "dsn", required_argument, NULL, 'd' },
        { "hosts", required_argument, NULL, 'n' },
        { "runs", required_argument, NULL, 'r' },
        { "changes", required_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    bench_opts o = { .dsn = getenv("VTPM_DSN"), .hosts = 10000, .runs = 50, .changes = 50 };
    int c;

    while ((c = getopt_long(argc, argv, "d:n:r:c:h", options, NULL)) != -1) {
        switch (c) {
        case 'd':
            o.dsn = optarg;
            break;
        case 'n':
            o.hosts = number_parse(optarg, 1000000);
            break;
        case 'r':
            o.runs = (int)number_parse(optarg, MAX_RUNS);
            break;
        case 'c':
            o.changes = (int)number_parse(optarg, MAX_RUNS);
            break;
        default:
            fprintf(stderr, "usage: bench_cache --dsn DSN [--hosts N] [--runs R] [--changes C]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (!o.dsn || o.hosts < 0 || o.runs < 0 || o.changes < 0) {
        fprintf(stderr, "bench_cache: need --dsn (or VTPM_DSN); --hosts 1-1000000, --runs and "
                        "--changes 1-%d\n", MAX_RUNS);
        return 2;
    }
    bench_cache(&o);
    return 0;
}
