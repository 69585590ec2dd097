/* SPDX-License-Identifier: Apache-2.0 */
/* Request parsing from an already parsed jansson document (CLI and tests). */
#ifndef VTPM_SCHEDULER_REQUEST_JSON_PRIV_H
#define VTPM_SCHEDULER_REQUEST_JSON_PRIV_H

#include <jansson.h>

#include <vtpm/filter.h>

/* Fills @req from @doc (borrowed). See vtpm_request_parse_json(). */
vtpm_status vtpm_request_parse_json_value(vtpm_request *req, json_t *doc,
                                          vtpm_error *err);

#endif
