/* SPDX-License-Identifier: Apache-2.0 */
/* `vtpm-reporter run --metrics-file`: the run's outcome for node_exporter's textfile collector. */
#ifndef VTPM_REPORTER_METRICS_H
#define VTPM_REPORTER_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "report.h"

/* What one run did, as the metrics file shows it. */
typedef struct {
    double started;                   /* wall clock, seconds since the epoch */
    double started_monotonic;         /* for the duration */
    double duration;                  /* seconds, set by vtpm_metrics_run_finish() */
    int exit_status;                  /* the run's VTPM_EXIT_* code */
    bool probed;                      /* a report was decided */
    bool concluded;                   /* ... and the probe concluded */
    bool present[VTPM_TRAIT_COUNT];   /* the decision, when concluded */
    /* This run stored a concluded report (exit 0 or 3) ... */
    bool published;
    /* ... at this wall-clock time (vtpm_publish_result.published_at; 0:
     * unknown, started stands for it). */
    double published_at;
    /* A run that published nothing because the same report was published
     * less than `heartbeat` seconds ago: when that publish happened (seconds
     * since the epoch, from published.json); 0 otherwise. */
    double heartbeat_publish;
} vtpm_metrics_run;

/* Starts measuring a run into @run (zeroes it). */
void vtpm_metrics_run_start(vtpm_metrics_run *run);

/* Takes what @report decided: whether it concluded, and each trait. */
void vtpm_metrics_run_report(vtpm_metrics_run *run, const vtpm_report *report);

/* Ends the run with @exit_status: the duration, and whether it published. */
void vtpm_metrics_run_finish(vtpm_metrics_run *run, int exit_status);

/*
 * Checks, before the run, that @path can be a metrics file: a file name in
 * an existing folder. Returns 0, or -1 with the reason in @err.
 */
int vtpm_metrics_check_path(const char *path, char *err, size_t errlen);

/*
 * The metrics text of @run into @buf (@size bytes). What this run does not
 * know is taken from @previous (the text of the file this replaces, may be
 * NULL): the time of the last successful publish when this run did not
 * publish, and the traits when its probe did not conclude. Returns the
 * length, or -1 when @size is too small.
 */
int vtpm_metrics_format(const vtpm_metrics_run *run, const char *previous, char *buf,
                        size_t size);

/*
 * Writes the metrics of @run to @path atomically (a temporary file in the
 * same folder, fsync, rename), mode 0644 for node_exporter, carrying what
 * the run does not know over from the file it replaces (read without
 * following a symbolic link; one that is not a regular file, or too large,
 * is ignored). Returns 0, or -1 with the reason in @err.
 */
int vtpm_metrics_write(const char *path, const vtpm_metrics_run *run, char *err,
                       size_t errlen);

#endif /* VTPM_REPORTER_METRICS_H */
