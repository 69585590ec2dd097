/* SPDX-License-Identifier: Apache-2.0 */
/* `vtpm-inventory metrics`: the fleet seen from the inventory, in Prometheus's text format. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "fleet_metrics.h"
#include "pg.h"
#include "util.h"

/* One row: hosts, stale, inconclusive, never reported, oldest report age,
 * the staleness threshold (heartbeat + grace, migration 0010). The view's own
 * `stale`, so that the metric says what admins see. Unused view columns are
 * not computed (the view is flattened). */
static const char sql_hosts[] =
    "SELECT count(*), count(*) FILTER (WHERE h.stale),"
    "       count(*) FILTER (WHERE h.last_status = 'inconclusive'),"
    "       count(*) FILTER (WHERE h.last_report_at IS NULL),"
    "       coalesce(extract(epoch FROM now() - min(h.last_report_at)), 0)::float8,"
    "       extract(epoch FROM vtpm.stale_after())::float8"
    "  FROM vtpm.hosts h";

/* Managed traits, in bit order, with the number of hosts that have each. */
static const char sql_traits[] =
    "SELECT t.name, count(rp.id)"
    "  FROM vtpm.traits t"
    "  LEFT JOIN vtpm.resource_providers rp ON rp.tpm_bits & (1 << t.bit) <> 0"
    " WHERE t.bit IS NOT NULL"
    " GROUP BY t.name, t.bit ORDER BY t.bit";

/* Reports received in the last $1 seconds, by status. Per host through the
 * (provider_id, reported_at) index: a few rows per host, not a scan of the
 * whole history. */
static const char sql_reports[] =
    "SELECT s.status, count(x.status)"
    "  FROM unnest(ARRAY['changed', 'unchanged', 'inconclusive']) AS s(status)"
    "  LEFT JOIN (SELECT r.status FROM vtpm.resource_providers rp"
    "             CROSS JOIN LATERAL (SELECT r.status FROM vtpm.reports r"
    "                                  WHERE r.provider_id = rp.id"
    "                                    AND r.reported_at > now() - make_interval(secs => $1::float8)) r"
    "            ) x ON x.status = s.status"
    " GROUP BY s.status ORDER BY s.status";

/* Per managed trait, the reports of the last $1 seconds that added it and
 * that removed it (the partial index on changed reports). */
static const char sql_changes[] =
    "SELECT t.name, count(r.id) FILTER (WHERE t.name = ANY (r.added)),"
    "       count(r.id) FILTER (WHERE t.name = ANY (r.removed))"
    "  FROM vtpm.traits t"
    "  LEFT JOIN vtpm.reports r ON r.status = 'changed'"
    "        AND r.reported_at > now() - make_interval(secs => $1::float8)"
    " WHERE t.bit IS NOT NULL"
    " GROUP BY t.name, t.bit ORDER BY t.bit";

typedef struct {
    PGconn *conn;
    const char *interval;   /* seconds, as text: the queries' $1 */
    FILE *out;              /* the text being built */
    char *err;
    size_t errlen;
} fm_ctx;

int
vtpm_fleet_metrics_parse_interval(const char *value, double *interval)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(value, &end);
    if (errno || end == value || *end || !isfinite(v) || v < VTPM_FLEET_METRICS_INTERVAL_MIN ||
        v > VTPM_FLEET_METRICS_INTERVAL_MAX)
        return -1;
    *interval = v;
    return 0;
}

/* Runs @sql (with $1 the interval when @nparams is 1); expects @ncols columns. */
static PGresult *
fm_query(fm_ctx *ctx, const char *what, const char *sql, int nparams, int ncols)
{
    const char *params[] = { ctx->interval };
    char msg[512];
    PGresult *res = PQexecParams(ctx->conn, sql, nparams, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != ncols) {
        vtpm_strfmt(ctx->err, ctx->errlen, "cannot read %s: %s", what,
                    vtpm_pg_message(res, ctx->conn, msg, sizeof(msg)));
        PQclear(res);
        return NULL;
    }
    return res;
}

/* A non-negative count in @res at @row, @col into *@n; -1 if it is not one. */
static int
fm_count(fm_ctx *ctx, const PGresult *res, int row, int col, long long *n)
{
    const char *v = PQgetvalue(res, row, col);
    char *end;

    errno = 0;
    *n = strtoll(v, &end, 10);
    if (PQgetisnull(res, row, col) || errno || end == v || *end || *n < 0) {
        vtpm_strfmt(ctx->err, ctx->errlen, "unexpected count '%.32s' from the inventory", v);
        return -1;
    }
    return 0;
}

/* A non-negative number of seconds; NULL is @null_value. */
static int
fm_seconds(fm_ctx *ctx, const PGresult *res, int row, int col, double null_value, double *s)
{
    const char *v = PQgetvalue(res, row, col);
    char *end;

    if (PQgetisnull(res, row, col)) {
        *s = null_value;
        return 0;
    }
    errno = 0;
    *s = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(*s)) {
        vtpm_strfmt(ctx->err, ctx->errlen, "unexpected duration '%.32s' from the inventory", v);
        return -1;
    }
    if (*s < 0)
        *s = 0; /* a report from a clock ahead of the server's */
    return 0;
}

/* A trait name or a status as the schema allows them: safe in a label value unescaped. */
static int
fm_label_value(fm_ctx *ctx, const char *value)
{
    size_t n = strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");

    if (n == 0 || value[n]) {
        char q[VTPM_QUOTE_MAX];

        vtpm_strfmt(ctx->err, ctx->errlen, "unexpected name %s in the inventory",
                    vtpm_quote(q, sizeof(q), value));
        return -1;
    }
    return 0;
}

static void
fm_gauge(fm_ctx *ctx, const char *name, const char *help)
{
    fprintf(ctx->out, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

static int
fm_hosts(fm_ctx *ctx)
{
    static const struct {
        const char *name, *help;
    } counts[] = {
        { "vtpm_inventory_hosts", "Hosts in the inventory." },
        { "vtpm_inventory_stale_hosts", "Hosts whose last report is older than the "
          "heartbeat and its grace, or that never reported (vtpm.hosts.stale)." },
        { "vtpm_inventory_inconclusive_hosts", "Hosts whose last report was inconclusive: "
          "their traits are those of an older report." },
        { "vtpm_inventory_never_reported_hosts", "Hosts created (bind-reporter --uuid) that "
          "never reported." },
    };
    PGresult *res = fm_query(ctx, "the hosts", sql_hosts, 0, 6);
    double age, stale_after;
    long long n;

    if (!res)
        return -1;
    for (int i = 0; i < (int)VTPM_N_ELEMENTS(counts); i++) {
        if (fm_count(ctx, res, 0, i, &n) < 0)
            goto fail;
        fm_gauge(ctx, counts[i].name, counts[i].help);
        fprintf(ctx->out, "%s %lld\n", counts[i].name, n);
    }
    if (fm_seconds(ctx, res, 0, 4, 0, &age) < 0 || fm_seconds(ctx, res, 0, 5, 0, &stale_after) < 0)
        goto fail;
    fm_gauge(ctx, "vtpm_inventory_oldest_report_age_seconds", "Age of the oldest last report "
             "among the hosts that reported (0: none did).");
    fprintf(ctx->out, "vtpm_inventory_oldest_report_age_seconds %.3f\n", age);
    fm_gauge(ctx, "vtpm_inventory_stale_after_seconds", "How long a host may go without a "
             "report before it is stale: heartbeat + grace (vtpm.stale_after()).");
    fprintf(ctx->out, "vtpm_inventory_stale_after_seconds %.3f\n", stale_after);
    PQclear(res);
    return 0;

fail:
    PQclear(res);
    return -1;
}

/*
 * Gauge @name, one series per row of @res: label @label from column 0 (a
 * word of letters, digits and _, else refused: it goes unescaped into the
 * label value), the count from column 1. Clears @res.
 */
static int
fm_labelled(fm_ctx *ctx, PGresult *res, const char *name, const char *label, const char *help)
{
    long long n;

    fm_gauge(ctx, name, help);
    for (int row = 0; row < PQntuples(res); row++) {
        if (fm_label_value(ctx, PQgetvalue(res, row, 0)) < 0 || fm_count(ctx, res, row, 1, &n) < 0) {
            PQclear(res);
            return -1;
        }
        fprintf(ctx->out, "%s{%s=\"%s\"} %lld\n", name, label, PQgetvalue(res, row, 0), n);
    }
    PQclear(res);
    return 0;
}

static int
fm_traits(fm_ctx *ctx)
{
    PGresult *res = fm_query(ctx, "the traits", sql_traits, 0, 2);

    if (!res)
        return -1;
    return fm_labelled(ctx, res, "vtpm_inventory_trait_hosts", "trait",
                       "Hosts that have the trait (stale ones included).");
}

static int
fm_reports(fm_ctx *ctx)
{
    PGresult *res = fm_query(ctx, "the reports", sql_reports, 1, 2);

    if (!res)
        return -1;
    fm_gauge(ctx, "vtpm_inventory_interval_seconds", "The interval the interval_* metrics "
             "count over (--interval).");
    fprintf(ctx->out, "vtpm_inventory_interval_seconds %s\n", ctx->interval);
    return fm_labelled(ctx, res, "vtpm_inventory_interval_reports", "status",
                       "Reports received in the last interval, by status.");
}

static int
fm_changes(fm_ctx *ctx)
{
    PGresult *res = fm_query(ctx, "the trait changes", sql_changes, 1, 3);
    long long added, removed;

    if (!res)
        return -1;
    fm_gauge(ctx, "vtpm_inventory_interval_trait_changes", "Reports of the last interval "
             "that added or removed the trait.");
    for (int row = 0; row < PQntuples(res); row++) {
        const char *name = PQgetvalue(res, row, 0);

        if (fm_label_value(ctx, name) < 0 || fm_count(ctx, res, row, 1, &added) < 0 ||
            fm_count(ctx, res, row, 2, &removed) < 0) {
            PQclear(res);
            return -1;
        }
        fprintf(ctx->out, "vtpm_inventory_interval_trait_changes{trait=\"%s\",change=\"added\"} "
                "%lld\n", name, added);
        fprintf(ctx->out, "vtpm_inventory_interval_trait_changes{trait=\"%s\",change=\"removed\"} "
                "%lld\n", name, removed);
    }
    PQclear(res);
    return 0;
}

/* Runs @sql, a command; -1 with @err filled if it fails. */
static int
fm_command(fm_ctx *ctx, const char *sql)
{
    PGresult *res = PQexec(ctx->conn, sql);
    char msg[512];
    int rc = 0;

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        vtpm_strfmt(ctx->err, ctx->errlen, "cannot read the inventory: %s",
                    vtpm_pg_message(res, ctx->conn, msg, sizeof(msg)));
        rc = -1;
    }
    PQclear(res);
    return rc;
}

int
vtpm_fleet_metrics_collect(PGconn *conn, double interval, char **text, char *err,
                           size_t errlen)
{
    char interval_text[32];
    size_t len = 0;
    fm_ctx ctx = { conn, interval_text, NULL, err, errlen };
    int rc = -1;

    *text = NULL;
    vtpm_strfmt(interval_text, sizeof(interval_text), "%.3f", interval);
    ctx.out = VTPM_ALLOC_CHECK(open_memstream(text, &len));
    /* One snapshot: the numbers add up. A scrape must not hang on a lock. */
    if (fm_command(&ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") < 0)
        goto done;
    if (fm_command(&ctx, "SET LOCAL statement_timeout = '30s'") == 0 && fm_hosts(&ctx) == 0 &&
        fm_traits(&ctx) == 0 && fm_reports(&ctx) == 0 && fm_changes(&ctx) == 0)
        rc = 0;
    PQclear(PQexec(conn, rc == 0 ? "COMMIT" : "ROLLBACK"));

done:
    if (fclose(ctx.out) != 0) {
        vtpm_strfmt(err, errlen, "out of memory");
        rc = -1;
    }
    if (rc < 0) {
        free(*text);
        *text = NULL;
    }
    return rc;
}
