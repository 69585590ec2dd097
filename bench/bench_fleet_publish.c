/* SPDX-License-Identifier: Apache-2.0 */
/* bench_fleet's publisher: each report as `vtpm-reporter run` sends it, over a new connection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_fleet.h"
#include "bench_fleet_publish.h"
#include "publish_pg.h"
#include "util.h"

struct fleet_publisher {
    char *dsn;
    int hosts;
    const vtpm_uuid *uuids;
};

fleet_publisher *
fleet_publisher_new(PGconn *admin, const char *dsn, const char *key_seed, int hosts,
                    const vtpm_uuid *uuids)
{
    fleet_publisher *pub = calloc(1, sizeof(*pub));

    (void)admin;
    (void)key_seed;
    if (!pub || !(pub->dsn = strdup(dsn)))
        abort();
    pub->hosts = hosts;
    pub->uuids = uuids;
    return pub;
}

static void
report_fill(vtpm_report *r, const fleet_publisher *pub, int host, vtpm_traitset traits)
{
    memset(r, 0, sizeof(*r));
    vtpm_strfmt(r->host, sizeof(r->host), "fleet-%06d", host);
    vtpm_uuid_format(&pub->uuids[host], r->provider_uuid);
    r->facts_json = (char *)"{\"fleet\": true}";
    for (int t = 0; t < VTPM_TRAIT_COUNT; t++) {
        bool on = (traits & VTPM_TRAITSET_BIT(t)) != 0;

        r->traits[t].state = on ? VTPM_TRAIT_STATE_PRESENT : VTPM_TRAIT_STATE_ABSENT;
        r->traits[t].reason_code = on ? "ok" : "fleet_absent";
        vtpm_strfmt(r->traits[t].reason, sizeof(r->traits[t].reason), "%s in the simulation",
                    on ? "present" : "absent");
    }
}

bool
fleet_publisher_publish(void *ctx, int host, vtpm_traitset traits, char *err, size_t err_size)
{
    fleet_publisher *pub = ctx;
    vtpm_publish_result res;
    vtpm_report r;

    report_fill(&r, pub, host, traits);
    vtpm_pg_publish(pub->dsn, &r, &res);
    if (res.status == VTPM_PUBLISH_CHANGED || res.status == VTPM_PUBLISH_UNCHANGED)
        return true;
    vtpm_strfmt(err, err_size, "%s", res.message);
    return false;
}

void
fleet_publisher_free(fleet_publisher *pub)
{
    if (!pub)
        return;
    free(pub->dsn);
    free(pub);
}
