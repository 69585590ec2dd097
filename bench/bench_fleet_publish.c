/* SPDX-License-Identifier: Apache-2.0 */
/* bench_fleet's publisher: each report signed with its host's key, as `vtpm-reporter run` sends it, over a new connection. */
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
    const vtpm_host_key *keys;
};

static void
host_name(char *buf, size_t size, int host)
{
    vtpm_strfmt(buf, size, "fleet-%06d", host);
}

vtpm_host_key *
fleet_keys_create(PGconn *admin, int hosts)
{
    char sql[512], err[128];
    vtpm_host_key *keys = calloc((size_t)hosts, sizeof(*keys));
    PGresult *res;

    if (!keys)
        abort();
    /* As `vtpm-inventory host-key create` does, 5,000 hosts a transaction. */
    for (int first = 0; first < hosts; first += 5000) {
        int last = first + 5000 < hosts ? first + 4999 : hosts - 1;

        vtpm_strfmt(sql, sizeof(sql),
            "SELECT k.key_id, k.secret FROM generate_series(%d, %d) AS i, "
            "format('fleet-%%s', lpad(i::text, 6, '0')) AS h, "
            "LATERAL vtpm.host_key_create(h) AS k ORDER BY i", first, last);
        res = PQexec(admin, sql);
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != last - first + 1) {
            fprintf(stderr, "bench_fleet: host keys: %s", PQerrorMessage(admin));
            exit(1);
        }
        for (int k = 0; k <= last - first; k++) {
            char token[VTPM_HOST_KEY_TOKEN_LEN + 1];

            if (vtpm_host_key_format(PQgetvalue(res, k, 0), PQgetvalue(res, k, 1), token,
                                     sizeof(token)) != 0 ||
                vtpm_host_key_parse(token, &keys[first + k], err, sizeof(err)) != 0) {
                fprintf(stderr, "bench_fleet: host key %d: %s\n", first + k, err);
                exit(1);
            }
        }
        PQclear(res);
    }
    return keys;
}

fleet_publisher *
fleet_publisher_new(const char *dsn, int hosts, const vtpm_uuid *uuids,
                    const vtpm_host_key *keys)
{
    fleet_publisher *pub = calloc(1, sizeof(*pub));

    if (!pub || !(pub->dsn = strdup(dsn)))
        abort();
    pub->hosts = hosts;
    pub->uuids = uuids;
    pub->keys = keys;
    return pub;
}

static void
report_fill(vtpm_report *r, const fleet_publisher *pub, int host, vtpm_traitset traits)
{
    memset(r, 0, sizeof(*r));
    host_name(r->host, sizeof(r->host), host);
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
    vtpm_pg_publish_signed(pub->dsn, &pub->keys[host], &r, &res);
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
