/* SPDX-License-Identifier: Apache-2.0 */
/* `vtpm-reporter run` after decide(): lock, start delay, publish with bounded retries. */
#ifndef VTPM_REPORTER_RUN_H
#define VTPM_REPORTER_RUN_H

#include <stdbool.h>

#include "conf.h"
#include "publish.h"
#include "report.h"

typedef struct {
    /* An open publisher; NULL: the one conf->inventory names, opened and
     * closed by vtpm_run() (tests set their own). */
    const vtpm_publisher *publisher;
    /* Skip conf->start_delay_max (e.g. a run started by hand). */
    bool no_delay;
    /* First pause between attempts, doubled after each, capped by
     * backoff_max; 0 means the defaults (1 s and 30 s). */
    double backoff_initial;
    double backoff_max;
    /* Pause function, NULL for nanosleep(); tests count instead of sleeping. */
    void (*sleep_fn)(double seconds);
    /* Publish even when conf->heartbeat says the report is unchanged. */
    bool ignore_heartbeat;
} vtpm_run_options;

/*
 * Publishes an already decided @report as `vtpm-reporter run` does:
 *   1. takes conf->lock_file (flock). Its folder and the file must be safe
 *      (see lock_file in docs/reporter.md), else VTPM_EXIT_USAGE. If another
 *      run holds it, waits for it up to vtpm_run_lock_wait_bound() seconds;
 *      if it is still held then, logs a warning, publishes nothing and
 *      returns VTPM_EXIT_LOCKED, with a message in out->message (out->status
 *      then means nothing);
 *   2. keeps conf->state_dir (run_state.h): writes last-result.json for a
 *      concluded report; when published.json shows the same report
 *      published to every configured inventory less than conf->heartbeat
 *      seconds ago, publishes nothing, connects to nothing and returns
 *      VTPM_EXIT_UNCHANGED (unless opts->ignore_heartbeat). An unusable
 *      state folder is VTPM_EXIT_USAGE;
 *   3. sleeps a random time in [0, conf->start_delay_max] seconds unless
 *      opts->no_delay;
 *   4. publishes; an unreachable inventory is retried conf->retries times
 *      with exponential backoff; a success is recorded in published.json;
 *   5. releases the lock.
 * @opts may be NULL. @out may be NULL; when given it holds the last result.
 * Returns a VTPM_EXIT_* code from publish.h:
 *   CHANGED -> VTPM_EXIT_OK, UNCHANGED -> VTPM_EXIT_UNCHANGED,
 *   INCONCLUSIVE -> VTPM_EXIT_INCONCLUSIVE (report recorded, nothing changed),
 *   UNREACHABLE (after the retries) -> VTPM_EXIT_UNREACHABLE,
 *   REFUSED -> VTPM_EXIT_REFUSED, CONFIG (or an unusable lock file) ->
 *   VTPM_EXIT_USAGE (as is a publisher whose configuration is unusable).
 * Logs one line per attempt through common/log/log.h; never logs a password.
 */
int vtpm_run(const vtpm_conf *conf, const vtpm_report *report,
             const vtpm_run_options *opts, vtpm_publish_result *out);

/*
 * The longest a run holds the lock with @conf: conf->start_delay_max, plus
 * conf->retries + 1 attempts at their longest and the pauses between them.
 */
double vtpm_run_lock_wait_bound(const vtpm_conf *conf, const vtpm_run_options *opts);

/* The exit code for a publish status (the table above). */
int vtpm_run_exit_code(vtpm_publish_status status);

#endif /* VTPM_REPORTER_RUN_H */
