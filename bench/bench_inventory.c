/* SPDX-License-Identifier: Apache-2.0 */
/* Inventory benchmark: publishes/s and candidate queries, against Placement's API doing the same. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "bench_util.h"
#include "http.h"
#include "publish_pg.h"
#include "util.h"

#define PROG "bench_inventory"

#define T20 "COMPUTE_SECURITY_TPM_2_0"
#define T12 "COMPUTE_SECURITY_TPM_1_2"
#define TCRB "COMPUTE_SECURITY_TPM_CRB"

typedef struct {
    const char *dsn;            /* inventory */
    const char *placement;      /* Placement URL, or NULL */
    int hosts;
    int big;                    /* hosts for the second candidate measurement */
    int clients;
    int placement_n;            /* PUTs per Placement phase */
    int publish_n;              /* publishes per inventory phase */
    int runs;
    bool get_only;              /* only the Placement GET (hosts added by SQL) */
    unsigned int phases;        /* BENCH_PHASE_* */
} bench_opts;

enum {
    BENCH_PHASE_RUN = 1,        /* new connection per publish */
    BENCH_PHASE_KEPT = 2,       /* kept-open connections */
    BENCH_PHASE_CANDIDATES = 4,
    BENCH_PHASE_ALL = 7,
};

/* The inventory's postmaster when it runs on this machine (its reaped
 * children's CPU is the run path's server CPU), else -1. */
static long postmaster_pid = -1;

static void
print_phase(const char *name, int n, double wall, double *lat, int errors)
{
    qsort(lat, (size_t)n, sizeof(*lat), compare_double);
    printf("%-34s n=%-6d wall=%7.2fs rate=%8.1f/s median=%7.2fms p90=%7.2fms p99=%7.2fms errors=%d\n",
           name, n, wall, n / wall, lat[n / 2] * 1e3, lat[n * 9 / 10] * 1e3,
           lat[n * 99 / 100] * 1e3, errors);
    fflush(stdout);
}

/* CPU seconds (user + system) of process @pid, or of its reaped children with
 * @children; its parent's pid in *@ppid if not NULL. -1 when unknown (the
 * server runs elsewhere). */
static double
proc_cpu_s(long pid, bool children, long *ppid)
{
    char path[64], buf[1024];
    unsigned long long ut, st;
    long long cut, cst;
    long parent;
    const char *p;
    FILE *f;
    size_t n;

    if (pid <= 0)
        return -1;
    vtpm_strfmt(path, sizeof(path), "/proc/%ld/stat", pid);
    if (!(f = fopen(path, "r")))
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* After "pid (comm) ": state ppid pgrp session tty tpgid flags minflt
     * cminflt majflt cmajflt utime stime cutime cstime. */
    /* sscanf suits the kernel's fixed format; the count of fields is checked. */
    if (!(p = strrchr(buf, ')')) ||
        sscanf(p + 1, /* NOLINT(cert-err34-c) */
               " %*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld",
               &parent, &ut, &st, &cut, &cst) != 5)
        return -1;
    if (ppid)
        *ppid = parent;
    return (children ? (double)(cut + cst) : (double)(ut + st)) / (double)sysconf(_SC_CLK_TCK);
}

static double
self_cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* The phase's CPU time per operation: this program's and the database's. */
static void
print_cpu(int n, double client_s, double server_s)
{
    printf("%-34s client=%6.1fus/op", "", client_s / n * 1e6);
    if (server_s >= 0)
        printf(" server=%7.1fus/op", server_s / n * 1e6);
    else
        printf(" server=n/a");
    printf("\n");
    fflush(stdout);
}

static void
host_name(char *buf, size_t size, int i)
{
    vtpm_strfmt(buf, size, "bench-host-%06d", i);
}

/* Placement's benchmark pattern: even hosts TPM 2.0, odd hosts TPM 1.2; @flip swaps. */
static vtpm_traitset
host_traits(int i, int flip)
{
    return ((i + flip) % 2 == 0) ? VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0)
                                 : VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2);
}

/* ---- inventory: vtpm_pg_publish, as `vtpm-reporter run` calls it ---- */

typedef struct {
    const bench_opts *o;
    int first, step, count, flip;
    double *lat;
    int errors;
    vtpm_publish_status expect;
    bool persistent;            /* one connection for the whole phase */
    double server_cpu;          /* its backend's CPU seconds, -1 if unknown */
} pg_worker;

static void *
pg_worker_main(void *arg)
{
    pg_worker *w = arg;
    PGconn *conn = w->persistent ? PQconnectdb(w->o->dsn) : NULL;
    long backend = conn ? PQbackendPID(conn) : 0;
    double cpu0 = proc_cpu_s(backend, false, NULL);
    vtpm_report r;

    memset(&r, 0, sizeof(r));
    r.facts_json = (char *)"{\"bench\": true}";
    for (int k = 0; k < w->count; k++) {
        int i = w->first + k * w->step;
        vtpm_traitset set = host_traits(i, w->flip);
        vtpm_publish_result res;
        double t0 = now_s();

        host_name(r.host, sizeof(r.host), i);
        for (int t = 0; t < VTPM_TRAIT_COUNT; t++) {
            bool on = (set & VTPM_TRAITSET_BIT(t)) != 0;

            r.traits[t].state = on ? VTPM_TRAIT_STATE_PRESENT : VTPM_TRAIT_STATE_ABSENT;
            r.traits[t].reason_code = on ? "ok" : "bench";
            vtpm_strfmt(r.traits[t].reason, sizeof(r.traits[t].reason), "%s in benchmark",
                        on ? "present" : "absent");
        }
        if (conn)
            vtpm_pg_publish_conn(conn, &r, &res);
        else
            vtpm_pg_publish(w->o->dsn, &r, &res);
        w->lat[k] = now_s() - t0;
        if (res.status != w->expect && !(w->expect == VTPM_PUBLISH_CHANGED &&
                                         res.status == VTPM_PUBLISH_CHANGED)) {
            if (w->errors++ == 0)
                fprintf(stderr, "publish: %s\n", res.message);
        }
    }
    w->server_cpu = cpu0 >= 0 ? proc_cpu_s(backend, false, NULL) - cpu0 : -1;
    PQfinish(conn);
    return NULL;
}

static void
pg_publish_phase(const bench_opts *o, const char *name, int n, int clients, int flip,
                 vtpm_publish_status expect, bool persistent)
{
    pthread_t th[64];
    pg_worker w[64];
    double *lat = calloc((size_t)n, sizeof(*lat));
    double t0, wall, client0 = self_cpu_s(), server = 0;
    double reaped0 = persistent ? -1 : proc_cpu_s(postmaster_pid, true, NULL);
    int errors = 0, off = 0;

    t0 = now_s();
    for (int c = 0; c < clients; c++) {
        w[c] = (pg_worker){ .o = o, .first = c, .step = clients,
                            .count = (n - c + clients - 1) / clients, .flip = flip,
                            .lat = calloc((size_t)n, sizeof(double)), .expect = expect,
                            .persistent = persistent };
        pthread_create(&th[c], NULL, pg_worker_main, &w[c]);
    }
    for (int c = 0; c < clients; c++) {
        pthread_join(th[c], NULL);
        memcpy(lat + off, w[c].lat, (size_t)w[c].count * sizeof(double));
        off += w[c].count;
        errors += w[c].errors;
        free(w[c].lat);
        if (server >= 0 && persistent)
            server = w[c].server_cpu < 0 ? -1 : server + w[c].server_cpu;
    }
    wall = now_s() - t0;
    if (!persistent) {
        /* The postmaster reaps the last backends a moment after they exit. */
        struct timespec pause = { 0, 200 * 1000 * 1000 };

        nanosleep(&pause, NULL);
        server = reaped0 >= 0 ? proc_cpu_s(postmaster_pid, true, NULL) - reaped0 : -1;
    }
    print_phase(name, n, wall, lat, errors);
    print_cpu(n, self_cpu_s() - client0, server);
    free(lat);
}

static void
pg_exec(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);

    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "bench: %s", PQerrorMessage(conn));
        exit(1);
    }
    PQclear(res);
}

/*
 * The least any publish that records a report can cost here: one prepared
 * statement that bumps a provider's generation and inserts its report row
 * (the same traits document a reporter sends), committed, over a kept
 * connection; no validation, no traits, no reasons, no retention, no NOTIFY.
 * It bounds what vtpm.publish() could reach on this machine.
 */
static void
pg_floor_phase(PGconn *conn, int hosts, int n)
{
    static const char sql[] =
        "WITH p AS (UPDATE vtpm.resource_providers SET generation = generation + 1, "
        "last_report_at = now() WHERE name = $1 RETURNING id, generation) "
        "INSERT INTO vtpm.reports (provider_id, host, reporter, status, generation, present, traits) "
        "SELECT p.id, $1, current_user, 'changed', p.generation, '{}', $2::jsonb FROM p";
    char traits[2048] = "{", host[64];
    double *lat = calloc((size_t)n, sizeof(*lat));
    double t0, wall, client0 = self_cpu_s();
    double server0 = proc_cpu_s(PQbackendPID(conn), false, NULL);
    PGresult *res;
    int errors = 0;

    for (int t = 0; t < VTPM_TRAIT_COUNT; t++) {
        char item[256];

        vtpm_strfmt(item, sizeof(item),
                    "%s\"%s\": {\"code\": \"ok\", \"reason\": \"swtpm on this host supports it\", "
                    "\"present\": %s}", t ? ", " : "", vtpm_trait_name((vtpm_trait)t),
                    t % 2 ? "true" : "false");
        strncat(traits, item, sizeof(traits) - strlen(traits) - 1);
    }
    strncat(traits, "}", sizeof(traits) - strlen(traits) - 1);
    res = PQprepare(conn, "bench_floor", sql, 0, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fprintf(stderr, "bench: %s", PQerrorMessage(conn));
        exit(1);
    }
    PQclear(res);
    t0 = now_s();
    for (int i = 0; i < n; i++) {
        const char *values[2] = { host, traits };
        double t1 = now_s();

        vtpm_strfmt(host, sizeof(host), "bench-host-%06d", (i * 7919) % hosts);
        res = PQexecPrepared(conn, "bench_floor", 2, values, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK || strcmp(PQcmdTuples(res), "1") != 0)
            errors++;
        PQclear(res);
        lat[i] = now_s() - t1;
    }
    wall = now_s() - t0;
    pg_exec(conn, "DEALLOCATE bench_floor");
    print_phase("floor: generation + report row/1", n, wall, lat, errors);
    print_cpu(n, self_cpu_s() - client0, proc_cpu_s(PQbackendPID(conn), false, NULL) - server0);
    free(lat);
}

/*
 * Runs @sql @runs times fetching every row; prints rows and the median. With
 * @binary, as a scheduler would ask: a statement prepared once, results in
 * binary format (a uuid is 16 bytes instead of 36 characters to format and
 * parse).
 */
static void
pg_query_phase(PGconn *conn, const char *name, const char *sql, int runs, bool binary)
{
    double lat[64];
    int rows = 0;

    if (binary) {
        PGresult *res = PQprepare(conn, "bench_query", sql, 0, NULL);

        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            fprintf(stderr, "bench: %s", PQerrorMessage(conn));
            exit(1);
        }
        PQclear(res);
    }
    for (int r = 0; r < runs && r < 64; r++) {
        double t0 = now_s();
        PGresult *res = binary ? PQexecPrepared(conn, "bench_query", 0, NULL, NULL, NULL, 1)
                               : PQexec(conn, sql);

        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            fprintf(stderr, "bench: %s", PQerrorMessage(conn));
            exit(1);
        }
        rows = PQntuples(res);
        PQclear(res);
        lat[r] = now_s() - t0;
    }
    if (binary)
        pg_exec(conn, "DEALLOCATE bench_query");
    qsort(lat, (size_t)runs, sizeof(double), compare_double);
    printf("%-34s rows=%-6d runs=%d median=%.2fms min=%.2fms max=%.2fms\n", name, rows, runs,
           lat[runs / 2] * 1e3, lat[0] * 1e3, lat[runs - 1] * 1e3);
    fflush(stdout);
}

/* The candidate questions at @n hosts; @note is appended to each name. */
static void
candidate_queries(PGconn *conn, const bench_opts *o, int n, const char *note)
{
    char name[160];

    vtpm_strfmt(name, sizeof(name), "candidate_uuids TPM_2_0 @%d%s", n, note);
    pg_query_phase(conn, name, "SELECT * FROM vtpm.candidate_uuids('{" T20 "}')", o->runs, true);
    vtpm_strfmt(name, sizeof(name), "candidate_uuids, text, unprepared @%d%s", n, note);
    pg_query_phase(conn, name, "SELECT * FROM vtpm.candidate_uuids('{" T20 "}')", o->runs, false);
    vtpm_strfmt(name, sizeof(name), "candidates TPM_2_0 @%d%s", n, note);
    pg_query_phase(conn, name, "SELECT host, uuid FROM vtpm.candidates('{" T20 "}')", o->runs,
                   false);
    vtpm_strfmt(name, sizeof(name), "candidates 2_0+CRB+HOST @%d%s", n, note);
    pg_query_phase(conn, name,
                   "SELECT host, uuid FROM vtpm.candidates('{" T20 ",COMPUTE_SECURITY_TPM_CRB,"
                   "COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST}')", o->runs, false);
    vtpm_strfmt(name, sizeof(name), "candidate_count TPM_2_0 @%d%s", n, note);
    pg_query_phase(conn, name, "SELECT vtpm.candidate_count('{" T20 "}')", o->runs, false);
    vtpm_strfmt(name, sizeof(name), "candidates TPM_2_0 max 1000 @%d%s", n, note);
    pg_query_phase(conn, name, "SELECT host, uuid FROM vtpm.candidates('{" T20 "}', '{}', 1000)",
                   o->runs, false);
}

static void
bench_inventory(const bench_opts *o)
{
    PGconn *conn = PQconnectdb(o->dsn);
    char name[128], sql[1024];

    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "bench: cannot connect: %s", PQerrorMessage(conn));
        exit(1);
    }
    pg_exec(conn, "SET client_min_messages = warning");
    proc_cpu_s(PQbackendPID(conn), false, &postmaster_pid);
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("== inventory: %d hosts, publishes through vtpm_pg_publish ==\n", o->hosts);
    /* The hosts, published by the server itself (fast setup). */
    vtpm_strfmt(sql, sizeof(sql),
        "SELECT count(p.*) FROM generate_series(0, %d) AS i, LATERAL vtpm.publish("
        "'bench-host-' || lpad(i::text, 6, '0'), NULL, false, NULL, "
        "(SELECT jsonb_object_agg(t.name, jsonb_build_object('present', "
        "t.name = CASE WHEN i %% 2 = 0 THEN '" T20 "' ELSE '" T12 "' END, "
        "'code', 'ok', 'reason', 'bulk')) FROM vtpm.traits t WHERE t.bit IS NOT NULL), "
        "NULL) AS p", o->hosts - 1);
    pg_exec(conn, sql);
    /* Every table, not only the providers: the first publish after the bulk
     * load would otherwise pay for setting hint bits on the reports and
     * reasons it reads, which steady-state publishes do not. */
    pg_exec(conn, "VACUUM ANALYZE");
    if (o->phases & BENCH_PHASE_RUN) {
        /* As `vtpm-reporter run` does it: connect, SELECT vtpm.publish(...), disconnect. */
        pg_publish_phase(o, "run path: change/1", o->publish_n, 1, 1, VTPM_PUBLISH_CHANGED, false);
        vtpm_strfmt(name, sizeof(name), "run path: change/%d", o->clients);
        pg_publish_phase(o, name, o->publish_n, o->clients, 0, VTPM_PUBLISH_CHANGED, false);
        pg_publish_phase(o, "run path: unchanged/1", o->publish_n, 1, 0, VTPM_PUBLISH_UNCHANGED,
                         false);
    }
    if (o->phases & BENCH_PHASE_KEPT) {
        /* Over kept-open connections, as Placement's clients use keep-alive. */
        pg_publish_phase(o, "one connection: change/1", o->publish_n, 1, 1, VTPM_PUBLISH_CHANGED,
                         true);
        vtpm_strfmt(name, sizeof(name), "one connection each: change/%d", o->clients);
        pg_publish_phase(o, name, o->publish_n, o->clients, 0, VTPM_PUBLISH_CHANGED, true);
        pg_publish_phase(o, "one connection: unchanged/1", o->publish_n, 1, 0,
                         VTPM_PUBLISH_UNCHANGED, true);
        pg_floor_phase(conn, o->hosts, o->publish_n);
    }
    if (!(o->phases & BENCH_PHASE_CANDIDATES)) {
        PQfinish(conn);
        return;
    }

    /* As autovacuum does after a bulk load: the pages become all-visible. */
    pg_exec(conn, "VACUUM ANALYZE vtpm.resource_providers, vtpm.trait_index");
    for (int pass = 0; pass < 2; pass++) {
        int n = pass == 0 ? o->hosts : o->big;

        if (pass == 1) {
            /* More hosts, published by the server itself to save time. */
            vtpm_strfmt(sql, sizeof(sql),
                "SELECT count(p.*) FROM generate_series(%d, %d) AS i, LATERAL vtpm.publish("
                "'bench-host-' || lpad(i::text, 6, '0'), NULL, false, NULL, "
                "(SELECT jsonb_object_agg(t.name, jsonb_build_object('present', "
                "t.name = CASE WHEN i %% 2 = 0 THEN '" T20 "' ELSE '" T12 "' END, "
                "'code', 'ok', 'reason', 'bulk')) FROM vtpm.traits t WHERE t.bit IS NOT NULL), "
                "NULL) AS p", o->hosts, o->big - 1);
            pg_exec(conn, sql);
            pg_exec(conn, "VACUUM ANALYZE vtpm.resource_providers, vtpm.trait_index");
        }
        candidate_queries(conn, o, n, "");
    }
    /* What trait changes since the last VACUUM cost the index-only scan: flip
     * a tenth of the hosts (their index pages stop being all-visible until
     * autovacuum passes again), then ask again. */
    vtpm_strfmt(sql, sizeof(sql),
        "SELECT count(p.*) FROM generate_series(0, %d, 10) AS i, LATERAL vtpm.publish("
        "'bench-host-' || lpad(i::text, 6, '0'), NULL, false, NULL, "
        "(SELECT jsonb_object_agg(t.name, jsonb_build_object('present', "
        "t.name = CASE WHEN i %% 2 = 0 THEN '" T20 "' ELSE '" T12 "' END "
        "OR t.name = '" TCRB "', 'code', 'ok', 'reason', 'bulk')) "
        "FROM vtpm.traits t WHERE t.bit IS NOT NULL), NULL) AS p", o->big - 1);
    pg_exec(conn, sql);
    candidate_queries(conn, o, o->big, ", 10% changed since VACUUM");
    PQfinish(conn);
}

/* ---- Placement: the same work through its REST API ---- */

/* A handle that waits two minutes for an answer; exits when it cannot. */
static vtpm_http *
http_open(void)
{
    vtpm_http_conf conf = { .timeout = 120 };
    char err[256];
    vtpm_http *http = vtpm_http_new(&conf, err, sizeof(err));

    if (!http) {
        fprintf(stderr, "bench_inventory: %s\n", err);
        exit(1);
    }
    return http;
}

/* The HTTP status of one request to Placement, 0 when there was no answer. */
static long
http_call(vtpm_http *http, const char *method, const char *url, const char *body,
          vtpm_http_response *out)
{
    static const char *const headers[] = {
        "X-Auth-Token: admin", "OpenStack-API-Version: placement 1.39",
        "Content-Type: application/json", "Accept: application/json", NULL,
    };

    return vtpm_http_request(http, method, url, headers, body, out) < 0 ? 0 : out->status;
}

static void
rp_uuid(char *buf, size_t size, int i)
{
    vtpm_strfmt(buf, size, "b0000000-0000-4000-8000-%012d", i);
}

typedef struct {
    const bench_opts *o;
    int first, step, count, flip;
    const char *phase;          /* "create", "put" */
    long long *gens;
    double *lat;
    int errors;
} pl_worker;

static void *
pl_worker_main(void *arg)
{
    pl_worker *w = arg;
    vtpm_http *http = http_open();
    vtpm_http_response buf = { 0 };
    char url[512], body[512], uuid[64], name[64];

    for (int k = 0; k < w->count; k++) {
        int i = w->first + k * w->step;
        double t0 = now_s();
        long code;

        rp_uuid(uuid, sizeof(uuid), i);
        if (strcmp(w->phase, "create") == 0) {
            host_name(name, sizeof(name), i);
            vtpm_strfmt(url, sizeof(url), "%s/resource_providers", w->o->placement);
            vtpm_strfmt(body, sizeof(body), "{\"name\":\"%s\",\"uuid\":\"%s\"}", name, uuid);
            code = http_call(http, "POST", url, body, &buf);
            if (code == 200)
                w->gens[i] = 0;
            else if (code != 409)
                w->errors++;
        } else {
            /* What the reporter's Placement publisher does: PUT with the
             * generation it knows, the trait set replaced. */
            vtpm_strfmt(url, sizeof(url), "%s/resource_providers/%s/traits", w->o->placement, uuid);
            vtpm_strfmt(body, sizeof(body), "{\"resource_provider_generation\":%lld,\"traits\":[\"%s\"]}",
                        w->gens[i], host_traits(i, w->flip) == VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0) ? T20 : T12);
            code = http_call(http, "PUT", url, body, &buf);
            if (code == 200) {
                json_t *doc = json_loads(buf.body, 0, NULL);

                w->gens[i] = json_integer_value(json_object_get(doc, "resource_provider_generation"));
                json_decref(doc);
            } else if (w->errors++ == 0) {
                fprintf(stderr, "PUT %s: %ld %.200s\n", uuid, code, buf.body ? buf.body : "");
            }
        }
        w->lat[k] = now_s() - t0;
    }
    vtpm_http_response_clear(&buf);
    vtpm_http_free(http);
    return NULL;
}

static void
pl_phase(const bench_opts *o, const char *label, const char *phase, int n, int clients,
         int flip, long long *gens) /* NOLINT(readability-non-const-parameter): workers write it */
{
    pthread_t th[64];
    pl_worker w[64];
    double *lat = calloc((size_t)n, sizeof(*lat));
    double t0 = now_s();
    int errors = 0, off = 0;

    for (int c = 0; c < clients; c++) {
        w[c] = (pl_worker){ .o = o, .first = c, .step = clients,
                            .count = (n - c + clients - 1) / clients, .flip = flip,
                            .phase = phase, .gens = gens,
                            .lat = calloc((size_t)n, sizeof(double)) };
        pthread_create(&th[c], NULL, pl_worker_main, &w[c]);
    }
    for (int c = 0; c < clients; c++) {
        pthread_join(th[c], NULL);
        memcpy(lat + off, w[c].lat, (size_t)w[c].count * sizeof(double));
        off += w[c].count;
        errors += w[c].errors;
        free(w[c].lat);
    }
    print_phase(label, n, now_s() - t0, lat, errors);
    free(lat);
}

static void
pl_get_phase(const bench_opts *o, const char *label, int runs)
{
    vtpm_http *http = http_open();
    vtpm_http_response buf = { 0 };
    char url[512];
    double lat[64];
    size_t rows = 0;

    vtpm_strfmt(url, sizeof(url), "%s/resource_providers?required=" T20, o->placement);
    for (int r = 0; r < runs && r < 64; r++) {
        double t0 = now_s();
        long code = http_call(http, "GET", url, NULL, &buf);
        json_t *doc;

        if (code != 200) {
            fprintf(stderr, "GET: %ld\n", code);
            exit(1);
        }
        doc = json_loads(buf.body, 0, NULL);
        rows = json_array_size(json_object_get(doc, "resource_providers"));
        json_decref(doc);
        lat[r] = now_s() - t0;
    }
    qsort(lat, (size_t)runs, sizeof(double), compare_double);
    printf("%-34s rows=%-6zu runs=%d median=%.2fms min=%.2fms max=%.2fms\n", label, rows, runs,
           lat[runs / 2] * 1e3, lat[0] * 1e3, lat[runs - 1] * 1e3);
    fflush(stdout);
    vtpm_http_response_clear(&buf);
    vtpm_http_free(http);
}

static void
bench_placement(const bench_opts *o)
{
    long long *gens = calloc((size_t)o->hosts, sizeof(*gens));
    char label[128];
    int n = o->placement_n < o->hosts ? o->placement_n : o->hosts;

    printf("== Placement API (%s), same work ==\n", o->placement);
    vtpm_strfmt(label, sizeof(label), "placement create/%d", o->clients);
    pl_phase(o, label, "create", o->hosts, o->clients, 0, gens);
    pl_phase(o, "placement PUT traits/1", "put", n, 1, 0, gens);
    vtpm_strfmt(label, sizeof(label), "placement PUT traits/%d", o->clients);
    pl_phase(o, label, "put", n, o->clients, 1, gens);
    pl_phase(o, "placement PUT unchanged/1", "put", n, 1, 1, gens);
    /* Hosts beyond @n keep the traits the first pass would give them. */
    for (int i = n; i < o->hosts; i++)
        gens[i] = 0;
    if (n < o->hosts) {
        vtpm_strfmt(label, sizeof(label), "placement PUT rest/%d", o->clients);
        pl_phase(o, label, "put", o->hosts, o->clients, 0, gens);
    }
    vtpm_strfmt(label, sizeof(label), "placement GET required=2_0 @%d", o->hosts);
    pl_get_phase(o, label, o->runs < 5 ? o->runs : 5);
    free(gens);
}

/* "run,kept,candidates" (any of them, comma-separated) to BENCH_PHASE_* bits; 0 if invalid. */
static unsigned int
parse_phases(const char *text)
{
    static const struct { const char *name; unsigned int bit; } names[] = {
        { "run", BENCH_PHASE_RUN }, { "kept", BENCH_PHASE_KEPT },
        { "candidates", BENCH_PHASE_CANDIDATES },
    };
    unsigned int phases = 0;
    const char *p = text;

    while (*p) {
        size_t len = strcspn(p, ",");
        unsigned int bit = 0;

        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            if (strlen(names[i].name) == len && strncmp(p, names[i].name, len) == 0)
                bit = names[i].bit;
        }
        if (!bit)
            return 0;
        phases |= bit;
        p += len;
        if (*p == ',')
            p++;
    }
    return phases;
}

int
main(int argc, char **argv)
{
    static const struct option options[] = {
        { "dsn", required_argument, NULL, 'd' },
        { "placement", required_argument, NULL, 'p' },
        { "hosts", required_argument, NULL, 'n' },
        { "big", required_argument, NULL, 'b' },
        { "clients", required_argument, NULL, 'c' },
        { "placement-n", required_argument, NULL, 'P' },
        { "runs", required_argument, NULL, 'r' },
        { "placement-get-only", no_argument, NULL, 'G' },
        { "publish-n", required_argument, NULL, 'N' },
        { "phases", required_argument, NULL, 'X' },
        { NULL, 0, NULL, 0 },
    };
    bench_opts o = { .hosts = 10000, .big = 100000, .clients = 4, .placement_n = 2000,
                     .publish_n = 2000, .runs = 15, .phases = BENCH_PHASE_ALL };
    vtpm_http *keep;
    int opt;

    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 'd': o.dsn = optarg; break;
        case 'p': o.placement = optarg; break;
        case 'n': o.hosts = bench_parse_int(PROG, "hosts", optarg, 2, INT_MAX); break;
        case 'b': o.big = bench_parse_int(PROG, "big", optarg, 0, INT_MAX); break;
        case 'c': o.clients = bench_parse_int(PROG, "clients", optarg, 1, 64); break;
        case 'P': o.placement_n = bench_parse_int(PROG, "placement-n", optarg, 1, INT_MAX); break;
        case 'r': o.runs = bench_parse_int(PROG, "runs", optarg, 1, 64); break;
        case 'G': o.get_only = true; break;
        case 'N': o.publish_n = bench_parse_int(PROG, "publish-n", optarg, 1, INT_MAX); break;
        case 'X':
            if ((o.phases = parse_phases(optarg)) == 0) {
                fprintf(stderr, "bench_inventory: --phases wants a list of run, kept, "
                                "candidates, not '%s'\n", optarg);
                return 2;
            }
            break;
        default:
            fprintf(stderr, "usage: bench_inventory --dsn DSN [--placement URL] [--hosts N] "
                            "[--big N] [--clients N] [--placement-n N] [--publish-n N] "
                            "[--runs N] [--phases run,kept,candidates]\n");
            return 2;
        }
    }
    if (o.publish_n > o.hosts)
        o.publish_n = o.hosts;
    if ((!o.dsn && !o.placement) || o.hosts < 2 || o.clients < 1 || o.clients > 64 || o.runs < 1 || o.runs > 64) {
        fprintf(stderr, "bench_inventory: --dsn or --placement is required; 1 <= clients <= 64, 1 <= runs <= 64\n");
        return 2;
    }
    /* libcurl's global state is set up by the first handle, before any thread. */
    keep = o.placement ? http_open() : NULL;
    if (o.get_only && o.placement) {
        char label[128];

        vtpm_strfmt(label, sizeof(label), "placement GET required=2_0 @%d", o.hosts);
        pl_get_phase(&o, label, o.runs < 5 ? o.runs : 5);
        vtpm_http_free(keep);
        return 0;
    }
    if (o.dsn)
        bench_inventory(&o);
    if (o.placement)
        bench_placement(&o);
    vtpm_http_free(keep);
    return 0;
}
