/* SPDX-License-Identifier: Apache-2.0 */
/* How bench_fleet publishes one simulated host: a new connection and the reporter's own publish path. */
#ifndef VTPM_BENCH_FLEET_PUBLISH_H
#define VTPM_BENCH_FLEET_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>
#include <vtpm/inventory.h>
#include <vtpm/traits.h>

#include "host_key.h"

typedef struct fleet_publisher fleet_publisher;

/* Creates a key for each of the @hosts hosts "fleet-NNNNNN" (through @admin, a
 * superuser) and returns them. */
vtpm_host_key *fleet_keys_create(PGconn *admin, int hosts);

/* Publishes hosts through @dsn (the shared login), each signed with its key. */
fleet_publisher *fleet_publisher_new(const char *dsn, int hosts, const vtpm_uuid *uuids,
                                     const vtpm_host_key *keys);
bool fleet_publisher_publish(void *ctx, int host, vtpm_traitset traits, char *err,
                             size_t err_size);
void fleet_publisher_free(fleet_publisher *pub);

#endif /* VTPM_BENCH_FLEET_PUBLISH_H */
