/* SPDX-License-Identifier: Apache-2.0 */
/* libpq helpers shared by the inventory tool and the reporter's publisher. */
#ifndef VTPM_COMMON_PG_H
#define VTPM_COMMON_PG_H

#include <stddef.h>

#include <libpq-fe.h>

/*
 * Describes where @conn points, "database 'vtpm' on '/run/postgresql:5432'",
 * into @buf; never the user or password. @conn may be NULL. Returns @buf.
 */
char *vtpm_pgconn_describe(const PGconn *conn, char *buf, size_t size);

/*
 * The server's primary message for @res, else the result's or the
 * connection's error text (without what vtpm_pg_connect() adds), on one line in
 * @buf. @res and @conn may be NULL. Returns @buf.
 */
const char *vtpm_pg_message(const PGresult *res, const PGconn *conn, char *buf,
                            size_t size);

/*
 * What a failure means to the caller, from the SQLSTATE wherever there is
 * one. DENIED is a REFUSED and NO_SCHEMA a CONFIG that callers word apart.
 */
typedef enum {
    VTPM_PG_OK = 0,
    VTPM_PG_UNREACHABLE,    /* try again later: no server, lost, starting, full, shutting down */
    VTPM_PG_REFUSED,        /* the server or its certificate said no: login, data */
    VTPM_PG_DENIED,         /* the login lacks a privilege (42501) */
    VTPM_PG_CONFIG,         /* our DSN or files are unusable, or name no database */
    VTPM_PG_NO_SCHEMA       /* connected, but the inventory's schema is missing */
} vtpm_pg_class;

/*
 * Classifies the failure of connecting @conn (from vtpm_pg_connect(), @res
 * NULL) or of the query that returned @res on @conn. A result that is not an
 * error is VTPM_PG_OK.
 */
vtpm_pg_class vtpm_pg_classify(const PGconn *conn, const PGresult *res);

/*
 * How a connection notices a database host that vanished, instead of the
 * kernel's two hours (an idle socket) or quarter of an hour (retransmissions).
 * Strings, as libpq takes them.
 */
typedef struct {
    const char *application_name;
    const char *connect_timeout;      /* seconds */
    const char *keepalives_idle;      /* seconds of silence before the first probe */
    const char *keepalives_interval;  /* seconds between probes */
    const char *keepalives_count;     /* probes lost before the connection is */
    const char *tcp_user_timeout;     /* milliseconds data may stay unacknowledged */
    /* "read-write": of a multi-host DSN's servers, the first that accepts
     * writes (a standby, or a primary being demoted, is passed over) */
    const char *target_session_attrs;
    const char *client_encoding;      /* "UTF8": what the caller's text is */
} vtpm_pg_connect_opts;
/* vtpm_pg_connect() sizes its keyword list from this: strings only. */
_Static_assert(sizeof(vtpm_pg_connect_opts) % sizeof(const char *) == 0,
               "vtpm_pg_connect_opts holds only const char * members");

/*
 * Connects to @dsn (NULL is ""; a URI or key=value pairs) with @opts (NULL:
 * none) as defaults that the DSN overrides, in a way that keeps the SQLSTATE
 * of a server's refusal where vtpm_pg_classify() finds it. Returns NULL only
 * when out of memory; check PQstatus() otherwise.
 */
PGconn *vtpm_pg_connect(const char *dsn, const vtpm_pg_connect_opts *opts);

/*
 * Whether libpq can parse @dsn (NULL is ""): 0 when it can, -1 when it
 * cannot, -2 when out of memory. libpq's message (it may quote a password)
 * is not kept, and the parsed values are wiped before they are freed.
 */
int vtpm_pg_dsn_check(const char *dsn);

/*
 * Writes @dsn (NULL is "") into @buf (@size bytes, cut to fit) as libpq reads
 * it: the keyword=value pairs it sets, in libpq's order, with the value of
 * every secret keyword (those libpq marks secret: password, sslpassword)
 * replaced by "***". A URI is shown as its pairs. A DSN libpq cannot parse
 * is shown as "" (what it cannot parse, it cannot mask). Returns @buf.
 */
char *vtpm_pg_dsn_mask(char *buf, size_t size, const char *dsn);

#endif /* VTPM_COMMON_PG_H */
