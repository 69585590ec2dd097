/* SPDX-License-Identifier: Apache-2.0 */
/* Publishing a host's vTPM traits to OpenStack Placement over its REST API. */
#ifndef VTPM_PLACEMENT_H
#define VTPM_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>

#include "conf_placement.h"
#include "publish.h"
#include "report.h"

typedef struct vtpm_placement_client vtpm_placement_client;

/*
 * Returns a new client (free with vtpm_placement_client_free()), or NULL
 * with a message in @err when @conf is unusable. @conf is copied. The client
 * keeps one connection alive across calls, and caches the microversion, the
 * Keystone token, the provider's UUID and which managed traits the service
 * knows. A client is used by one thread at a time.
 */
vtpm_placement_client *vtpm_placement_client_new(const vtpm_placement_conf *conf,
                                                 char *err, size_t errlen);

/* Frees @client (NULL is fine) and closes its connection. */
void vtpm_placement_client_free(vtpm_placement_client *client);

/*
 * Publishes @report: sets the managed traits of the report's provider to what
 * the report says, keeping every other trait, with the provider generation
 * (a concurrent update is re-read and retried, with backoff, a bounded number
 * of times). Managed traits that the service does not know are skipped and
 * counted in result->warnings. An inconclusive report changes nothing.
 * Returns the status, also stored in @result with a one-line message that
 * never holds a secret.
 */
vtpm_publish_status vtpm_placement_publish(vtpm_placement_client *client,
                                           const vtpm_report *report,
                                           vtpm_publish_result *result);

#endif /* VTPM_PLACEMENT_H */
