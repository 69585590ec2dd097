/* SPDX-License-Identifier: Apache-2.0 */
/* What `vtpm-reporter run` keeps in state_dir: the last result, the last publish, heartbeats. */
#include <string.h>

#include "log.h"
#include "pg.h"
#include "run_state.h"
#include "util.h"

/* Where conf->inventory publishes: a masked DSN (a password never reaches
 * the file), and Placement's endpoint and provider. */
static void
run_state_targets(vtpm_run_state *st, const vtpm_conf *conf, const vtpm_report *report)
{
    const vtpm_placement_conf *p = &conf->placement;
    char masked[400], endpoint[300];

    st->ntargets = 0;
    if (!conf->inventory || (conf->inventory & VTPM_INVENTORY_POSTGRES)) {
        vtpm_state_target *t = &st->targets[st->ntargets++];

        t->kind = "postgres";
        vtpm_strfmt(t->where, sizeof(t->where), "%s",
                    conf->postgres_dsn ? vtpm_pg_dsn_mask(masked, sizeof(masked),
                                                          conf->postgres_dsn) : "");
    }
    if (conf->inventory & VTPM_INVENTORY_PLACEMENT) {
        vtpm_state_target *t = &st->targets[st->ntargets++];

        t->kind = "placement";
        if (p->url)
            vtpm_strfmt(endpoint, sizeof(endpoint), "%s", p->url);
        else
            vtpm_strfmt(endpoint, sizeof(endpoint), "catalog of %s%s%s",
                        p->auth_url ? p->auth_url : "", p->region ? " region " : "",
                        p->region ? p->region : "");
        vtpm_strfmt(t->where, sizeof(t->where), "%s provider %s%s%s", endpoint,
                    p->provider_name ? p->provider_name : report->host,
                    p->provider_uuid ? " " : "", p->provider_uuid ? p->provider_uuid : "");
    }
}

void
vtpm_run_state_clear(vtpm_run_state *st)
{
    json_decref(st->published);
    memset(st, 0, sizeof(*st));
}

/* Writes last-result.json for nova-compute; a failure is logged, not fatal:
 * the publish is still worth doing, and a stale file ages out there. */
static void
run_state_write_result(const vtpm_run_state *st, const vtpm_conf *conf,
                       const vtpm_report *report, time_t now)
{
    char err[512];

    if (report->inconclusive)
        return;   /* the last concluded result stays */
    if (vtpm_state_result_write(st->dir, report, conf->placement.provider_uuid, now, err,
                                sizeof(err)) < 0)
        VTPM_ERROR("%s", err);
}

int
vtpm_run_state_begin(vtpm_run_state *st, const vtpm_conf *conf, const vtpm_report *report,
                     bool ignore_heartbeat, time_t now, vtpm_publish_result *out,
                     char *err, size_t errlen)
{
    char why[512];
    bool absent;

    memset(st, 0, sizeof(*st));
    if (!conf->state_dir || !conf->state_dir[0])
        return 0;
    if (vtpm_state_dir_prepare(conf->state_dir, err, errlen) < 0)
        return -1;
    st->dir = conf->state_dir;
    run_state_targets(st, conf, report);
    run_state_write_result(st, conf, report, now);
    st->published = vtpm_state_published_load(st->dir, &absent, why, sizeof(why));
    if (!st->published && !absent)
        VTPM_WARN("%s: publishing", why);
    if (ignore_heartbeat) {
        VTPM_DEBUG("publishing: heartbeat ignored");
        return 0;
    }
    if (!vtpm_state_published_fresh(st->published, report, st->targets, st->ntargets,
                                    conf->heartbeat, now, why, sizeof(why))) {
        VTPM_DEBUG("publishing: %s", why);
        return 0;
    }
    out->status = VTPM_PUBLISH_UNCHANGED;
    out->heartbeat_publish = json_integer_value(json_object_get(st->published, "time"));
    vtpm_strfmt(out->message, sizeof(out->message), "%s", why);
    return 1;
}

/* Someone else (nova-compute, from swtpm_enabled) changed a trait this
 * reporter had set in Placement: say which, and what stops it. A trait that
 * already is as @report wants it is not counted: an earlier attempt of this
 * run may have written it before its answer was lost. */
static void
run_state_check_placement(const vtpm_run_state *st, const vtpm_report *report,
                          const vtpm_publish_result *out)
{
    vtpm_traitset last, changed, wanted = vtpm_report_present(report);

    if (!out->placement_read)
        return;
    for (size_t i = 0; i < st->ntargets; i++) {
        if (strcmp(st->targets[i].kind, "placement") != 0 ||
            !vtpm_state_published_traits(st->published, &st->targets[i], &last))
            continue;
        changed = (last ^ out->placement_before) & (wanted ^ out->placement_before) &
                  out->placement_known;
        for (int t = 0; t < VTPM_TRAIT_COUNT; t++) {
            if (!(changed & VTPM_TRAITSET_BIT(t)))
                continue;
            VTPM_WARN("placement: trait %s was %s by someone else since this reporter "
                      "published it: nova-compute re-asserts TPM traits from swtpm_enabled; "
                      "set compute_driver = vtpm_libvirt.VTPMLibvirtDriver in its nova.conf "
                      "(see docs/nova.md)", vtpm_trait_name((vtpm_trait)t),
                      last & VTPM_TRAITSET_BIT(t) ? "removed" : "added");
        }
    }
}

void
vtpm_run_state_end(vtpm_run_state *st, const vtpm_report *report,
                   const vtpm_publish_result *out, time_t now)
{
    char err[512];

    if (st->dir) {
        run_state_check_placement(st, report, out);
        if (!report->inconclusive &&
            (out->status == VTPM_PUBLISH_CHANGED || out->status == VTPM_PUBLISH_UNCHANGED) &&
            vtpm_state_published_write(st->dir, report, st->targets, st->ntargets, now, err,
                                       sizeof(err)) < 0)
            VTPM_WARN("%s: the next run publishes again", err);
    }
    vtpm_run_state_clear(st);
}
