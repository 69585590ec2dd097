/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm_inventory_store: providers as parallel arrays, a uuid hash, candidate scans. */
#include <stdlib.h>
#include <string.h>

#include "inventory-priv.h"

/* More than this and a uint32_t slot could not name a provider. */
#define STORE_MAX_PROVIDERS ((size_t)UINT32_MAX - 1)

void
vtpm_inventory_store_clear(vtpm_inventory_store *store)
{
    free(store->bits);
    free(store->uuids);
    free(store->generations);
    free(store->slots);
    memset(store, 0, sizeof(*store));
}

/* Uuids may be sequential or time-based: mix all 128 bits. */
static size_t
uuid_hash(const vtpm_uuid *uuid)
{
    uint64_t a, b, h;

    memcpy(&a, uuid->bytes, sizeof(a));
    memcpy(&b, uuid->bytes + 8, sizeof(b));
    h = a ^ (b * 0x9e3779b97f4a7c15u);
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93u;
    h ^= h >> 32;
    return (size_t)h;
}

/* The slot that holds @uuid, or the free slot where it would go. */
static size_t
slot_of(const uint32_t *slots, size_t n_slots, const vtpm_uuid *uuids, const vtpm_uuid *uuid)
{
    size_t mask = n_slots - 1;
    size_t s = uuid_hash(uuid) & mask;

    while (slots[s] != 0 && memcmp(&uuids[slots[s] - 1], uuid, sizeof(*uuid)) != 0)
        s = (s + 1) & mask;
    return s;
}

/* Moves @src[0..@n) to a new array of @cap elements of @size bytes; NULL when out of memory. */
static void *
array_grow(const void *src, size_t n, size_t cap, size_t size)
{
    void *dst = calloc(cap, size);

    if (dst && n)
        memcpy(dst, src, n * size);
    return dst;
}

vtpm_status
vtpm_inventory_store_reserve(vtpm_inventory_store *store, size_t cap)
{
    uint8_t *bits = NULL;
    vtpm_uuid *uuids = NULL;
    int64_t *generations = NULL;
    uint32_t *slots = NULL;
    size_t n_slots = 1024;

    if (cap <= store->cap)
        return VTPM_OK;
    if (cap > STORE_MAX_PROVIDERS)
        return VTPM_ERR_NO_MEMORY;
    while (n_slots < 2 * cap)
        n_slots *= 2;
    bits = array_grow(store->bits, store->n, cap, sizeof(*bits));
    uuids = array_grow(store->uuids, store->n, cap, sizeof(*uuids));
    generations = array_grow(store->generations, store->n, cap, sizeof(*generations));
    slots = n_slots > store->n_slots ? calloc(n_slots, sizeof(*slots)) : NULL;
    if (!bits || !uuids || !generations || (n_slots > store->n_slots && !slots)) {
        free(bits);
        free(uuids);
        free(generations);
        free(slots);
        return VTPM_ERR_NO_MEMORY;
    }
    if (slots) {
        for (size_t i = 0; i < store->n; i++)
            slots[slot_of(slots, n_slots, uuids, &uuids[i])] = (uint32_t)(i + 1);
        free(store->slots);
        store->slots = slots;
        store->n_slots = n_slots;
    }
    free(store->bits);
    free(store->uuids);
    free(store->generations);
    store->bits = bits;
    store->uuids = uuids;
    store->generations = generations;
    store->cap = cap;
    return VTPM_OK;
}

size_t
vtpm_inventory_store_find(const vtpm_inventory_store *store, const vtpm_uuid *uuid)
{
    size_t s;

    if (store->n == 0)
        return SIZE_MAX;
    s = slot_of(store->slots, store->n_slots, store->uuids, uuid);
    return store->slots[s] ? store->slots[s] - 1 : SIZE_MAX;
}

int
vtpm_inventory_store_put(vtpm_inventory_store *store, const vtpm_uuid *uuid,
                         uint32_t bits, int64_t generation)
{
    uint8_t set = (uint8_t)(bits & VTPM_TRAITSET_ALL);
    size_t i = vtpm_inventory_store_find(store, uuid);

    if (i != SIZE_MAX) {
        if (generation <= store->generations[i])
            return 0;
        store->per_set[store->bits[i]]--;
        store->per_set[set]++;
        store->bits[i] = set;
        store->generations[i] = generation;
        return 1;
    }
    if (store->n == store->cap &&
        vtpm_inventory_store_reserve(store, store->cap ? store->cap * 2 : 512) != VTPM_OK)
        return -1;
    i = store->n++;
    store->bits[i] = set;
    store->uuids[i] = *uuid;
    store->generations[i] = generation;
    store->per_set[set]++;
    store->slots[slot_of(store->slots, store->n_slots, store->uuids, uuid)] = (uint32_t)(i + 1);
    return 1;
}

size_t
vtpm_inventory_store_candidates(const vtpm_inventory_store *store, vtpm_traitset required,
                                vtpm_traitset forbidden, vtpm_uuid *out, size_t max)
{
    /* In locals: a store to out[k] (bytes, which may alias anything) would
     * otherwise make the compiler read store->bits and ->uuids again for
     * every provider, which costs half the speed of the scan. */
    const uint8_t *bits = store->bits;
    const vtpm_uuid *uuids = store->uuids;
    uint8_t match[VTPM_INVENTORY_SETS];
    size_t total = 0, want, k = 0;

    if (required & ~VTPM_TRAITSET_ALL)
        return 0;
    for (size_t set = 0; set < VTPM_INVENTORY_SETS; set++) {
        match[set] = (set & required) == required && (set & forbidden) == 0 ? 1 : 0;
        if (match[set])
            total += store->per_set[set];
    }
    want = out && max < total ? max : out ? total : 0;
    /*
     * The counters say how many there are: stop at the last one wanted.
     * Without a branch on the match, which real fleets' mixed trait sets
     * would mispredict half the time (5x slower): every uuid is copied to
     * out[k], and k moves on past it only when it matched. k < want <= max
     * whenever out[k] is written.
     */
    for (size_t i = 0; k < want; i++) {
        out[k] = uuids[i];
        k += match[bits[i]];
    }
    return total;
}
