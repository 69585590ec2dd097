/* SPDX-License-Identifier: Apache-2.0 */
/* A host's report: what decide() concluded, handed to every publisher. */
#ifndef VTPM_REPORTER_REPORT_H
#define VTPM_REPORTER_REPORT_H

#include <stdbool.h>

#include <vtpm/traits.h>

#include "trait.h"
#include "uuid.h"

/* The state of one managed trait after decide(). */
typedef enum {
    VTPM_TRAIT_STATE_ABSENT = 0,
    VTPM_TRAIT_STATE_PRESENT = 1,
} vtpm_trait_state;

typedef struct {
    vtpm_trait_state state;
    /* Short machine-readable reason, e.g. "swtpm_no_tpm_1_2", "ok". Static. */
    const char *reason_code;
    /* One human line, e.g. "swtpm 0.7.1 was built without TPM 1.2". */
    char reason[256];
} vtpm_trait_decision;

/*
 * What the reporter publishes for one host. When @inconclusive is true the
 * probe could not conclude: publishers record the report and change no trait.
 */
typedef struct {
    char host[256];                 /* provider name, normally the host name */
    char provider_uuid[VTPM_UUID_STRING_SIZE];         /* optional configured UUID, "" if none */
    bool inconclusive;
    char inconclusive_reason[256];  /* why, when inconclusive */
    vtpm_trait_decision traits[VTPM_TRAIT_COUNT];
    /* The facts the probe found, as one JSON object (owned by the report,
     * may be NULL): stored with the report history. */
    char *facts_json;
} vtpm_report;

/* The present traits of @report as a set. */
static inline vtpm_traitset
vtpm_report_present(const vtpm_report *report)
{
    vtpm_traitset set = 0;

    for (int t = 0; t < VTPM_TRAIT_COUNT; t++) {
        if (report->traits[t].state == VTPM_TRAIT_STATE_PRESENT)
            set |= VTPM_TRAITSET_BIT(t);
    }
    return set;
}

#endif /* VTPM_REPORTER_REPORT_H */
