/* SPDX-License-Identifier: Apache-2.0 */
/* The fleet load generator's parts: the simulation (bench_fleet.c) and its driver (bench_fleet_main.c). */
#ifndef VTPM_BENCH_FLEET_H
#define VTPM_BENCH_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <vtpm/inventory.h>
#include <vtpm/traits.h>

#define FLEET_MAX_WORKERS 64

/* The traits a simulated host has or lacks: the version and model ones. */
#define FLEET_MANAGED                                                                       \
    (VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_1_2) | VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_2_0) |        \
     VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_TIS) | VTPM_TRAITSET_BIT(VTPM_TRAIT_TPM_CRB))

/* Publishes host @host's @traits over a new connection; false with @err filled on failure. */
typedef bool (*fleet_publish_fn)(void *ctx, int host, vtpm_traitset traits, char *err,
                                 size_t err_size);

typedef struct {
    int hosts;
    double period;              /* the timer, simulated seconds */
    double start_delay_max;     /* random wait after the timer fires */
    double heartbeat;           /* publish at least this often when unchanged */
    double change_per_run;      /* probability that a run finds a changed trait */
    double duration;            /* simulated seconds */
    double scale;               /* simulated seconds per real second */
    int workers;                /* publishes in flight at once */
    unsigned int rng_seed;
    fleet_publish_fn publish;
    void *publish_ctx;
} fleet_opts;

typedef struct {
    const vtpm_uuid *uuids;     /* each host's provider uuid */
    const vtpm_traitset *traits; /* what the inventory holds before the run */
} fleet_seed;

typedef struct {
    unsigned long runs, skipped, published, failed, overlaps, missed;
    unsigned long changes_made, changes_acked;
    size_t queue_max;
    double max_late;            /* simulated seconds between a run's due time and its start */
    double wall;
    double simulated;           /* whole periods: the duration rounded up */
    double lat_p50, lat_p99, lat_max;
    size_t lag_n, lag_missing;
    unsigned long lag_superseded;
    double lag_p50, lag_p99, lag_max;
} fleet_stats;

/* Each host's traits at the end: its probe's and its last acknowledged publish's. */
typedef struct {
    vtpm_traitset *traits;
    vtpm_traitset *acked;
} fleet_truth;

int fleet_run(const fleet_opts *o, const fleet_seed *seed, vtpm_inventory *cache,
              fleet_stats *out, fleet_truth *truth);

/* Publishes @n reports of hosts 0, 1, ... (at most one per host: @n <= hosts)
 * with @workers clients; returns reports/s. @state holds each host's traits
 * as last published: a report repeats them, or with @change flips TPM 1.2
 * (as a Placement trait PUT changes a trait), and @state follows. */
double fleet_saturate(const fleet_opts *o, vtpm_traitset *state, bool change, int n, int workers,
                      double *p50, double *p99, int *failed);

static inline void
vtpm_bench_sleep(double seconds)
{
    struct timespec ts = { (time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9) };

    while (nanosleep(&ts, &ts) != 0)
        ;
}

#endif /* VTPM_BENCH_FLEET_H */
