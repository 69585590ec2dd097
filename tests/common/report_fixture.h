/* SPDX-License-Identifier: Apache-2.0 */
/* A decided report for the publishing tests: each managed trait present or absent, from a set. */
#ifndef VTPM_TESTS_REPORT_FIXTURE_H
#define VTPM_TESTS_REPORT_FIXTURE_H

#include <string.h>

#include "report.h"
#include "util.h"

/* Fills @r for @host with the traits of @present present, the rest absent. */
static inline void
vtpm_test_report_init(vtpm_report *r, const char *host, vtpm_traitset present)
{
    memset(r, 0, sizeof(*r));
    vtpm_strfmt(r->host, sizeof(r->host), "%s", host);
    for (int t = 0; t < VTPM_TRAIT_COUNT; t++) {
        bool on = (present & VTPM_TRAITSET_BIT(t)) != 0;

        r->traits[t].state = on ? VTPM_TRAIT_STATE_PRESENT : VTPM_TRAIT_STATE_ABSENT;
        r->traits[t].reason_code = on ? "ok" : "test_absent";
        vtpm_strfmt(r->traits[t].reason, sizeof(r->traits[t].reason), "%s %s in test",
                    vtpm_trait_name((vtpm_trait)t), on ? "present" : "absent");
    }
    r->facts_json = (char *)"{\"test\": true}";
}

#endif /* VTPM_TESTS_REPORT_FIXTURE_H */
