/* SPDX-License-Identifier: Apache-2.0 */
/* libvtpm-inventory: every host's vTPM traits in memory, kept current by LISTEN/NOTIFY. */
#ifndef VTPM_INVENTORY_H
#define VTPM_INVENTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vtpm/filter.h>
#include <vtpm/traits.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Everything declared here is the library's exported API. */
#if defined(__GNUC__)
# pragma GCC visibility push(default)
#endif

/*
 * A scheduler-side cache of the PostgreSQL inventory (docs/inventory.md): for
 * every resource provider its uuid, its managed trait bits (bit numbers are
 * enum vtpm_trait) and its generation, held in memory so that candidate
 * questions cost a scan of a few hundred kilobytes instead of a query.
 *
 * How it stays current:
 * - vtpm_inventory_open() LISTENs on the channel vtpm_traits first and then
 *   reads every provider on the same connection, so a change committed after
 *   that snapshot is always notified to it.
 * - Notifications are hints only: any login may NOTIFY that channel with any
 *   text. The cache takes nothing but a uuid (and, to skip work, a
 *   generation) from a payload and re-reads the named providers from the
 *   database, all of one refresh in one query, applying a row only when its
 *   generation is newer than the cached one. A payload that is not JSON or
 *   has no valid uuid is counted (VTPM_INVENTORY_NOTIFICATIONS_MALFORMED)
 *   and otherwise ignored.
 * - A notification whose generation the cache already has (a change that was
 *   in the snapshot, or a spoofed one) is ignored without a query.
 * - Providers deleted by the owner are not notified: a full reload drops
 *   them. vtpm_inventory_refresh() reloads by itself once the reload
 *   interval has passed since the last full load (300 s by default). So does
 *   an owner's repair by hand that moved no generation.
 * - When the connection is lost, refresh says so (VTPM_ERR_UNREACHABLE) and
 *   the cache goes on answering from what it holds; a later refresh
 *   reconnects, LISTENs again and reloads fully, since changes made while it
 *   was away were notified to nobody.
 *
 * Thread safety: the library keeps no mutable global state. A vtpm_inventory
 * belongs to one thread at a time: refresh, reload and the questions must not
 * run concurrently on the same object (a scheduler that asks from several
 * threads puts one lock around its inventory, or gives each thread its own).
 *
 * Ownership is stated for every function in the words of jansson, as in
 * <vtpm/filter.h>. The library never prints, never exits and never aborts
 * on out-of-memory.
 */

typedef struct vtpm_inventory vtpm_inventory;

/* A provider's uuid, its 16 bytes in the order they are written. */
typedef struct {
    unsigned char bytes[16];
} vtpm_uuid;

/* Length of a formatted uuid with its NUL: "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx". */
#define VTPM_UUID_STRING_SIZE 37

/*
 * Returns a new inventory (free with vtpm_inventory_close) holding every
 * provider of the database @dsn points at, or NULL with @err set (@err may be
 * NULL). @dsn is a libpq connection string or URI (a login in the role
 * vtpm_reader is enough); libpq's environment (PGHOST, PGPASSFILE, ...)
 * fills in what it does not say. A DSN may name a primary and its standbys
 * ("host=db1,db2"): the cache connects to the one that accepts writes
 * (target_session_attrs=read-write unless @dsn says otherwise; a standby
 * cannot LISTEN), and finds the promoted one when it reconnects after a
 * failover. Copies @dsn: the inventory keeps it to
 * reconnect, and wipes it when closed. @flags must be 0 (no flag is defined
 * yet).
 *
 * Errors: VTPM_ERR_INVALID_ARG (NULL @dsn), VTPM_ERR_UNKNOWN_FLAGS,
 * VTPM_ERR_BAD_INPUT (libpq cannot parse @dsn; the message does not show it,
 * it may hold a password), VTPM_ERR_UNREACHABLE (no server answered),
 * VTPM_ERR_DATABASE (login refused, database missing, no inventory schema:
 * "run vtpm-inventory migrate", no right to read it), VTPM_ERR_NO_MEMORY.
 * Messages name the database as "database 'vtpm' on 'host:port'", never the
 * user's password.
 */
vtpm_inventory *vtpm_inventory_open(const char *dsn, unsigned int flags,
                                    vtpm_error *err) VTPM_ATTR_WARN_UNUSED;

/* Closes the connection and frees @inv. Accepts NULL. */
void vtpm_inventory_close(vtpm_inventory *inv);

/*
 * The connection's socket, to wait on with poll() or epoll for readability
 * (a notification arrived: call vtpm_inventory_refresh with timeout 0), or
 * -1 while the connection is lost. It changes when refresh reconnects: ask
 * again after every refresh.
 */
int vtpm_inventory_fd(const vtpm_inventory *inv) VTPM_ATTR_PURE;

/*
 * Applies the notifications that have arrived. When none is there yet, waits
 * up to @timeout_ms milliseconds for the first one (0: do not wait; a
 * negative value: wait as long as it takes). Returns VTPM_OK when the cache
 * is current as far as the notifications received say, including when the
 * wait ended with nothing.
 *
 * It also does the full reload that the reload interval asks for, and, after
 * a lost connection, reconnects, LISTENs again and reloads; reconnection
 * attempts that fail are spaced out (from 0.25 s, doubling to 30 s) and a
 * refresh in between returns at once. In these cases it does not wait.
 *
 * Errors (the cache keeps every answer it had): VTPM_ERR_UNREACHABLE (the
 * connection was lost, or reconnecting failed), VTPM_ERR_DATABASE (a query
 * was refused), VTPM_ERR_NO_MEMORY, VTPM_ERR_INVALID_ARG (NULL @inv).
 */
vtpm_status vtpm_inventory_refresh(vtpm_inventory *inv, int timeout_ms,
                                   vtpm_error *err);

/*
 * Reads every provider again (on the current connection, or a new one if it
 * was lost) and replaces the cache with them, which drops deleted providers
 * and undoes anything the notifications missed. On failure the old contents
 * stay. Errors as for vtpm_inventory_refresh.
 */
vtpm_status vtpm_inventory_reload(vtpm_inventory *inv, vtpm_error *err);

/*
 * Sets how long after a full load refresh reloads by itself, in seconds;
 * 0 turns the periodic reload off. Default 300.
 */
vtpm_status vtpm_inventory_set_reload_interval(vtpm_inventory *inv,
                                               unsigned int seconds);

/* Number of providers held (0 for NULL). */
size_t vtpm_inventory_size(const vtpm_inventory *inv) VTPM_ATTR_PURE;

/*
 * Writes the uuids of the providers that have every trait in @required and
 * none in @forbidden to @out, at most @max of them, in a stable order (the
 * order of the providers' creation; hosts that appear later come after),
 * and returns how many providers match, all of them, also when that is more
 * than @max (as snprintf does). @out may be NULL when @max is 0: then it
 * only counts. A @required with bits of no managed trait matches nothing;
 * such bits in @forbidden are ignored. Pure memory: no I/O, no allocation;
 * counting alone reads 128 counters. Returns 0 for a NULL @inv.
 */
size_t vtpm_inventory_candidates(const vtpm_inventory *inv,
                                 vtpm_traitset required,
                                 vtpm_traitset forbidden, vtpm_uuid *out,
                                 size_t max);

/*
 * True when the inventory holds @uuid; *@traits and *@generation then
 * receive its traits and generation (either may be NULL). Pure memory.
 */
bool vtpm_inventory_lookup(const vtpm_inventory *inv, const vtpm_uuid *uuid,
                           vtpm_traitset *traits, int64_t *generation);

/* What vtpm_inventory_check_many writes for each provider, one byte each. */
typedef enum {
    VTPM_INVENTORY_CHECK_LACKS = 0,   /* held, lacks a trait of @required */
    VTPM_INVENTORY_CHECK_PASSES = 1,  /* held, has every trait of @required */
    VTPM_INVENTORY_CHECK_UNKNOWN = 2, /* not held */
} vtpm_inventory_check_result;

/*
 * Checks @n providers in one call, for a scheduler's host loop in a language
 * where a call per host costs more than the check itself: @out[i] receives
 * the vtpm_inventory_check_result of @uuids[i] against @required, as one
 * byte, so that @out doubles as a mask of the hosts that pass (1). Returns
 * how many pass. A @required with bits of no managed trait passes nothing.
 * Pure memory: no I/O, no allocation. A NULL @inv holds nothing (every
 * provider is unknown); @uuids and @out may be NULL only when @n is 0, and
 * NULL with a nonzero @n checks nothing and returns 0.
 */
size_t vtpm_inventory_check_many(const vtpm_inventory *inv, const vtpm_uuid *uuids,
                                 size_t n, vtpm_traitset required,
                                 unsigned char *out);

/* What vtpm_inventory_counter can report. Append-only. */
typedef enum {
    /* notifications received on vtpm_traits */
    VTPM_INVENTORY_NOTIFICATIONS = 0,
    /* of those, payloads that were not JSON or had no valid uuid */
    VTPM_INVENTORY_NOTIFICATIONS_MALFORMED = 1,
    /* uuids notified that changed nothing: unknown to the database, or no
     * newer generation there than in the cache (counted once per refresh) */
    VTPM_INVENTORY_NOTIFICATIONS_IGNORED = 2,
    /* providers added or updated from notifications */
    VTPM_INVENTORY_ROWS_APPLIED = 3,
    /* full loads, the first one included */
    VTPM_INVENTORY_RELOADS = 4,
    /* connections made again after a loss */
    VTPM_INVENTORY_RECONNECTS = 5,
    /* append new counters here; there is no count: it would change each release */
} vtpm_inventory_counter_id;

/* The value of counter @which since open, 0 for NULL or an unknown id. */
uint64_t vtpm_inventory_counter(const vtpm_inventory *inv,
                                vtpm_inventory_counter_id which) VTPM_ATTR_PURE;

/*
 * Writes @uuid in its canonical lower-case form to @out (room for
 * VTPM_UUID_STRING_SIZE bytes, NUL included).
 */
void vtpm_uuid_format(const vtpm_uuid *uuid, char out[VTPM_UUID_STRING_SIZE]);

/*
 * Parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (hex digits of either case,
 * nothing before or after) into @out. VTPM_ERR_BAD_INPUT with the 1-based
 * column of the first wrong character in @err (may be NULL), or
 * VTPM_ERR_INVALID_ARG for NULLs. @out is written only on success.
 */
vtpm_status vtpm_uuid_parse(const char *text, vtpm_uuid *out, vtpm_error *err);

#if defined(__GNUC__)
# pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* VTPM_INVENTORY_H */
