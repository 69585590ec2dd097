/* SPDX-License-Identifier: Apache-2.0 */
/* `vtpm-inventory metrics`: the fleet seen from the inventory, in Prometheus's text format. */
#ifndef VTPM_SQL_FLEET_METRICS_H
#define VTPM_SQL_FLEET_METRICS_H

#include <stddef.h>

#include <libpq-fe.h>

/* --interval: the default (the reporter's timer period) and the bounds. */
#define VTPM_FLEET_METRICS_INTERVAL_DEFAULT 600.0
#define VTPM_FLEET_METRICS_INTERVAL_MIN 1.0
#define VTPM_FLEET_METRICS_INTERVAL_MAX (31.0 * 86400)

/*
 * Reads the fleet's metrics from the inventory on @conn, in one read-only
 * snapshot, through what a vtpm_reader login may read: hosts per trait,
 * stale, inconclusive and never-reported hosts, the oldest report's age, and
 * the reports of the last @interval seconds by status and by trait change.
 * On success returns 0 with the Prometheus text exposition in *@text (free
 * it); else -1 with one line in @err, *@text NULL: nothing is printed half.
 */
int vtpm_fleet_metrics_collect(PGconn *conn, double interval, char **text, char *err,
                               size_t errlen);

/* Parses --interval's @value (seconds) into *@interval. Returns 0, or -1. */
int vtpm_fleet_metrics_parse_interval(const char *value, double *interval);

#endif /* VTPM_SQL_FLEET_METRICS_H */
