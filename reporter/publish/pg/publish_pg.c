/* SPDX-License-Identifier: Apache-2.0 */
/* The PostgreSQL publisher: one parameterised call of vtpm.publish() over libpq. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "alloc.h"
#include "log.h"
#include "pg.h"
#include "publish_pg.h"
#include "secret_file.h"
#include "util.h"

/*
 * Both publish calls pass p_durable => false: a report that changes a trait
 * commits without waiting for its WAL, and publish_on() then waits for it
 * with vtpm.flush(), outside the lock that orders notifying commits
 * (migration 0013). Only then is the report counted as stored.
 */
static const char publish_sql[] =
    "SELECT status, generation FROM vtpm.publish($1, $2::uuid, $3::boolean, $4, "
    "$5::jsonb, $6::jsonb, false)";
/* Every argument text, signed as sent (vtpm_keys.signed_message()). */
static const char publish_signed_sql[] =
    "SELECT status, generation FROM vtpm.publish_signed($1, $2, $3, $4, $5, $6, $7, $8, $9, false)";
static const char flush_sql[] = "SELECT vtpm.flush()";

/* The fields a signature covers, in order, after the "vtpm-publish-v1" tag. */
enum { SIGNED_FIELDS = 8 };

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
        return VTPM_PUBLISH_CONFIG;
    case VTPM_PG_NO_SCHEMA:     /* not migrated: the inventory refuses (exit 6) */
    case VTPM_PG_REFUSED:
    case VTPM_PG_DENIED:
        return VTPM_PUBLISH_REFUSED;
    case VTPM_PG_OK:            /* a result of other than one row: the server went odd */
    case VTPM_PG_UNREACHABLE:
        break;
    }
    return VTPM_PUBLISH_UNREACHABLE;
}

/* Appends netstring "<len>:<bytes>," of @field (NULL is "") to @buf (@size
 * bytes, room enough) at *@len. A C string holds no NUL: %s copies it whole. */
static void
netstring_append(char *buf, size_t size, size_t *len, const char *field)
{
    const char *f = field ? field : "";

    *len += (size_t)snprintf(buf + *len, size - *len, "%zu:%s,", strlen(f), f);
}

/*
 * The signature of @fields (SIGNED_FIELDS of them) with @key: HMAC-SHA256
 * over the netstrings of "vtpm-publish-v1" and each field, in lower-case hex
 * into @hex. The format is docs/inventory.md's ("Pooled publishing").
 */
static void
sign_fields(const vtpm_host_key *key, const char *const fields[], char hex[65])
{
    static const char tag[] = "vtpm-publish-v1";
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    size_t size = sizeof(tag) + 24, len = 0;
    char *msg;

    for (size_t i = 0; i < SIGNED_FIELDS; i++)
        size += (fields[i] ? strlen(fields[i]) : 0) + 24;
    msg = vtpm_alloc_calloc(1, size);
    netstring_append(msg, size, &len, tag);
    for (size_t i = 0; i < SIGNED_FIELDS; i++)
        netstring_append(msg, size, &len, fields[i]);
    if (!HMAC(EVP_sha256(), key->secret, (int)sizeof(key->secret), (const unsigned char *)msg,
              len, mac, &maclen) || maclen != 32)
        vtpm_alloc_abort();     /* only an allocation inside OpenSSL can fail here */
    for (unsigned int i = 0; i < maclen; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    explicit_bzero(mac, sizeof(mac));
    free(msg);
}

/* Now in microseconds since the Unix epoch: a signed report's sequence. */
static int64_t
report_time_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Runs the publish call for @report on @conn: signed with @key, or not (NULL). */
static PGresult *
publish_exec(PGconn *conn, const vtpm_host_key *key, const vtpm_report *report,
             const char *traits)
{
    const char *values[SIGNED_FIELDS + 1];
    char seq[24], sig[65];

    if (!key) {
        values[0] = report->host;
        values[1] = report->provider_uuid[0] ? report->provider_uuid : NULL;
        values[2] = report->inconclusive ? "true" : "false";
        values[3] = report->inconclusive ? report->inconclusive_reason : NULL;
        values[4] = traits ? traits : "{}";
        values[5] = report->facts_json;
        return PQexecParams(conn, publish_sql, 6, NULL, values, NULL, NULL, 0);
    }
    /* Strictly increasing across runs: the database refuses one not after
     * the host's last accepted report (a replay). */
    vtpm_strfmt(seq, sizeof(seq), "%" PRId64, report_time_us());
    values[0] = key->id;
    values[1] = seq;
    values[2] = report->host;
    values[3] = report->provider_uuid;
    values[4] = report->inconclusive ? "true" : "false";
    values[5] = report->inconclusive ? report->inconclusive_reason : "";
    values[6] = traits ? traits : "{}";
    values[7] = report->facts_json ? report->facts_json : "";
    sign_fields(key, values, sig);
    values[8] = sig;
    return PQexecParams(conn, publish_signed_sql, 9, NULL, values, NULL, NULL, 0);
}

/*
 * A report that changed a trait was committed without waiting for its WAL
 * (publish_sql): waits until it is durable. Returns VTPM_PUBLISH_CHANGED, or
 * the failure, in @out: the report may then be lost, so it does not count
 * as stored and the next attempt or run publishes it again.
 */
static vtpm_publish_status
confirm_stored(PGconn *conn, const char *what, const vtpm_report *report,
               vtpm_publish_result *out)
{
    PGresult *res = PQexec(conn, flush_sql);
    vtpm_publish_status status = VTPM_PUBLISH_CHANGED;
    char msg[512];

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        status = publish_status_of(vtpm_pg_classify(conn, res));
        vtpm_pg_message(res, conn, msg, sizeof(msg));
        out->generation = -1;
        result_fail(out, status, "%s took the report of host '%s' but could not confirm it is "
                    "stored: %s", what, report->host, msg);
    }
    PQclear(res);
    return status;
}

/* vtpm_pg_publish_conn(), signed with @key unless it is NULL. */
static vtpm_publish_status
publish_on(PGconn *conn, const vtpm_host_key *key, const vtpm_report *report,
           vtpm_publish_result *out)
{
    VTPM_AUTOFREE(char *) traits = NULL;
    char what[512], msg[512];
    PGresult *res = NULL;
    vtpm_publish_status status;

    memset(out, 0, sizeof(*out));
    out->generation = -1;
    if (!report || !report->host[0])
        return result_fail(out, VTPM_PUBLISH_CONFIG, "report has no host name");
    vtpm_pgconn_describe(conn, what, sizeof(what));
    /* The signature covers bytes; the server must read them as sent. */
    if (key && strcmp(pg_encoding_to_char(PQclientEncoding(conn)), "UTF8") != 0)
        return result_fail(out, VTPM_PUBLISH_CONFIG,
                           "signed reports need client_encoding UTF8, not '%s' (see the DSN "
                           "or PGCLIENTENCODING)", pg_encoding_to_char(PQclientEncoding(conn)));
    if (!report->inconclusive)
        traits = traits_json(report);

    VTPM_DEBUG("publishing host '%s' to %s%s%s", report->host, what, key ? " with key " : "",
               key ? key->id : "");
    res = publish_exec(conn, key, report, traits);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        vtpm_pg_class cls = vtpm_pg_classify(conn, res);

        status = publish_status_of(cls);
        vtpm_pg_message(res, conn, msg, sizeof(msg));
        if (cls == VTPM_PG_NO_SCHEMA)
            result_fail(out, status, "%s has no inventory schema, or an older one than this "
                        "publisher needs (run vtpm-inventory migrate): %s",
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
    if (status == VTPM_PUBLISH_CHANGED) {
        status = confirm_stored(conn, what, report, out);
        if (status != VTPM_PUBLISH_CHANGED)
            goto cleanup;
    }
    out->status = status;
    vtpm_strfmt(out->message, sizeof(out->message), "host '%s' published to %s: %s, generation %lld",
                report->host, what, PQgetvalue(res, 0, 0), out->generation);

cleanup:
    PQclear(res);
    return status;
}

vtpm_publish_status
vtpm_pg_publish_conn(PGconn *conn, const vtpm_report *report, vtpm_publish_result *out)
{
    return publish_on(conn, NULL, report, out);
}

vtpm_publish_status
vtpm_pg_publish_signed_conn(PGconn *conn, const vtpm_host_key *key, const vtpm_report *report,
                            vtpm_publish_result *out)
{
    return publish_on(conn, key, report, out);
}

vtpm_publish_status
vtpm_pg_publish_signed(const char *dsn, const vtpm_host_key *key, const vtpm_report *report,
                       vtpm_publish_result *out)
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
        /* The reporter's text is UTF-8 (and a signature covers bytes). */
        .client_encoding = "UTF8",
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
    status = publish_on(conn, key, report, out);

cleanup:
    PQfinish(conn);
    return status;
}

vtpm_publish_status
vtpm_pg_publish(const char *dsn, const vtpm_report *report, vtpm_publish_result *out)
{
    return vtpm_pg_publish_signed(dsn, NULL, report, out);
}

int
vtpm_host_key_load(const char *path, vtpm_host_key *key, char *err, size_t errlen)
{
    char line[VTPM_HOST_KEY_TOKEN_LEN + 3], why[256];
    int rc = -1;

    memset(key, 0, sizeof(*key));
    if (vtpm_secret_file_read_line(path, "key file", line, sizeof(line), err, errlen) < 0)
        return -1;
    if (vtpm_host_key_parse(line, key, why, sizeof(why)) < 0)
        vtpm_strfmt(err, errlen, "key file '%s': %s", path, why);
    else
        rc = 0;
    explicit_bzero(line, sizeof(line));
    return rc;
}

/* The publisher's state: the config, and the host key in the signed mode. */
typedef struct {
    const vtpm_conf *conf;
    bool signed_mode;
    vtpm_host_key key;
} publisher_postgres;

/*
 * Every run connects anew, and a DSN libpq cannot parse is found then
 * (VTPM_PUBLISH_CONFIG); only a key file that cannot be used fails here.
 */
static void *
publisher_postgres_open(const vtpm_conf *conf, char *err, size_t errlen)
{
    publisher_postgres *p = vtpm_alloc_calloc(1, sizeof(*p));

    p->conf = conf;
    if (conf->postgres_key_file && *conf->postgres_key_file) {
        if (vtpm_host_key_load(conf->postgres_key_file, &p->key, err, errlen) < 0) {
            free(p);
            return NULL;
        }
        p->signed_mode = true;
        VTPM_DEBUG("signed mode: key %s from '%s'", p->key.id, conf->postgres_key_file);
    }
    return p;
}

static vtpm_publish_status
publisher_postgres_publish(void *state, const vtpm_report *report, vtpm_publish_result *out)
{
    const publisher_postgres *p = state;
    const char *dsn = p->conf->postgres_dsn && *p->conf->postgres_dsn ? p->conf->postgres_dsn
                                                                        : NULL;

    return vtpm_pg_publish_signed(vtpm_dsn_lookup(dsn), p->signed_mode ? &p->key : NULL, report,
                                  out);
}

static void
publisher_postgres_close(void *state)
{
    publisher_postgres *p = state;

    if (!p)
        return;
    vtpm_host_key_clear(&p->key);
    free(p);
}

const vtpm_publisher_ops vtpm_publisher_postgres = {
    .name = "postgres",
    .open = publisher_postgres_open,
    .publish = publisher_postgres_publish,
    .close = publisher_postgres_close,
};
