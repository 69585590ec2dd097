/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm_inventory: loads the providers, follows vtpm_traits notifications, reconnects. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "clock.h"
#include "inventory-priv.h"
#include "pg.h"
#include "util.h"

#define INVENTORY_CHANNEL "vtpm_traits"
#define INVENTORY_KNOWN_FLAGS 0u
#define RELOAD_INTERVAL_DEFAULT_MS 300000
#define RETRY_FIRST_MS 250
#define RETRY_MAX_MS 30000

/* Nothing here has a column to point at. */
#define inventory_fail(err, status, ...) vtpm_inventory_fail(err, status, 0, __VA_ARGS__)

/* Load order is creation order, so that a reload keeps the answers' order. */
static const char load_sql[] =
    "SELECT uuid, tpm_bits, generation FROM vtpm.resource_providers ORDER BY id";
static const char reread_sql[] =
    "SELECT uuid, tpm_bits, generation FROM vtpm.resource_providers "
    "WHERE uuid = ANY ($1::uuid[]) ORDER BY id";

/* A notified uuid waiting to be re-read; generation INT64_MAX when the payload had none. */
typedef struct {
    vtpm_uuid uuid;
    int64_t generation;
} pending_uuid;

struct vtpm_inventory {
    PGconn *conn;                   /* NULL while the connection is lost */
    char *dsn;
    char where[160];                /* "database 'x' on 'h:p'", for messages */
    vtpm_inventory_store store;
    pending_uuid *pending;
    size_t n_pending;
    size_t cap_pending;
    bool reload_pending;            /* the cache may have missed changes */
    int64_t reload_interval_ms;     /* 0: never by itself */
    int64_t loaded_at_ms;
    int64_t retry_at_ms;            /* no reconnection attempt before */
    int64_t retry_delay_ms;
    uint64_t counters[VTPM_INVENTORY_COUNTER_COUNT];
    vtpm_inventory_clock clock;     /* for the pauses above; NULL: vtpm_clock_now_ms() */
};

/* The time that the reload interval and the reconnection pause go by. */
static int64_t
inventory_now(const vtpm_inventory *inv)
{
    return inv->clock ? inv->clock() : vtpm_clock_now_ms();
}

void
vtpm_inventory_set_clock(vtpm_inventory *inv, vtpm_inventory_clock clock)
{
    if (inv)
        inv->clock = clock;
}

vtpm_status
vtpm_inventory_fail(vtpm_error *err, vtpm_status status, int column, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return status;
    err->status = status;
    err->line = column ? 1 : 0;
    err->column = column;
    va_start(ap, fmt);
    vtpm_vstrfmt(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return status;
}

/* The library never prints: libpq's notices go nowhere. */
static void
notice_ignore(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Drops a broken connection; the next refresh reconnects and reloads. */
static vtpm_status
connection_lost(vtpm_inventory *inv, const PGresult *res, vtpm_error *err)
{
    char msg[256];

    vtpm_pg_message(res, inv->conn, msg, sizeof(msg));
    PQfinish(inv->conn);
    inv->conn = NULL;
    inv->reload_pending = true;
    inv->retry_at_ms = 0;
    inv->retry_delay_ms = RETRY_FIRST_MS;
    return inventory_fail(err, VTPM_ERR_UNREACHABLE,
                          "lost the connection to %s, answering from the cache: %s",
                          inv->where, msg);
}

/* The error of a failed query @res, as a status and a message about @doing. */
static vtpm_status
query_failed(vtpm_inventory *inv, const PGresult *res, const char *doing, vtpm_error *err)
{
    vtpm_pg_class class;
    char msg[256];

    if (PQstatus(inv->conn) != CONNECTION_OK)
        return connection_lost(inv, res, err);
    vtpm_pg_message(res, inv->conn, msg, sizeof(msg));
    if (!res)
        return inventory_fail(err, VTPM_ERR_NO_MEMORY, "cannot %s from %s: %s", doing,
                              inv->where, msg);
    class = vtpm_pg_classify(inv->conn, res);
    if (class == VTPM_PG_NO_SCHEMA)
        return inventory_fail(err, VTPM_ERR_DATABASE,
                              "%s has no inventory schema (run vtpm-inventory migrate): %s",
                              inv->where, msg);
    if (class == VTPM_PG_DENIED)
        return inventory_fail(err, VTPM_ERR_DATABASE,
                              "login '%s' may not read the inventory in %s (grant it "
                              "vtpm_reader): %s", PQuser(inv->conn), inv->where, msg);
    return inventory_fail(err, VTPM_ERR_DATABASE, "cannot %s from %s: %s", doing, inv->where,
                          msg);
}

/* Connects and LISTENs; on success inv->conn is set and a reload is due. */
static vtpm_status
inventory_connect(vtpm_inventory *inv, vtpm_error *err)
{
    /* Defaults first: whatever the DSN says overrides them. The connection
     * idles between notifications: TCP keepalives notice a database host
     * that vanished (about 40 s: the first probe after 30 s of silence, and
     * the user timeout has passed at the second) instead of the kernel's
     * two hours, and tcp_user_timeout ends a query whose data the host
     * stopped acknowledging after 30 s instead of the kernel's quarter of
     * an hour of retransmissions. A standby cannot LISTEN: of a multi-host
     * DSN's servers, the one that accepts writes (the primary) is taken, and
     * after a failover the reconnection finds the promoted one. */
    static const vtpm_pg_connect_opts opts = {
        .application_name = "vtpm-inventory-cache",
        .connect_timeout = "10",
        .keepalives_idle = "30",
        .keepalives_interval = "10",
        .keepalives_count = "3",
        .tcp_user_timeout = "30000",
        .target_session_attrs = "read-write",
    };
    PGconn *conn = vtpm_pg_connect(inv->dsn, &opts);
    PGresult *res;
    char msg[256];

    if (!conn)
        return inventory_fail(err, VTPM_ERR_NO_MEMORY, "out of memory");
    vtpm_pgconn_describe(conn, inv->where, sizeof(inv->where));
    if (PQstatus(conn) != CONNECTION_OK) {
        /* Only what waiting may cure is unreachable: a refused login, a
         * certificate or a DSN naming no database will not come right. */
        vtpm_status st = vtpm_pg_classify(conn, NULL) == VTPM_PG_UNREACHABLE
                             ? VTPM_ERR_UNREACHABLE : VTPM_ERR_DATABASE;

        vtpm_pg_message(NULL, conn, msg, sizeof(msg));
        PQfinish(conn);
        return inventory_fail(err, st, "cannot connect to %s: %s", inv->where, msg);
    }
    PQsetNoticeProcessor(conn, notice_ignore, NULL);
    /* Before the snapshot: whatever commits after it is notified to us. */
    res = PQexec(conn, "LISTEN " INVENTORY_CHANNEL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        vtpm_pg_message(res, conn, msg, sizeof(msg));
        PQclear(res);
        PQfinish(conn);
        return inventory_fail(err, VTPM_ERR_DATABASE, "cannot listen on '%s' in %s: %s",
                              INVENTORY_CHANNEL, inv->where, msg);
    }
    PQclear(res);
    inv->conn = conn;
    inv->reload_pending = true;
    return VTPM_OK;
}

/* Reconnects unless the last failed attempt was too recent (@force ignores that). */
static vtpm_status
inventory_reconnect(vtpm_inventory *inv, bool force, vtpm_error *err)
{
    int64_t now = inventory_now(inv);
    vtpm_status st;

    if (!force && now < inv->retry_at_ms)
        return inventory_fail(err, VTPM_ERR_UNREACHABLE,
                              "no connection to %s, answering from the cache; next attempt "
                              "in %lld ms", inv->where, (long long)(inv->retry_at_ms - now));
    st = inventory_connect(inv, err);
    if (st != VTPM_OK) {
        /* From the end of the attempt: one that ran into connect_timeout (a
         * host that does not answer) would otherwise use up the pause. */
        inv->retry_at_ms = inventory_now(inv) + inv->retry_delay_ms;
        inv->retry_delay_ms = inv->retry_delay_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS
                                                                      : inv->retry_delay_ms * 2;
        return st;
    }
    inv->counters[VTPM_INVENTORY_RECONNECTS]++;
    inv->retry_delay_ms = RETRY_FIRST_MS;
    return VTPM_OK;
}

/* Reads row @row of a binary (uuid, integer, bigint) result. False if malformed. */
static bool
row_read(const PGresult *res, int row, vtpm_uuid *uuid, uint32_t *bits, int64_t *generation)
{
    const unsigned char *b, *g;
    uint64_t gen = 0;

    if (PQgetisnull(res, row, 0) || PQgetlength(res, row, 0) != 16 ||
        PQgetlength(res, row, 1) != 4 || PQgetlength(res, row, 2) != 8)
        return false;
    memcpy(uuid->bytes, PQgetvalue(res, row, 0), 16);
    b = (const unsigned char *)PQgetvalue(res, row, 1);
    *bits = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    g = (const unsigned char *)PQgetvalue(res, row, 2);
    for (int i = 0; i < 8; i++)
        gen = gen << 8 | g[i];
    *generation = (int64_t)gen;
    return true;
}

/* The full load: a new store from every provider, swapped in only when complete. */
static vtpm_status
inventory_load(vtpm_inventory *inv, vtpm_error *err)
{
    vtpm_inventory_store fresh;
    PGresult *res;
    vtpm_status st = VTPM_OK;
    int rows;

    memset(&fresh, 0, sizeof(fresh));
    res = PQexecParams(inv->conn, load_sql, 0, NULL, NULL, NULL, NULL, 1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        st = query_failed(inv, res, "list the providers", err);
        PQclear(res);
        return st;
    }
    rows = PQntuples(res);
    if (vtpm_inventory_store_reserve(&fresh, (size_t)rows) != VTPM_OK) {
        st = inventory_fail(err, VTPM_ERR_NO_MEMORY, "out of memory for %d providers", rows);
        goto cleanup;
    }
    for (int r = 0; r < rows; r++) {
        vtpm_uuid uuid;
        uint32_t bits;
        int64_t generation;

        if (!row_read(res, r, &uuid, &bits, &generation)) {
            st = inventory_fail(err, VTPM_ERR_DATABASE,
                                "unexpected provider row %d from %s", r + 1, inv->where);
            goto cleanup;
        }
        if (vtpm_inventory_store_put(&fresh, &uuid, bits, generation) < 0) {
            st = inventory_fail(err, VTPM_ERR_NO_MEMORY, "out of memory");
            goto cleanup;
        }
    }
    vtpm_inventory_store_clear(&inv->store);
    inv->store = fresh;
    memset(&fresh, 0, sizeof(fresh));
    inv->reload_pending = false;
    inv->n_pending = 0;     /* the snapshot has all they could have told */
    inv->loaded_at_ms = inventory_now(inv);
    inv->counters[VTPM_INVENTORY_RELOADS]++;

cleanup:
    vtpm_inventory_store_clear(&fresh);
    PQclear(res);
    return st;
}

/* The uuid and generation a payload names; false when it names no valid uuid. */
static bool
payload_read(const char *payload, vtpm_uuid *uuid, int64_t *generation)
{
    json_t *doc = json_loads(payload, JSON_REJECT_DUPLICATES, NULL);
    json_t *gen;
    bool ok;

    if (!doc)
        return false;
    ok = json_is_string(json_object_get(doc, "uuid")) &&
         vtpm_uuid_parse(json_string_value(json_object_get(doc, "uuid")), uuid, NULL) == VTPM_OK;
    gen = json_object_get(doc, "generation");
    /* No generation: always worth a re-read. */
    *generation = json_is_integer(gen) ? json_integer_value(gen) : INT64_MAX;
    json_decref(doc);
    return ok;
}

/* Moves every notification libpq holds to inv->pending. */
static vtpm_status
notifications_collect(vtpm_inventory *inv, vtpm_error *err)
{
    PGnotify *n;

    while ((n = PQnotifies(inv->conn)) != NULL) {
        pending_uuid p;

        inv->counters[VTPM_INVENTORY_NOTIFICATIONS]++;
        if (!payload_read(n->extra, &p.uuid, &p.generation)) {
            inv->counters[VTPM_INVENTORY_NOTIFICATIONS_MALFORMED]++;
            PQfreemem(n);
            continue;
        }
        PQfreemem(n);
        if (inv->n_pending == inv->cap_pending) {
            size_t cap = inv->cap_pending ? inv->cap_pending * 2 : 64;
            pending_uuid *grown = realloc(inv->pending, cap * sizeof(*grown));

            if (!grown) {
                /* This notification is gone: the next refresh reloads everything. */
                inv->reload_pending = true;
                return inventory_fail(err, VTPM_ERR_NO_MEMORY, "out of memory");
            }
            inv->pending = grown;
            inv->cap_pending = cap;
        }
        inv->pending[inv->n_pending++] = p;
    }
    return VTPM_OK;
}

/* Reads what arrived on the socket; false when the connection broke. */
static bool
input_consume(vtpm_inventory *inv)
{
    return PQconsumeInput(inv->conn) == 1 && PQstatus(inv->conn) == CONNECTION_OK;
}

/* Waits up to @timeout_ms (negative: forever) for a notification to collect. */
static vtpm_status
notifications_wait(vtpm_inventory *inv, int timeout_ms, vtpm_error *err)
{
    int64_t deadline = timeout_ms < 0 ? 0 : vtpm_clock_now_ms() + timeout_ms;
    vtpm_status st;

    while (inv->n_pending == 0) {
        struct pollfd pfd = { .fd = PQsocket(inv->conn), .events = POLLIN, .revents = 0 };
        int wait = timeout_ms < 0 ? -1 : (int)(deadline - vtpm_clock_now_ms());
        int r;

        if (timeout_ms >= 0 && wait <= 0)
            break;
        r = poll(&pfd, 1, wait);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return inventory_fail(err, VTPM_ERR_UNREACHABLE, "cannot wait for %s: %s",
                                  inv->where, strerror(errno));
        if (r == 0)
            break;
        if (!input_consume(inv))
            return connection_lost(inv, NULL, err);
        if ((st = notifications_collect(inv, err)) != VTPM_OK)
            return st;
    }
    return VTPM_OK;
}

static int
pending_compare(const void *a, const void *b)
{
    const pending_uuid *x = a, *y = b;
    int c = memcmp(&x->uuid, &y->uuid, sizeof(x->uuid));

    if (c)
        return c;
    return (x->generation < y->generation) - (x->generation > y->generation);
}

/*
 * Keeps one entry per uuid (the highest generation notified) and drops those
 * whose generation the cache already has. Returns how many are left.
 */
static size_t
pending_reduce(vtpm_inventory *inv)
{
    size_t k = 0;

    if (inv->n_pending == 0)
        return 0;
    qsort(inv->pending, inv->n_pending, sizeof(*inv->pending), pending_compare);
    for (size_t i = 0; i < inv->n_pending; i++) {
        const pending_uuid *p = &inv->pending[i];
        size_t at;

        if (k > 0 && memcmp(&inv->pending[k - 1].uuid, &p->uuid, sizeof(p->uuid)) == 0)
            continue;
        at = vtpm_inventory_store_find(&inv->store, &p->uuid);
        if (at != SIZE_MAX && p->generation <= inv->store.generations[at]) {
            inv->counters[VTPM_INVENTORY_NOTIFICATIONS_IGNORED]++;
            continue;
        }
        inv->pending[k++] = *p;
    }
    inv->n_pending = k;
    return k;
}

/* Re-reads the pending providers in one query and applies what is newer. */
static vtpm_status
pending_apply(vtpm_inventory *inv, vtpm_error *err)
{
    VTPM_AUTOFREE(char *) array = NULL;
    const char *values[1];
    size_t n = pending_reduce(inv), o = 0;
    PGresult *res;
    vtpm_status st = VTPM_OK;
    int rows;

    if (n == 0)
        return VTPM_OK;
    /* A uuid[] parameter in text form; every element is our own formatting. */
    if (!(array = malloc(n * VTPM_UUID_STRING_SIZE + 2)))
        return inventory_fail(err, VTPM_ERR_NO_MEMORY, "out of memory");
    array[o++] = '{';
    for (size_t i = 0; i < n; i++) {
        vtpm_uuid_format(&inv->pending[i].uuid, array + o);
        o += VTPM_UUID_STRING_SIZE - 1;
        array[o++] = i + 1 < n ? ',' : '}';
    }
    array[o] = '\0';
    values[0] = array;
    res = PQexecParams(inv->conn, reread_sql, 1, NULL, values, NULL, NULL, 1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        /* The uuids stay pending: the next refresh asks again. */
        st = query_failed(inv, res, "re-read notified providers", err);
        PQclear(res);
        return st;
    }
    inv->n_pending = 0;
    rows = PQntuples(res);
    inv->counters[VTPM_INVENTORY_NOTIFICATIONS_IGNORED] += n - (size_t)rows;
    for (int r = 0; r < rows; r++) {
        vtpm_uuid uuid;
        uint32_t bits;
        int64_t generation;
        int put;

        if (!row_read(res, r, &uuid, &bits, &generation)) {
            st = inventory_fail(err, VTPM_ERR_DATABASE, "unexpected provider row from %s",
                                inv->where);
            break;
        }
        put = vtpm_inventory_store_put(&inv->store, &uuid, bits, generation);
        if (put < 0) {
            /* Whatever was not applied, the next full load brings. */
            inv->reload_pending = true;
            st = inventory_fail(err, VTPM_ERR_NO_MEMORY, "out of memory");
            break;
        }
        inv->counters[put ? VTPM_INVENTORY_ROWS_APPLIED : VTPM_INVENTORY_NOTIFICATIONS_IGNORED]++;
    }
    PQclear(res);
    return st;
}

vtpm_inventory *
vtpm_inventory_open(const char *dsn, unsigned int flags, vtpm_error *err)
{
    vtpm_inventory *inv;
    int parsed;

    if (!dsn) {
        inventory_fail(err, VTPM_ERR_INVALID_ARG, "inventory DSN is NULL");
        return NULL;
    }
    if (flags & ~INVENTORY_KNOWN_FLAGS) {
        inventory_fail(err, VTPM_ERR_UNKNOWN_FLAGS, "unknown inventory flags 0x%x",
                       flags & ~INVENTORY_KNOWN_FLAGS);
        return NULL;
    }
    /* libpq's message may quote the DSN, password and all: say less. */
    parsed = vtpm_pg_dsn_check(dsn);
    if (parsed < 0) {
        inventory_fail(err, parsed == -1 ? VTPM_ERR_BAD_INPUT : VTPM_ERR_NO_MEMORY,
                       parsed == -1 ? "cannot parse the inventory DSN (not shown: it may hold "
                                      "a password): expected key=value pairs or a "
                                      "postgresql:// URI"
                                    : "out of memory");
        return NULL;
    }
    if (!(inv = calloc(1, sizeof(*inv))) || !(inv->dsn = strdup(dsn))) {
        free(inv);
        inventory_fail(err, VTPM_ERR_NO_MEMORY, "out of memory");
        return NULL;
    }
    inv->reload_interval_ms = RELOAD_INTERVAL_DEFAULT_MS;
    inv->retry_delay_ms = RETRY_FIRST_MS;
    if (inventory_connect(inv, err) != VTPM_OK || inventory_load(inv, err) != VTPM_OK) {
        vtpm_inventory_close(inv);
        return NULL;
    }
    return inv;
}

void
vtpm_inventory_close(vtpm_inventory *inv)
{
    if (!inv)
        return;
    PQfinish(inv->conn);
    vtpm_free_secret(inv->dsn);
    vtpm_inventory_store_clear(&inv->store);
    free(inv->pending);
    free(inv);
}

int
vtpm_inventory_fd(const vtpm_inventory *inv)
{
    return inv && inv->conn ? PQsocket(inv->conn) : -1;
}

vtpm_status
vtpm_inventory_refresh(vtpm_inventory *inv, int timeout_ms, vtpm_error *err)
{
    vtpm_status st;

    if (!inv)
        return inventory_fail(err, VTPM_ERR_INVALID_ARG, "inventory is NULL");
    if (!inv->conn && (st = inventory_reconnect(inv, false, err)) != VTPM_OK)
        return st;
    if (inv->reload_interval_ms > 0 &&
        inventory_now(inv) - inv->loaded_at_ms >= inv->reload_interval_ms)
        inv->reload_pending = true;
    if (inv->reload_pending) {
        if ((st = inventory_load(inv, err)) != VTPM_OK)
            return st;
        timeout_ms = 0;
    }
    if (!input_consume(inv))
        return connection_lost(inv, NULL, err);
    if ((st = notifications_collect(inv, err)) != VTPM_OK)
        return st;
    if (timeout_ms != 0 && (st = notifications_wait(inv, timeout_ms, err)) != VTPM_OK)
        return st;
    return pending_apply(inv, err);
}

vtpm_status
vtpm_inventory_reload(vtpm_inventory *inv, vtpm_error *err)
{
    vtpm_status st;

    if (!inv)
        return inventory_fail(err, VTPM_ERR_INVALID_ARG, "inventory is NULL");
    if (!inv->conn && (st = inventory_reconnect(inv, true, err)) != VTPM_OK)
        return st;
    return inventory_load(inv, err);
}

vtpm_status
vtpm_inventory_set_reload_interval(vtpm_inventory *inv, unsigned int seconds)
{
    if (!inv)
        return VTPM_ERR_INVALID_ARG;
    inv->reload_interval_ms = (int64_t)seconds * 1000;
    return VTPM_OK;
}

size_t
vtpm_inventory_size(const vtpm_inventory *inv)
{
    return inv ? inv->store.n : 0;
}

size_t
vtpm_inventory_candidates(const vtpm_inventory *inv, vtpm_traitset required,
                          vtpm_traitset forbidden, vtpm_uuid *out, size_t max)
{
    return inv ? vtpm_inventory_store_candidates(&inv->store, required, forbidden, out, max) : 0;
}

bool
vtpm_inventory_lookup(const vtpm_inventory *inv, const vtpm_uuid *uuid, vtpm_traitset *traits,
                      int64_t *generation)
{
    size_t i;

    if (!inv || !uuid || (i = vtpm_inventory_store_find(&inv->store, uuid)) == SIZE_MAX)
        return false;
    if (traits)
        *traits = inv->store.bits[i];
    if (generation)
        *generation = inv->store.generations[i];
    return true;
}

size_t
vtpm_inventory_check_many(const vtpm_inventory *inv, const vtpm_uuid *uuids, size_t n,
                          vtpm_traitset required, unsigned char *out)
{
    size_t pass = 0;

    if (!uuids || !out)
        return 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = inv ? vtpm_inventory_store_find(&inv->store, &uuids[k]) : SIZE_MAX;

        if (i == SIZE_MAX) {
            out[k] = VTPM_INVENTORY_CHECK_UNKNOWN;
        } else if ((inv->store.bits[i] & required) == required) {
            out[k] = VTPM_INVENTORY_CHECK_PASSES;
            pass++;
        } else {
            out[k] = VTPM_INVENTORY_CHECK_LACKS;
        }
    }
    return pass;
}

uint64_t
vtpm_inventory_counter(const vtpm_inventory *inv, vtpm_inventory_counter_id which)
{
    if (!inv || (unsigned int)which >= VTPM_INVENTORY_COUNTER_COUNT)
        return 0;
    return inv->counters[which];
}
