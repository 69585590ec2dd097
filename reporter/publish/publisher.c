/* SPDX-License-Identifier: Apache-2.0 */
/* Choosing the publisher the config names, and the fan-out of `inventory: both`. */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "publish.h"
#include "util.h"

int
vtpm_publisher_open(vtpm_publisher *pub, const vtpm_conf *conf, char *err, size_t errlen)
{
    const vtpm_publisher_ops *ops;

    memset(pub, 0, sizeof(*pub));
    if ((conf->inventory & VTPM_INVENTORY_POSTGRES) && (conf->inventory & VTPM_INVENTORY_PLACEMENT))
        ops = &vtpm_publisher_both;
    else if (conf->inventory & VTPM_INVENTORY_PLACEMENT)
        ops = &vtpm_publisher_placement;
    else
        ops = &vtpm_publisher_postgres;
    if (ops->open) {
        pub->state = ops->open(conf, err, errlen);
        if (!pub->state)
            return -1;
    }
    pub->ops = ops;
    return 0;
}

vtpm_publish_status
vtpm_publisher_publish(const vtpm_publisher *pub, const vtpm_report *report,
                       vtpm_publish_result *out)
{
    memset(out, 0, sizeof(*out));
    out->generation = -1;
    return pub->ops->publish(pub->state, report, out);
}

void
vtpm_publisher_close(vtpm_publisher *pub)
{
    if (!pub || !pub->ops)
        return;
    if (pub->ops->close)
        pub->ops->close(pub->state);
    pub->ops = NULL;
    pub->state = NULL;
}

/* `inventory: both`: one publisher of each kind. */
typedef struct {
    vtpm_publisher postgres;
    vtpm_publisher placement;
} publisher_both;

/* Severity of a status, to report the worse of two publishers. */
static int
publisher_status_rank(vtpm_publish_status status)
{
    switch (status) {
    case VTPM_PUBLISH_UNCHANGED: return 0;
    case VTPM_PUBLISH_CHANGED: return 1;
    case VTPM_PUBLISH_INCONCLUSIVE: return 2;
    case VTPM_PUBLISH_UNREACHABLE: return 3;
    case VTPM_PUBLISH_REFUSED: return 4;
    case VTPM_PUBLISH_CONFIG: return 5;
    }
    return 5;
}

static void *
publisher_both_open(const vtpm_conf *conf, char *err, size_t errlen)
{
    publisher_both *both = vtpm_alloc_calloc(1, sizeof(*both));

    both->postgres.ops = &vtpm_publisher_postgres;
    both->placement.ops = &vtpm_publisher_placement;
    both->postgres.state = vtpm_publisher_postgres.open(conf, err, errlen);
    if (!both->postgres.state) {
        free(both);
        return NULL;
    }
    both->placement.state = vtpm_publisher_placement.open(conf, err, errlen);
    if (!both->placement.state) {
        vtpm_publisher_close(&both->postgres);
        free(both);
        return NULL;
    }
    return both;
}

/*
 * PostgreSQL first, then Placement; the worse status wins, and an unreachable
 * one makes the run loop retry both (each is idempotent).
 */
static vtpm_publish_status
publisher_both_publish(void *state, const vtpm_report *report, vtpm_publish_result *out)
{
    publisher_both *both = state;
    vtpm_publish_result pg;
    char placement_msg[sizeof(out->message)];

    vtpm_publisher_publish(&both->postgres, report, &pg);
    vtpm_publisher_publish(&both->placement, report, out);
    if (publisher_status_rank(pg.status) > publisher_status_rank(out->status))
        out->status = pg.status;
    out->warnings += pg.warnings;
    vtpm_strfmt(placement_msg, sizeof(placement_msg), "%s", out->message);
    vtpm_strfmt(out->message, sizeof(out->message), "postgres: %s; %s", pg.message,
                placement_msg);
    return out->status;
}

static void
publisher_both_close(void *state)
{
    publisher_both *both = state;

    vtpm_publisher_close(&both->postgres);
    vtpm_publisher_close(&both->placement);
    free(both);
}

const vtpm_publisher_ops vtpm_publisher_both = {
    .name = "both",
    .open = publisher_both_open,
    .publish = publisher_both_publish,
    .close = publisher_both_close,
};
