/* SPDX-License-Identifier: Apache-2.0 */
/* The PostgreSQL publisher: one parameterised call of vtpm.publish() over libpq. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "alloc.h"
#include "log.h"
#include "pg.h"
#include "publish_pg.h"
#include "util.h"

static const char publish_sql[] =
    "SELECT status, generation FROM vtpm.publish($1, $2::uuid, $3::boolean, $4, "
    "$5::jsonb, $6::jsonb)";

static vtpm_publish_status
result_fail(vtpm_publish_result *out, vtpm_publish_status status, const char *fmt, ...)
    VTPM_PRINTF(3, 4);

static vtpm_publish_status
result_fail(vtpm_publish_result *out, vtpm_publish_status status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vtpm_vstrfmt(out->message, sizeof(out->message), fmt, ap);
    va_end(ap);
    out->status = status;
    return status;
}

/* The traits document vtpm.publish() takes: {name: {present, code, reason}}. */
static char *
traits_json(const vtpm_report *report)
{
    json_t *doc = VTPM_ALLOC_CHECK(json_object());
    char *text;

    for (int t = 0; t < VTPM_TRAIT_COUNT; t++) {
        const vtpm_trait_decision *d = &report->traits[t];
        json_t *item = VTPM_ALLOC_CHECK(json_pack(
            "{s:b, s:s, s:s}", "present", d->state == VTPM_TRAIT_STATE_PRESENT,
            "code", d->reason_code ? d->reason_code : "", "reason", d->reason));

        if (json_object_set_new(doc, vtpm_trait_name((vtpm_trait)t), item) < 0)
            vtpm_alloc_abort();
    }
    text = VTPM_ALLOC_CHECK(json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS));
    json_decref(doc);
    return text;
}

/* The publisher's status for a failure of class @c (vtpm_pg_classify()). */
static vtpm_publish_status
publish_status_of(vtpm_pg_class c)
{
    switch (c) {
    case VTPM_PG_CONFIG:
    case VTPM_PG_NO_SCHEMA:
        return VTPM_PUBLISH_CONFIG;
    case VTPM_PG_REFUSED:
    case VTPM_PG_DENIED:
        return VTPM_PUBLISH_REFUSED;
    case VTPM_PG_OK:            /* a result of other than one row: the server went odd */
    case VTPM_PG_UNREACHABLE:
        break;
    }
    return VTPM_PUBLISH_UNREACHABLE;
}

vtpm_publish_status
vtpm_pg_publish_conn(PGconn *conn, const vtpm_report *report, vtpm_publish_result *out)
{
    VTPM_AUTOFREE(char *) traits = NULL;
    const char *values[6];
    char what[512], msg[512];
    PGresult *res = NULL;
    vtpm_publish_status status;

    memset(out, 0, sizeof(*out));
    out->generation = -1;
    if (!report || !report->host[0])
        return result_fail(out, VTPM_PUBLISH_CONFIG, "report has no host name");
    if (!report->inconclusive)
        traits = traits_json(report);
    vtpm_pgconn_describe(conn, what, sizeof(what));

    values[0] = report->host;
    values[1] = report->provider_uuid[0] ? report->provider_uuid : NULL;
    values[2] = report->inconclusive ? "true" : "false";
    values[3] = report->inconclusive ? report->inconclusive_reason : NULL;
    values[4] = traits ? traits : "{}";
    values[5] = report->facts_json;
    VTPM_DEBUG("publishing host '%s' to %s", report->host, what);
    res = PQexecParams(conn, publish_sql, 6, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        status = publish_status_of(vtpm_pg_classify(conn, res));
        vtpm_pg_message(res, conn, msg, sizeof(msg));
        if (status == VTPM_PUBLISH_CONFIG)
            result_fail(out, status, "%s has no inventory schema (run vtpm-inventory migrate): %s",
                        what, msg);
        else
            result_fail(out, status, "%s %s host '%s': %s", what,
                        status == VTPM_PUBLISH_UNREACHABLE ? "went away while publishing"
                                                           : "refused the report of",
                        report->host, msg);
        goto cleanup;
    }

    out->generation = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    if (strcmp(PQgetvalue(res, 0, 0), "changed") == 0)
        status = VTPM_PUBLISH_CHANGED;
    else if (strcmp(PQgetvalue(res, 0, 0), "unchanged") == 0)
        status = VTPM_PUBLISH_UNCHANGED;
    else
        status = VTPM_PUBLISH_INCONCLUSIVE;
    out->status = status;
    vtpm_strfmt(out->message, sizeof(out->message), "host '%s' published to %s: %s, generation %lld",
                report->host, what, PQgetvalue(res, 0, 0), out->generation);

cleanup:
    PQclear(res);
    return status;
}

vtpm_publish_status
vtpm_pg_publish(const char *dsn, const vtpm_report *report, vtpm_publish_result *out)
{
    /* Defaults first: whatever the DSN says overrides them. A database host
     * that stops answering mid-publish (a network partition, a host that
     * lost power) fails the attempt in about half a minute instead of the
     * kernel's quarter of an hour (retransmissions) or two hours (an idle
     * socket): unacknowledged data by tcp_user_timeout, a query sent and
     * acknowledged but never answered by keepalives. The attempt is then
     * "unreachable" and retried; a publish is idempotent, so a retry after a
     * commit whose answer was lost records an unchanged report. With a
     * multi-host DSN (a primary and its standbys), only a server that
     * accepts writes will do: while none does (a failover), the attempt is
     * unreachable and retried, and each attempt tries the hosts again. */
    static const vtpm_pg_connect_opts opts = {
        .application_name = "vtpm-reporter",
        .connect_timeout = "10",
        .keepalives_idle = "10",
        .keepalives_interval = "5",
        .keepalives_count = "4",
        .tcp_user_timeout = "30000",
        .target_session_attrs = "read-write",
    };
    char what[512], msg[512], masked[512];
    PGconn *conn = NULL;
    vtpm_publish_status status;

    memset(out, 0, sizeof(*out));
    out->generation = -1;
    if (!report || !report->host[0])
        return result_fail(out, VTPM_PUBLISH_CONFIG, "report has no host name");

    /* Refuse a DSN libpq cannot parse before trying it; its message may quote
     * the DSN, and what it cannot parse cannot be masked: show none of it. */
    if (vtpm_pg_dsn_check(dsn) < 0)
        return result_fail(out, VTPM_PUBLISH_CONFIG,
                           "cannot parse the DSN (not shown: it may hold a password)");

    /* libpq hands an encrypted key's passphrase to OpenSSL only when the DSN
     * has a non-empty sslpassword; without one OpenSSL asks on the terminal,
     * or on stdin, which would hang a run started by hand and feed a cron
     * job's stdin to it. libpq's own hook answers with sslpassword or
     * nothing: a missing passphrase then fails the connection at once. The
     * hook is global to the process; an application's own is kept. */
    if (!PQgetSSLKeyPassHook_OpenSSL())
        PQsetSSLKeyPassHook_OpenSSL(PQdefaultSSLKeyPassHook_OpenSSL);
    if (vtpm_log_enabled(VTPM_LOG_DEBUG))
        VTPM_DEBUG("connecting with DSN '%s'", vtpm_pg_dsn_mask(masked, sizeof(masked), dsn));
    conn = VTPM_ALLOC_CHECK(vtpm_pg_connect(dsn, &opts));
    if (PQstatus(conn) != CONNECTION_OK) {
        vtpm_pg_message(NULL, conn, msg, sizeof(msg));
        status = publish_status_of(vtpm_pg_classify(conn, NULL));
        result_fail(out, status, "cannot connect to %s: %s",
                    vtpm_pgconn_describe(conn, what, sizeof(what)), msg);
        goto cleanup;
    }
    status = vtpm_pg_publish_conn(conn, report, out);

cleanup:
    PQfinish(conn);
    return status;
}

/*
 * The publisher's state is the config: every run connects anew, and a DSN
 * libpq cannot parse is found then (VTPM_PUBLISH_CONFIG), so open never fails.
 */
static void *
publisher_postgres_open(const vtpm_conf *conf,
                        char *err, /* NOLINT(readability-non-const-parameter): the ops signature */
                        size_t errlen)
{
    (void)err;
    (void)errlen;
    return (void *)conf;
}

static vtpm_publish_status
publisher_postgres_publish(void *state, const vtpm_report *report, vtpm_publish_result *out)
{
    const vtpm_conf *conf = state;
    const char *dsn = conf->postgres_dsn && *conf->postgres_dsn ? conf->postgres_dsn : NULL;

    return vtpm_pg_publish(vtpm_dsn_lookup(dsn), report, out);
}

const vtpm_publisher_ops vtpm_publisher_postgres = {
    .name = "postgres",
    .open = publisher_postgres_open,
    .publish = publisher_postgres_publish,
    .close = NULL,
};
