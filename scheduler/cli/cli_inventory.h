/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm-filter candidates: the inventory cache as the command line uses it. */
#ifndef VTPM_SCHEDULER_CLI_INVENTORY_H
#define VTPM_SCHEDULER_CLI_INVENTORY_H

#include <stddef.h>

#include <jansson.h>

#include <vtpm/traits.h>

typedef struct vtpm_cli_inventory vtpm_cli_inventory;

/*
 * Loads the inventory at @dsn (a libpq connection string; "" leaves it all
 * to libpq's PG* environment). Returns a new handle, or NULL with a one-line
 * message in @msg that never shows a password.
 */
vtpm_cli_inventory *vtpm_cli_inventory_open(const char *dsn, char *msg, size_t msglen);

void vtpm_cli_inventory_close(vtpm_cli_inventory *ci);

/*
 * Applies what changed since the load, then returns the providers with every
 * trait in @required: a new JSON object {"count": N, "candidates": [uuid, ...]}
 * listing at most @max of the N. NULL with a message in @msg when the
 * inventory cannot be brought up to date or memory runs out.
 */
json_t *vtpm_cli_inventory_candidates(vtpm_cli_inventory *ci, vtpm_traitset required,
                                      size_t max, char *msg, size_t msglen);

#endif
