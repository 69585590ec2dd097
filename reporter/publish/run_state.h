/* SPDX-License-Identifier: Apache-2.0 */
/* What `vtpm-reporter run` keeps in state_dir: the last result, the last publish, heartbeats. */
#ifndef VTPM_REPORTER_RUN_STATE_H
#define VTPM_REPORTER_RUN_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "conf.h"
#include "publish.h"
#include "report.h"
#include "state.h"

typedef struct {
    const char *dir;               /* conf->state_dir; NULL: no state kept */
    json_t *published;             /* the last publish record, or NULL */
    vtpm_state_target targets[2];  /* the inventories conf->inventory names */
    size_t ntargets;
} vtpm_run_state;

/*
 * Before publishing, under the run lock: prepares conf->state_dir (see
 * vtpm_state_dir_prepare()), writes last-result.json when @report
 * concluded, reads published.json and decides on the heartbeat. Returns 1
 * when the run must not publish (out->status VTPM_PUBLISH_UNCHANGED and
 * out->message say why), 0 to publish, -1 with @err when the state folder
 * is unusable. @ignore_heartbeat publishes anyway. A NULL or empty
 * conf->state_dir keeps no state and always publishes.
 */
int vtpm_run_state_begin(vtpm_run_state *st, const vtpm_conf *conf, const vtpm_report *report,
                         bool ignore_heartbeat, time_t now, vtpm_publish_result *out,
                         char *err, size_t errlen);

/*
 * After publishing: warns about managed traits someone else changed in
 * Placement since this reporter published them, and records a successful
 * publish of a concluded report in published.json (a failed one never).
 * Frees what begin() took.
 */
void vtpm_run_state_end(vtpm_run_state *st, const vtpm_report *report,
                        const vtpm_publish_result *out, time_t now);

/* Frees what vtpm_run_state_begin() took (when end() is not called). */
void vtpm_run_state_clear(vtpm_run_state *st);

#endif /* VTPM_REPORTER_RUN_STATE_H */
