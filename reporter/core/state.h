/* SPDX-License-Identifier: Apache-2.0 */
/* The reporter's state folder: last-result.json (for nova-compute) and published.json (heartbeats). */
#ifndef VTPM_REPORTER_STATE_H
#define VTPM_REPORTER_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "report.h"

/* Version of both files; bumped only on incompatible changes. */
#define VTPM_STATE_FORMAT 1
#define VTPM_STATE_RESULT_FILE "last-result.json"
#define VTPM_STATE_PUBLISHED_FILE "published.json"
/* Larger files are not ours: refused. */
#define VTPM_STATE_FILE_MAX (64 * 1024)

/*
 * Creates the folder @dir (mode 0755, its parent must exist) when it is
 * missing, then checks it: not a symbolic link, owned by this user or root,
 * writable by nobody else (whoever can write it could make nova-compute
 * claim traits). Returns 0, or -1 with the reason in @err.
 */
int vtpm_state_dir_prepare(const char *dir, char *err, size_t errlen);

/*
 * The last-result.json document of a concluded @report at @now:
 *   {"format":1, "host":..., "provider_uuid":UUID|null, "time":SECONDS,
 *    "traits":{NAME:{"present":bool, "reason_code":..., "reason":...}}}
 * @provider_uuid may be NULL or "" (unknown). NULL when out of memory.
 */
json_t *vtpm_state_result_to_json(const vtpm_report *report, const char *provider_uuid,
                                  time_t now);

/*
 * Replaces @dir/last-result.json (mode 0644: nova-compute reads it) with
 * the document above. An inconclusive report is refused (-1): it must never
 * replace a concluded one. Returns 0, or -1 with the reason in @err.
 */
int vtpm_state_result_write(const char *dir, const vtpm_report *report,
                            const char *provider_uuid, time_t now, char *err, size_t errlen);

/* One inventory a report is published to: its kind ("postgres",
 * "placement") and where it is (a masked DSN, a URL and provider). */
typedef struct {
    const char *kind;
    char where[512];
} vtpm_state_target;

/*
 * Reads @dir/published.json. Returns the document, or NULL with *@absent
 * true when there is none, or NULL with *@absent false and the reason in
 * @why when it is not usable: not a regular file of this user, writable by
 * group or others, too large, not JSON, or not of the expected shape. Such
 * a file counts as no publish at all (it never makes a run skip).
 */
json_t *vtpm_state_published_load(const char *dir, bool *absent, char *why, size_t whylen);

/*
 * Whether a run may skip publishing @report: @published (may be NULL) holds
 * the same host, provider and traits with their reasons, a record for each
 * of the @ntargets @targets at the same place, and is younger than
 * @heartbeat seconds at @now (a time in the future does not count). An
 * inconclusive report or @heartbeat 0 never skips. @why gets one line
 * saying why, either way.
 */
bool vtpm_state_published_fresh(const json_t *published, const vtpm_report *report,
                                const vtpm_state_target *targets, size_t ntargets,
                                double heartbeat, time_t now, char *why, size_t whylen);

/*
 * Replaces @dir/published.json (mode 0600) with the record of @report
 * published to @targets at @now. Returns 0, or -1 with the reason in @err.
 */
int vtpm_state_published_write(const char *dir, const vtpm_report *report,
                               const vtpm_state_target *targets, size_t ntargets, time_t now,
                               char *err, size_t errlen);

/*
 * The managed traits @published says were present when last published to
 * @target. Returns false when it holds no record of @target at its place.
 */
bool vtpm_state_published_traits(const json_t *published, const vtpm_state_target *target,
                                 vtpm_traitset *present);

#endif /* VTPM_REPORTER_STATE_H */
