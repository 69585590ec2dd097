/* SPDX-License-Identifier: Apache-2.0 */
/* libpq helpers: where a connection points, and one-line error messages. */
#include <string.h>

#include "pg.h"
#include "util.h"

char *
vtpm_pgconn_describe(const PGconn *conn, char *buf, size_t size)
{
    const char *host = conn ? PQhost(conn) : NULL;
    const char *port = conn ? PQport(conn) : NULL;
    const char *db = conn ? PQdb(conn) : NULL;

    return vtpm_strfmt(buf, size, "database '%s' on '%s:%s'",
                       db && *db ? db : "?", host && *host ? host : "?",
                       port && *port ? port : "?");
}

const char *
vtpm_pg_message(const PGresult *res, const PGconn *conn, char *buf, size_t size)
{
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    int len = -1;

    if (!msg || !*msg)
        msg = res ? PQresultErrorMessage(res) : NULL;
    if (!msg || !*msg) {
        /* A server's FATAL: the first line says it all, the rest is context. */
        msg = conn ? PQerrorMessage(conn) : NULL;
        if (msg && strncmp(msg, "FATAL:", 6) == 0)
            len = (int)strcspn(msg, "\n");
    }
    if (len >= 0)
        vtpm_strfmt(buf, size, "%.*s", len, msg);
    else
        vtpm_strfmt(buf, size, "%s", msg && *msg ? msg : "unknown error");
    return vtpm_str_one_line(buf);
}

int
vtpm_pg_dsn_check(const char *dsn)
{
    char *parse_err = NULL;
    PQconninfoOption *parsed = PQconninfoParse(dsn ? dsn : "", &parse_err);

    if (!parsed) {
        if (!parse_err)
            return -2;
        explicit_bzero(parse_err, strlen(parse_err));
        PQfreemem(parse_err);
        return -1;
    }
    for (PQconninfoOption *o = parsed; o->keyword; o++) {
        if (o->val)
            explicit_bzero(o->val, strlen(o->val));
    }
    PQconninfoFree(parsed);
    return 0;
}

PGconn *
vtpm_pg_connect(const char *dsn, const vtpm_pg_connect_opts *opts)
{
    const char *const keywords[] = { "connect_timeout", "application_name", "keepalives",
                                     "keepalives_idle", "keepalives_interval",
                                     "keepalives_count", "tcp_user_timeout", "dbname", NULL };
    const char *const values[] = { opts->connect_timeout, opts->application_name, "1",
                                   opts->keepalives_idle, opts->keepalives_interval,
                                   opts->keepalives_count, opts->tcp_user_timeout,
                                   dsn ? dsn : "", NULL };

    /* expand_dbname: the DSN in "dbname" overrides every default before it */
    return PQconnectdbParams(keywords, values, 1);
}
