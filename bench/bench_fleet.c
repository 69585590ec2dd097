/* SPDX-License-Identifier: Apache-2.0 */
/* Fleet load generator: many hosts reporting on a timer, with heartbeats, a pool and a cache following. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <vtpm/inventory.h>

#include "bench_fleet.h"
#include "bench_util.h"
#include "util.h"

/*
 * The timer on every host fires at each period boundary and waits a random
 * start delay (systemd's RandomizedDelaySec, our start_delay_max) before the
 * run. A run probes; the probe result differs from the last published one
 * with the configured probability; the run publishes when it differs or the
 * last successful publish is at least one heartbeat old, else exits without
 * connecting. A publish is one new connection, one signed publish, one close.
 *
 * Time runs at @scale times real time: with --scale 2 a simulated minute takes
 * 30 s and the rate of runs doubles, which is how a smaller machine can be
 * pushed to a larger fleet's rate. The figures report both.
 */

typedef struct {
    vtpm_traitset truth;        /* what the host's probe says now */
    vtpm_traitset published;    /* what its last acknowledged publish said */
    double last_pub;            /* simulated time of that publish */
    atomic_bool busy;           /* a run is queued or publishing */
    atomic_uint seq;            /* changes made to truth, to spot superseded ones */
} fleet_host;

typedef struct {
    int host;
    double due;                 /* simulated time the run should start */
    vtpm_traitset traits;
    bool change;                /* traits differ from the last published */
} fleet_job;

/* A change acknowledged by the database, waiting to be seen by the cache. */
typedef struct {
    int host;
    vtpm_traitset traits;
    unsigned int seq;
    double acked;               /* real time */
} fleet_pending;

typedef struct {
    fleet_opts o;
    fleet_host *hosts;
    const vtpm_uuid *uuids;

    pthread_mutex_t lock;       /* the job queue and the pending list */
    pthread_cond_t cond;
    fleet_job *queue;
    size_t q_head, q_len, q_cap, q_max;
    bool done;

    fleet_pending *pending;
    size_t p_len, p_cap;

    double t0_real;             /* real time of simulated time 0 */
    fleet_stats stats;
    double *lat;                /* publish latencies, real seconds */
    size_t lat_len, lat_cap;
    double *lag;                /* cache lags, real seconds */
    size_t lag_len, lag_cap;
} fleet;

static double
sim_now(const fleet *f)
{
    return (now_s() - f->t0_real) * f->o.scale;
}

static void
sleep_until_sim(const fleet *f, double t)
{
    double wait = (t / f->o.scale + f->t0_real) - now_s();

    if (wait > 0)
        vtpm_bench_sleep(wait);
}

static double
random_unit(unsigned int *state)
{
    return (double)rand_r(state) / ((double)RAND_MAX + 1.0);
}

static void
push_double(double **v, size_t *len, size_t *cap, double x)
{
    if (*len == *cap) {
        *cap = *cap ? *cap * 2 : 4096;
        *v = realloc(*v, *cap * sizeof(**v));
        if (!*v)
            abort();
    }
    (*v)[(*len)++] = x;
}

/* ---- the job queue: the dispatcher pushes, the workers pop ---- */

static bool
queue_push(fleet *f, const fleet_job *job)
{
    pthread_mutex_lock(&f->lock);
    if (f->q_len == f->q_cap) {
        pthread_mutex_unlock(&f->lock);
        return false;
    }
    f->queue[(f->q_head + f->q_len) % f->q_cap] = *job;
    f->q_len++;
    if (f->q_len > f->q_max)
        f->q_max = f->q_len;
    pthread_cond_signal(&f->cond);
    pthread_mutex_unlock(&f->lock);
    return true;
}

static bool
queue_pop(fleet *f, fleet_job *job)
{
    pthread_mutex_lock(&f->lock);
    while (f->q_len == 0 && !f->done)
        pthread_cond_wait(&f->cond, &f->lock);
    if (f->q_len == 0) {
        pthread_mutex_unlock(&f->lock);
        return false;
    }
    *job = f->queue[f->q_head];
    f->q_head = (f->q_head + 1) % f->q_cap;
    f->q_len--;
    pthread_mutex_unlock(&f->lock);
    return true;
}

/* ---- the workers: one new connection per publish ---- */

static void
worker_record(fleet *f, const fleet_job *job, double started, double latency, bool ok,
              double late)
{
    fleet_host *h = &f->hosts[job->host];

    pthread_mutex_lock(&f->lock);
    push_double(&f->lat, &f->lat_len, &f->lat_cap, latency);
    if (late > f->stats.max_late)
        f->stats.max_late = late;
    if (late >= f->o.period)
        f->stats.missed++;
    if (ok) {
        f->stats.published++;
        h->published = job->traits;
        h->last_pub = started;
        if (job->change) {
            f->stats.changes_acked++;
            if (f->p_len == f->p_cap) {
                f->p_cap = f->p_cap ? f->p_cap * 2 : 256;
                f->pending = realloc(f->pending, f->p_cap * sizeof(*f->pending));
                if (!f->pending)
                    abort();
            }
            f->pending[f->p_len++] = (fleet_pending){ job->host, job->traits, h->seq, now_s() };
        }
    } else {
        f->stats.failed++;
    }
    pthread_mutex_unlock(&f->lock);
    atomic_store(&h->busy, false);
}

static void *
worker_main(void *arg)
{
    fleet *f = arg;
    fleet_job job;
    char err[256];

    while (queue_pop(f, &job)) {
        double started = sim_now(f);
        double t0 = now_s();
        bool ok = f->o.publish(f->o.publish_ctx, job.host, job.traits, err, sizeof(err));

        if (!ok) {
            pthread_mutex_lock(&f->lock);
            if (f->stats.failed < 5)
                fprintf(stderr, "fleet: host %d: %s\n", job.host, err);
            pthread_mutex_unlock(&f->lock);
        }
        worker_record(f, &job, started, now_s() - t0, ok, started - job.due);
    }
    return NULL;
}

/* ---- the dispatcher: every host's timer ---- */

typedef struct {
    double at;
    int host;
} fleet_slot;

static int
compare_run(const void *a, const void *b)
{
    const fleet_slot *x = a, *y = b;

    return (x->at > y->at) - (x->at < y->at);
}

/* One run of host @i at simulated time @at: probe, then skip or queue a publish. */
static void
dispatch_run(fleet *f, int i, double at, unsigned int *rng)
{
    fleet_host *h = &f->hosts[i];
    fleet_job job;

    f->stats.runs++;
    if (atomic_load(&h->busy)) {
        /* The real reporter would wait on its lock: this run misses its slot. */
        f->stats.overlaps++;
        return;
    }
    if (random_unit(rng) < f->o.change_per_run) {
        h->truth ^= VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2);
        h->seq++;
        f->stats.changes_made++;
    }
    job = (fleet_job){ .host = i, .due = at, .traits = h->truth,
                       .change = h->truth != h->published };
    if (!job.change && at - h->last_pub < f->o.heartbeat) {
        f->stats.skipped++;
        return;
    }
    atomic_store(&h->busy, true);
    if (!queue_push(f, &job)) {
        atomic_store(&h->busy, false);
        f->stats.overlaps++;
    }
}

static void
dispatch_period(fleet *f, fleet_slot *runs, double start, unsigned int *rng)
{
    for (int i = 0; i < f->o.hosts; i++)
        runs[i] = (fleet_slot){ start + random_unit(rng) * f->o.start_delay_max, i };
    qsort(runs, (size_t)f->o.hosts, sizeof(*runs), compare_run);
    for (int k = 0; k < f->o.hosts; k++) {
        if (runs[k].at > sim_now(f))
            sleep_until_sim(f, runs[k].at);
        dispatch_run(f, runs[k].host, runs[k].at, rng);
    }
}

/* ---- the follower: a scheduler's cache, and how late it sees each change ---- */

static void
follower_check(fleet *f, const vtpm_inventory *inv)
{
    size_t keep = 0;

    pthread_mutex_lock(&f->lock);
    for (size_t k = 0; k < f->p_len; k++) {
        fleet_pending *p = &f->pending[k];
        vtpm_traitset have;

        if (p->seq != f->hosts[p->host].seq && f->hosts[p->host].published != p->traits) {
            f->stats.lag_superseded++;
            continue;
        }
        if (vtpm_inventory_lookup(inv, &f->uuids[p->host], &have, NULL) &&
            (have & FLEET_MANAGED) == p->traits) {
            push_double(&f->lag, &f->lag_len, &f->lag_cap, now_s() - p->acked);
            continue;
        }
        f->pending[keep++] = *p;
    }
    f->p_len = keep;
    pthread_mutex_unlock(&f->lock);
}

typedef struct {
    fleet *f;
    vtpm_inventory *inv;
    atomic_bool stop;
} follower;

static void *
follower_main(void *arg)
{
    follower *fo = arg;
    vtpm_error err;

    while (!atomic_load(&fo->stop)) {
        /* Every millisecond: a change's notification may arrive before its
         * publisher has the answer (a change commits before its flush), and
         * the change is looked for only once it is acknowledged; a longer
         * wait here would be measured as the cache's lag. */
        if (vtpm_inventory_refresh(fo->inv, 1, &err) != VTPM_OK)
            fprintf(stderr, "fleet: cache: %s\n", err.message);
        follower_check(fo->f, fo->inv);
    }
    return NULL;
}

/* ---- the run ---- */

static void
fleet_drain(fleet *f, pthread_t *workers, follower *fo)
{
    double deadline = now_s() + 30;

    pthread_mutex_lock(&f->lock);
    f->done = true;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
    for (int w = 0; w < f->o.workers; w++)
        pthread_join(workers[w], NULL);
    /* Let the cache see the last changes before it stops. */
    for (;;) {
        pthread_mutex_lock(&f->lock);
        bool empty = f->p_len == 0;
        pthread_mutex_unlock(&f->lock);
        if (empty || now_s() > deadline)
            break;
        vtpm_bench_sleep(0.05);
    }
    atomic_store(&fo->stop, true);
}

static void
fleet_summarise(fleet *f, double wall)
{
    fleet_stats *s = &f->stats;

    qsort(f->lat, f->lat_len, sizeof(*f->lat), compare_double);
    qsort(f->lag, f->lag_len, sizeof(*f->lag), compare_double);
    s->wall = wall;
    s->simulated = ceil(f->o.duration / f->o.period) * f->o.period;
    s->queue_max = f->q_max;
    s->lag_missing = f->p_len;
    if (f->lat_len) {
        s->lat_p50 = f->lat[f->lat_len / 2];
        s->lat_p99 = f->lat[f->lat_len * 99 / 100];
        s->lat_max = f->lat[f->lat_len - 1];
    }
    s->lag_n = f->lag_len;
    if (f->lag_len) {
        s->lag_p50 = f->lag[f->lag_len / 2];
        s->lag_p99 = f->lag[f->lag_len * 99 / 100];
        s->lag_max = f->lag[f->lag_len - 1];
    }
}

int
fleet_run(const fleet_opts *o, const fleet_seed *seed, vtpm_inventory *cache,
          fleet_stats *out, fleet_truth *truth)
{
    fleet f = { .o = *o };
    pthread_t workers[FLEET_MAX_WORKERS] = { 0 }, fth;
    fleet_slot *runs;
    follower fo = { .inv = cache };
    unsigned int rng = o->rng_seed;
    int periods = (int)ceil(o->duration / o->period);
    double t_start;

    f.hosts = calloc((size_t)o->hosts, sizeof(*f.hosts));
    runs = calloc((size_t)o->hosts, sizeof(*runs));
    f.q_cap = (size_t)o->hosts;
    f.queue = calloc(f.q_cap, sizeof(*f.queue));
    if (!f.hosts || !runs || !f.queue)
        abort();
    f.uuids = seed->uuids;
    for (int i = 0; i < o->hosts; i++) {
        f.hosts[i].truth = f.hosts[i].published = seed->traits[i];
        /* The fleet has been running: an unchanged host publishes on the first
         * run at least a heartbeat after its last publish, so its last publishes
         * are spread over a heartbeat and one period. */
        f.hosts[i].last_pub = -random_unit(&rng) * (o->heartbeat + o->period);
    }
    pthread_mutex_init(&f.lock, NULL);
    pthread_cond_init(&f.cond, NULL);
    fo.f = &f;
    pthread_create(&fth, NULL, follower_main, &fo);
    f.t0_real = now_s();
    for (int w = 0; w < o->workers; w++)
        pthread_create(&workers[w], NULL, worker_main, &f);
    t_start = now_s();
    for (int p = 0; p < periods; p++) {
        dispatch_period(&f, runs, p * o->period, &rng);
        sleep_until_sim(&f, (p + 1) * o->period);
    }
    fleet_drain(&f, workers, &fo);
    pthread_join(fth, NULL);
    fleet_summarise(&f, now_s() - t_start);
    *out = f.stats;
    truth->traits = malloc((size_t)o->hosts * sizeof(*truth->traits));
    truth->acked = malloc((size_t)o->hosts * sizeof(*truth->acked));
    if (!truth->traits || !truth->acked)
        abort();
    for (int i = 0; i < o->hosts; i++) {
        truth->traits[i] = f.hosts[i].truth;
        truth->acked[i] = f.hosts[i].published;
    }
    free(f.hosts);
    free(runs);
    free(f.queue);
    free(f.pending);
    free(f.lat);
    free(f.lag);
    pthread_mutex_destroy(&f.lock);
    pthread_cond_destroy(&f.cond);
    return 0;
}

/* ---- saturation: publishes as fast as @workers clients can, each a new connection ---- */

typedef struct {
    const fleet_opts *o;
    vtpm_traitset *state;
    bool change;
    atomic_int *next;
    double *lat;
    int n;
    int failed;
} saturate_worker;

static void *
saturate_main(void *arg)
{
    saturate_worker *w = arg;
    char err[256];
    int k;

    while ((k = atomic_fetch_add(w->next, 1)) < w->n) {
        int host = k;   /* one report per host: no two workers share one */
        vtpm_traitset traits = w->state[host] ^
                               (w->change ? VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2) : 0);
        double t0 = now_s();

        if (w->o->publish(w->o->publish_ctx, host, traits, err, sizeof(err)))
            w->state[host] = traits;
        else if (w->failed++ == 0)
            fprintf(stderr, "fleet: saturate: %s\n", err);
        w->lat[k] = now_s() - t0;
    }
    return NULL;
}

double
fleet_saturate(const fleet_opts *o, vtpm_traitset *state, bool change, int n, int workers,
               double *p50, double *p99, int *failed)
{
    pthread_t th[FLEET_MAX_WORKERS];
    saturate_worker w[FLEET_MAX_WORKERS];
    atomic_int next = 0;
    double *lat = calloc((size_t)n, sizeof(*lat)), t0, wall;

    if (!lat || n > o->hosts)
        abort();
    *failed = 0;
    t0 = now_s();
    for (int k = 0; k < workers; k++) {
        w[k] = (saturate_worker){ .o = o, .change = change, .next = &next, .n = n, .lat = lat };
        w[k].state = state;     /* the workers write it */
        pthread_create(&th[k], NULL, saturate_main, &w[k]);
    }
    for (int k = 0; k < workers; k++) {
        pthread_join(th[k], NULL);
        *failed += w[k].failed;
    }
    wall = now_s() - t0;
    qsort(lat, (size_t)n, sizeof(*lat), compare_double);
    *p50 = lat[n / 2];
    *p99 = lat[n * 99 / 100];
    free(lat);
    return n / wall;
}
