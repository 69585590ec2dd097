/* SPDX-License-Identifier: Apache-2.0 */
/* How bench_fleet publishes one simulated host: a new connection and the reporter's own publish path. */
#ifndef VTPM_BENCH_FLEET_PUBLISH_H
#define VTPM_BENCH_FLEET_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>
#include <vtpm/inventory.h>
#include <vtpm/traits.h>

typedef struct fleet_publisher fleet_publisher;

/* Prepares publishing for @hosts hosts through @dsn; @admin sets up what the
 * database needs to accept them (host keys derived from @key_seed). */
fleet_publisher *fleet_publisher_new(PGconn *admin, const char *dsn, const char *key_seed,
                                     int hosts, const vtpm_uuid *uuids);
bool fleet_publisher_publish(void *ctx, int host, vtpm_traitset traits, char *err,
                             size_t err_size);
void fleet_publisher_free(fleet_publisher *pub);

#endif /* VTPM_BENCH_FLEET_PUBLISH_H */
