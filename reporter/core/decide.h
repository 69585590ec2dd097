/* SPDX-License-Identifier: Apache-2.0 */
/* decide(): from a host's facts and the configuration to its seven traits, with reasons. */
#ifndef VTPM_REPORTER_DECIDE_H
#define VTPM_REPORTER_DECIDE_H

#include <stddef.h>

#include "conf.h"
#include "facts.h"
#include "report.h"

/*
 * Fills @report from @facts and @conf: every managed trait present or absent
 * with a static reason code and a human reason, the host name (facts->host,
 * else conf->host) and the provider UUID. When a probe the answer depends on
 * could not conclude, report->inconclusive is set with the reason, and every
 * trait is absent with reason code "inconclusive" (publishers change nothing).
 *
 * Pure: no I/O, no allocation, no global state. report->facts_json is set to
 * NULL; the caller attaches the facts if it wants them published.
 *
 * The rules are those of docs/reporter.md ("How the traits are decided"); each reason code
 * is listed in docs/reporter.md.
 */
void vtpm_decide(const vtpm_facts *facts, const vtpm_conf *conf, vtpm_report *report);

/*
 * Every reason code vtpm_decide() gives, NULL-terminated: "ok", "ok_assumed",
 * "swtpm_disabled", ... Borrowed static strings; documented in docs/reporter.md.
 */
extern const char *const vtpm_decide_reason_codes[];

#define VTPM_WARNINGS_MAX 8

/* Things an operator should know that do not change a trait. */
typedef struct {
    size_t count;
    char text[VTPM_WARNINGS_MAX][256];
} vtpm_warnings;

/*
 * Fills @out with the warnings for @facts and @conf: an older libvirt whose
 * answers are incomplete, a trait Nova would advertise wrongly here, a key
 * manager that is not checked. Pure, like vtpm_decide().
 */
void vtpm_decide_warnings(const vtpm_facts *facts, const vtpm_conf *conf,
                          vtpm_warnings *out);

/* "9.0.0" for 9000000, into @buf; "unknown" for 0. Returns @buf. */
char *vtpm_version_format(unsigned long version, char *buf, size_t size);

#endif /* VTPM_REPORTER_DECIDE_H */
