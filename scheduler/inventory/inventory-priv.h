/* SPDX-License-Identifier: Apache-2.0 */
/* The inventory cache's in-memory store, shared by its files and tests. */
#ifndef VTPM_SCHEDULER_INVENTORY_PRIV_H
#define VTPM_SCHEDULER_INVENTORY_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include <vtpm/inventory.h>

#include "util.h"

/* The number of counters, for this build only: not public, it grows. */
#define VTPM_INVENTORY_COUNTER_COUNT (VTPM_INVENTORY_RECONNECTS + 1)

/* One counter per possible managed trait set: 128 of them. */
#define VTPM_INVENTORY_SETS ((size_t)VTPM_TRAITSET_ALL + 1)

/*
 * Every provider, struct-of-arrays in load order so that a candidate scan
 * reads one byte per provider and touches a uuid only when it matches. A
 * hash of the uuids (open addressing, linear probing) finds a provider for
 * lookups and notifications. Providers are only added or updated in place;
 * a full reload builds a new store.
 */
typedef struct {
    size_t n;
    size_t cap;
    uint8_t *bits;            /* managed trait bits (VTPM_TRAITSET_ALL at most) */
    vtpm_uuid *uuids;
    int64_t *generations;
    uint32_t *slots;          /* index + 1 of a provider, 0 when free */
    size_t n_slots;           /* a power of two, at least twice cap */
    size_t per_set[VTPM_INVENTORY_SETS]; /* providers with each trait set */
} vtpm_inventory_store;

/*
 * Sets @err (may be NULL) to @status and a formatted message; @column is the
 * 1-based position in a one-line input, or 0. Returns @status.
 */
vtpm_status vtpm_inventory_fail(vtpm_error *err, vtpm_status status, int column,
                                const char *fmt, ...) VTPM_PRINTF(4, 5);

/* Frees what @store holds and empties it. */
void vtpm_inventory_store_clear(vtpm_inventory_store *store);

/* Makes room for @cap providers. VTPM_OK or VTPM_ERR_NO_MEMORY (unchanged). */
vtpm_status vtpm_inventory_store_reserve(vtpm_inventory_store *store, size_t cap);

/* The index of @uuid, or SIZE_MAX when the store does not hold it. */
size_t vtpm_inventory_store_find(const vtpm_inventory_store *store, const vtpm_uuid *uuid);

/*
 * Adds a provider, or updates it when @generation is newer than the one
 * held. Bits beyond the managed traits are dropped. Returns 1 when the store
 * changed, 0 when the row was not newer, -1 when out of memory (unchanged).
 */
int vtpm_inventory_store_put(vtpm_inventory_store *store, const vtpm_uuid *uuid,
                             uint32_t bits, int64_t generation);

/* See vtpm_inventory_candidates(). */
size_t vtpm_inventory_store_candidates(const vtpm_inventory_store *store,
                                       vtpm_traitset required, vtpm_traitset forbidden,
                                       vtpm_uuid *out, size_t max);

/*
 * The clock, in milliseconds, that @inv measures its periodic reload and its
 * pause between reconnection attempts with; NULL restores CLOCK_MONOTONIC.
 * Waiting for notifications keeps the real clock. Not exported (the tests
 * link the static library), so the public interface stays as it is.
 */
typedef int64_t (*vtpm_inventory_clock)(void);
void vtpm_inventory_set_clock(vtpm_inventory *inv, vtpm_inventory_clock clock);

#endif /* VTPM_SCHEDULER_INVENTORY_PRIV_H */
