/* SPDX-License-Identifier: Apache-2.0 */
/* Facts and reports as JSON: the `probe --json` document, and facts read back for tests. */
#ifndef VTPM_REPORTER_FACTS_JSON_H
#define VTPM_REPORTER_FACTS_JSON_H

#include <stddef.h>

#include <jansson.h>

#include "decide.h"
#include "facts.h"
#include "report.h"

/* Version of the `probe --json` document; bumped only on incompatible changes. */
#define VTPM_PROBE_JSON_FORMAT 1

/*
 * Returns a new JSON object describing @facts (libvirt, swtpm, system, deep),
 * or NULL when out of memory. Free with json_decref().
 */
json_t *vtpm_facts_to_json(const vtpm_facts *facts);

/*
 * The same as compact JSON text, for report->facts_json. Returns a new string
 * (free with free()), or NULL when out of memory.
 */
char *vtpm_facts_to_string(const vtpm_facts *facts);

/*
 * Reads facts written by vtpm_facts_to_json() back into @facts, which is
 * zeroed first; missing members keep their zero value, unknown members are
 * errors. Returns 0, or -1 with a message naming the member in @err.
 */
int vtpm_facts_from_json(const json_t *json, vtpm_facts *facts, char *err, size_t errlen);

/*
 * Returns a new JSON object of the report's traits, as in the document
 * below: {NAME:{"present":bool, "reason_code":..., "reason":...}, ...} for
 * every managed trait. NULL when out of memory. Free with json_decref().
 */
json_t *vtpm_report_traits_to_json(const vtpm_report *report);

/*
 * Returns a new JSON object: the whole `probe --json` document,
 *   {"format":1, "host":..., "provider_uuid":..., "inconclusive":bool,
 *    "inconclusive_reason":..., "traits":{NAME:{"present":bool,
 *    "reason_code":..., "reason":...}, ...}, "warnings":[...],
 *    "facts":{...}}
 * @warnings may be NULL. NULL when out of memory. Free with json_decref().
 */
json_t *vtpm_report_to_json(const vtpm_facts *facts, const vtpm_report *report,
                            const vtpm_warnings *warnings);

#endif /* VTPM_REPORTER_FACTS_JSON_H */
