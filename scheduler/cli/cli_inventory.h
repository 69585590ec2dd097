/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm-filter candidates: the inventory cache as the command line uses it. */
#ifndef VTPM_SCHEDULER_CLI_INVENTORY_H
#define VTPM_SCHEDULER_CLI_INVENTORY_H

#include <stddef.h>

#include <jansson.h>

#include <vtpm/filter.h>
#include <vtpm/traits.h>

typedef struct vtpm_cli_inventory vtpm_cli_inventory;

/*
 * Loads the inventory at @dsn (a libpq connection string; "" leaves it all
 * to libpq's PG* environment). Returns a new handle, or NULL with the status
 * (VTPM_ERR_UNREACHABLE, VTPM_ERR_DATABASE, VTPM_ERR_BAD_INPUT for a DSN that
 * cannot be parsed, VTPM_ERR_INVALID_ARG in a build without libpq) and a
 * one-line message that never shows a password in @err. Aborts when memory
 * runs out.
 */
vtpm_cli_inventory *vtpm_cli_inventory_open(const char *dsn, vtpm_error *err);

void vtpm_cli_inventory_close(vtpm_cli_inventory *ci);

/*
 * Applies what changed since the load, then returns the providers with every
 * trait in @required: a new JSON object {"count": N, "candidates": [uuid, ...]}
 * listing at most @max of the N. NULL with @err set as by open when the
 * inventory cannot be brought up to date. Aborts when memory runs out.
 */
json_t *vtpm_cli_inventory_candidates(vtpm_cli_inventory *ci, vtpm_traitset required,
                                      size_t max, vtpm_error *err);

#endif
