/* SPDX-License-Identifier: Apache-2.0 */
/* Request parsing from an already parsed jansson document (CLI and tests). */
#ifndef VTPM_SCHEDULER_REQUEST_JSON_PRIV_H
#define VTPM_SCHEDULER_REQUEST_JSON_PRIV_H

#include <jansson.h>

#include <vtpm/filter.h>

/* Fills @req from @doc (borrowed). See vtpm_request_parse_json(). */
vtpm_status vtpm_request_parse_json_value(vtpm_request *req, json_t *doc,
                                          vtpm_error *err);

/*
 * Parses the JSON text @text (@len bytes, duplicates refused) like
 * json_loadb, but reads a number that is valid JSON and out of jansson's
 * range as 0 instead of failing: no value of a request's numbers is used
 * (but the top-level "id"'s, which stays refused when out of range).
 * Returns a new reference, or NULL with @jerr set (all zero when memory ran
 * out).
 */
json_t *vtpm_json_load(const char *text, size_t len, json_error_t *jerr);

#endif
