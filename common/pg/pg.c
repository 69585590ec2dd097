/* SPDX-License-Identifier: Apache-2.0 */
/* libpq helpers: connecting, where a connection points, what a failure means, messages. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "pg.h"
#include "util.h"

#define SQLSTATE_LEN 5

/* PQconnectdbParams(@keywords, @values, 1), keeping a refusal's SQLSTATE. */
static PGconn *
pg_connect_params(const char *const *keywords, const char *const *values)
{
    /* libpq 15 keeps no PGresult for an ErrorResponse during startup (after
     * the failure PQgetResult() gives NULL, or a result of its own without
     * a SQLSTATE): a FATAL's code (28P01, 3D000, 53300, 57P03...) reaches us
     * only in the text of PQerrorMessage(), at verbosity VERBOSE ("FATAL:
     * 28P01: ..."). Verbosity belongs to a PGconn, which exists once
     * PQconnectStartParams() started connecting; PQreset() then connects
     * again, blocking, with libpq's own connect_timeout and multi-host
     * handling. The first attempt has sent nothing yet: the server sees a
     * connection closed before its startup packet, which it does not log
     * (only log_connections shows it). */
    PGconn *conn = PQconnectStartParams(keywords, values, 1);

    if (!conn || PQstatus(conn) == CONNECTION_BAD)
        return conn;
    PQsetErrorVerbosity(conn, PQERRORS_VERBOSE);
    PQreset(conn);
    if (PQstatus(conn) == CONNECTION_OK)
        PQsetErrorVerbosity(conn, PQERRORS_DEFAULT);
    return conn;
}

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

/* Five characters [0-9A-Z] at @s, as every SQLSTATE. */
static bool
sqlstate_at(const char *s)
{
    for (int i = 0; i < SQLSTATE_LEN; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z')))
            return false;
    }
    return true;
}

/*
 * Where the SQLSTATE of a verbose startup error ("SEVERITY:  CODE: text")
 * starts in @msg, the last one when libpq tried several servers; NULL if
 * the server sent none. The layout ("%s:  " then "%s: ") is libpq's and the
 * same in every language; the severity before it is the server's, and
 * translated.
 */
static const char *
startup_sqlstate(const char *msg)
{
    const char *found = NULL;

    for (const char *p = msg ? strstr(msg, ":  ") : NULL; p; p = strstr(p + 1, ":  ")) {
        if (sqlstate_at(p + 3) && p[3 + SQLSTATE_LEN] == ':' && p[4 + SQLSTATE_LEN] == ' ')
            found = p + 3;
    }
    return found;
}

static vtpm_pg_class
class_of_sqlstate(const char *state)
{
    /* 08: connection exception; 57P0x: terminated by an administrator
     * (57P01), shutting down or starting up (57P03); 40: serialization
     * failure or deadlock, worth a retry; 53300: too many connections. */
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
        strncmp(state, "40", 2) == 0 || strcmp(state, "53300") == 0)
        return VTPM_PG_UNREACHABLE;
    /* No schema, table or function: the database was never migrated. */
    if (strcmp(state, "3F000") == 0 || strcmp(state, "42883") == 0 ||
        strcmp(state, "42P01") == 0)
        return VTPM_PG_NO_SCHEMA;
    if (strcmp(state, "3D000") == 0)        /* the DSN names no such database */
        return VTPM_PG_CONFIG;
    if (strcmp(state, "42501") == 0)
        return VTPM_PG_DENIED;
    /* 28: authentication, pg_hba.conf, a login that may not log in; 22
     * and 23: data refused; P0001: raised by the inventory's functions. */
    return VTPM_PG_REFUSED;
}

/* True if @msg holds one of the @n strings of @list. */
static bool
message_has(const char *msg, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strstr(msg, list[i]))
            return true;
    }
    return false;
}

/*
 * A connection that failed with no code from the server: a server that did
 * not answer, a password we did not have, or libpq's and OpenSSL's own
 * failures, which carry no code, so their text is all there is. That text
 * is never the server's (its lc_messages has no part in it): OpenSSL's is
 * English, and libpq's and strerror()'s follow the client's LC_MESSAGES,
 * which is "C" (English) in our programs (none calls setlocale()) and in a
 * host process that does not set LC_MESSAGES. Texts are libpq 15's
 * (fe-connect.c, fe-secure-openssl.c).
 */
static vtpm_pg_class
class_of_client_failure(const PGconn *conn, const char *msg)
{
    /* Our TLS files, read as the handshake starts: missing, unreadable,
     * group/world-readable, or an encrypted key without the right
     * sslpassword ("bad decrypt", "processing error"). */
    static const char *const config[] = {
        "private key file", "could not open certificate file",
        "could not read certificate file", "root certificate file",
        "could not read root certificate", "certificate present, but not private key",
    };
    /* The server's certificate did not verify (or names another host), the
     * server sent a TLS alert (it does not trust our certificate), or has
     * no TLS. A connection cut without an alert ("SSL SYSCALL error",
     * "unexpected eof") stays unreachable. */
    static const char *const refused[] = { "certificate", "alert", "does not support SSL" };
    /* libpq's complaints about the DSN itself ("invalid sslmode value",
     * "invalid integer value", "unrecognized"...). */
    static const char *const dsn[] = { "invalid ", "unrecognized", "does not exist" };

    if (PQconnectionNeedsPassword(conn))
        return VTPM_PG_REFUSED;
    if (message_has(msg, config, VTPM_N_ELEMENTS(config)))
        return VTPM_PG_CONFIG;
    /* A Unix socket we may not open: strerror() in the same locale as libpq's. */
    if (message_has(msg, refused, VTPM_N_ELEMENTS(refused)) || strstr(msg, strerror(EACCES)))
        return VTPM_PG_REFUSED;
    if (message_has(msg, dsn, VTPM_N_ELEMENTS(dsn)))
        return VTPM_PG_CONFIG;
    return VTPM_PG_UNREACHABLE;
}

/* Texts of PgBouncer (1.18) for a login it refuses. */
static const char *const pooler_refusals[] = { "authentication failed", "no such user",
                                               "not allowed" };

vtpm_pg_class
vtpm_pg_classify(const PGconn *conn, const PGresult *res)
{
    const char *state;

    if (res) {
        switch (PQresultStatus(res)) {
        case PGRES_BAD_RESPONSE:
        case PGRES_NONFATAL_ERROR:
        case PGRES_FATAL_ERROR:
            break;
        default:
            return VTPM_PG_OK;
        }
    }
    if (!conn)
        return VTPM_PG_UNREACHABLE;
    if (PQstatus(conn) != CONNECTION_OK) {
        char code[SQLSTATE_LEN + 1];

        /* A query's result on a connection now gone: lost, or ended by the
         * server (57P01...). Retry. */
        if (res)
            return VTPM_PG_UNREACHABLE;
        if (!(state = startup_sqlstate(PQerrorMessage(conn))))
            return class_of_client_failure(conn, PQerrorMessage(conn));
        memcpy(code, state, SQLSTATE_LEN);
        code[SQLSTATE_LEN] = '\0';
        /* PgBouncer ends a login it refuses with 08P01, as it does every
         * error of its own, and an English text: a wrong password or an
         * unknown login is no outage to retry. */
        if (strcmp(code, "08P01") == 0 &&
            message_has(state, pooler_refusals, VTPM_N_ELEMENTS(pooler_refusals)))
            return VTPM_PG_REFUSED;
        return class_of_sqlstate(code);
    }
    state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    /* No code from the server: libpq's own failure (out of memory...). */
    if (!state)
        return VTPM_PG_UNREACHABLE;
    return class_of_sqlstate(state);
}

/* Whether [@p, @eol) is "function, file.c:123", the rest of a LOCATION line. */
static bool
location_is(const char *p, const char *eol)
{
    const char *c = p + strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
    const char *q = eol;

    if (c == p || c >= eol || c[0] != ',' || c[1] != ' ')
        return false;
    while (q > c && q[-1] >= '0' && q[-1] <= '9')
        q--;
    return q < eol && q - c > 4 && q[-3] == '.' && q[-2] == 'c' && q[-1] == ':';
}

/*
 * Copies the connection error @msg into @buf without what verbosity VERBOSE
 * (vtpm_pg_connect()) adds to libpq's default text: the "CODE: " after each
 * severity, and each LOCATION line ("LOCATION:  func, file.c:123", its label
 * in the client's language). Other text is copied as it is.
 */
static void
conn_message_copy(char *buf, size_t size, const char *msg)
{
    size_t o = 0;

    while (*msg && o + 1 < size) {
        const char *eol = msg + strcspn(msg, "\n");
        const char *sep = strstr(msg, ":  ");

        if (sep && sep < eol && location_is(sep + 3, eol)) {
            msg = *eol ? eol + 1 : eol;
            continue;
        }
        while (msg < eol && o + 1 < size) {
            if (msg[0] == ':' && msg[1] == ' ' && msg[2] == ' ' && sqlstate_at(msg + 3) &&
                msg[3 + SQLSTATE_LEN] == ':' && msg[4 + SQLSTATE_LEN] == ' ') {
                /* ":  CODE: text" to ": text", as vtpm_str_one_line() makes ":  text". */
                buf[o++] = ':';
                msg += 4 + SQLSTATE_LEN;
                continue;
            }
            buf[o++] = *msg++;
        }
        if (*msg == '\n' && o + 1 < size)
            buf[o++] = *msg++;
    }
    if (size > 0)
        buf[o] = '\0';
}

const char *
vtpm_pg_message(const PGresult *res, const PGconn *conn, char *buf, size_t size)
{
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

    if (!msg || !*msg)
        msg = res ? PQresultErrorMessage(res) : NULL;
    if ((!msg || !*msg) && conn && *PQerrorMessage(conn)) {
        conn_message_copy(buf, size, PQerrorMessage(conn));
        return vtpm_str_one_line(buf);
    }
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

/* Appends @s to @buf (capacity @size) at *@o, cutting silently. */
static void
pg_buf_put(char *buf, size_t size, size_t *o, const char *s)
{
    while (*s && *o + 1 < size)
        buf[(*o)++] = *s++;
    buf[*o] = '\0';
}

/* Appends @v as a key=value value: quoted, with ' and \ escaped, when libpq
 * would otherwise read it differently (empty, spaces, quotes, backslashes). */
static void
pg_buf_put_value(char *buf, size_t size, size_t *o, const char *v)
{
    char one[3] = "";

    if (*v && !strpbrk(v, " \t\n\r\f\v'\\")) {
        pg_buf_put(buf, size, o, v);
        return;
    }
    pg_buf_put(buf, size, o, "'");
    for (; *v; v++) {
        one[0] = *v == '\'' || *v == '\\' ? '\\' : *v;
        one[1] = one[0] == '\\' ? *v : '\0';
        pg_buf_put(buf, size, o, one);
    }
    pg_buf_put(buf, size, o, "'");
}

char *
vtpm_pg_dsn_mask(char *buf, size_t size, const char *dsn)
{
    char *parse_err = NULL;
    PQconninfoOption *parsed;
    size_t o = 0;

    if (size == 0)
        return buf;
    buf[0] = '\0';
    parsed = PQconninfoParse(dsn ? dsn : "", &parse_err);
    if (!parsed) {
        if (parse_err) {
            explicit_bzero(parse_err, strlen(parse_err));
            PQfreemem(parse_err);
        }
        return buf;
    }
    for (PQconninfoOption *opt = parsed; opt->keyword; opt++) {
        if (!opt->val)
            continue;
        if (o > 0)
            pg_buf_put(buf, size, &o, " ");
        pg_buf_put(buf, size, &o, opt->keyword);
        pg_buf_put(buf, size, &o, "=");
        /* dispchar "*" is libpq's mark of a secret; the names are a second guard */
        if (opt->dispchar[0] == '*' || strstr(opt->keyword, "password"))
            pg_buf_put(buf, size, &o, "***");
        else
            pg_buf_put_value(buf, size, &o, opt->val);
        explicit_bzero(opt->val, strlen(opt->val));
    }
    PQconninfoFree(parsed);
    return buf;
}

PGconn *
vtpm_pg_connect(const char *dsn, const vtpm_pg_connect_opts *opts)
{
    static const vtpm_pg_connect_opts none = { 0 };
    /* Every option of the struct, "keepalives", "dbname" and the terminator:
     * sized from the struct, so that a new option cannot overflow it. */
    enum { PG_KEYWORDS_MAX = sizeof(vtpm_pg_connect_opts) / sizeof(const char *) + 3 };
    const char *keywords[PG_KEYWORDS_MAX], *values[PG_KEYWORDS_MAX];
    size_t n = 0;

    if (!opts)
        opts = &none;
#define PG_OPT(key, value) \
    if (value) { keywords[n] = key; values[n] = value; n++; }
    PG_OPT("connect_timeout", opts->connect_timeout)
    PG_OPT("application_name", opts->application_name)
    if (opts->keepalives_idle || opts->keepalives_interval || opts->keepalives_count)
        PG_OPT("keepalives", "1")
    PG_OPT("keepalives_idle", opts->keepalives_idle)
    PG_OPT("keepalives_interval", opts->keepalives_interval)
    PG_OPT("keepalives_count", opts->keepalives_count)
    PG_OPT("tcp_user_timeout", opts->tcp_user_timeout)
    PG_OPT("target_session_attrs", opts->target_session_attrs)
    PG_OPT("client_encoding", opts->client_encoding)
#undef PG_OPT
    /* expand_dbname: the DSN in "dbname" overrides every default before it */
    keywords[n] = "dbname";
    values[n] = dsn ? dsn : "";
    n++;
    keywords[n] = NULL;
    values[n] = NULL;
    return pg_connect_params(keywords, values);
}
