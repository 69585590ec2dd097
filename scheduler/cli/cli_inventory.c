/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm-filter candidates over libvtpm-inventory. */
#include <stdlib.h>

#include <vtpm/inventory.h>

#include "alloc.h"
#include "cli_inventory.h"
#include "util.h"

struct vtpm_cli_inventory {
    vtpm_inventory *inv;
    vtpm_uuid *uuids;
    size_t cap;
};

/* The library reports out of memory; the program aborts on it. */
static void
cli_inventory_check(const vtpm_error *err)
{
    if (err->status == VTPM_ERR_NO_MEMORY)
        vtpm_alloc_abort();
}

vtpm_cli_inventory *
vtpm_cli_inventory_open(const char *dsn, vtpm_error *err)
{
    vtpm_cli_inventory *ci = vtpm_alloc_calloc(1, sizeof(*ci));

    ci->inv = vtpm_inventory_open(dsn, 0, err);
    if (!ci->inv) {
        cli_inventory_check(err);
        free(ci);
        return NULL;
    }
    return ci;
}

void
vtpm_cli_inventory_close(vtpm_cli_inventory *ci)
{
    if (!ci)
        return;
    vtpm_inventory_close(ci->inv);
    free(ci->uuids);
    free(ci);
}

json_t *
vtpm_cli_inventory_candidates(vtpm_cli_inventory *ci, vtpm_traitset required, size_t max,
                              vtpm_error *err)
{
    size_t count, n;
    json_t *list;

    /* Whatever changed since the load (a long --jsonl input). */
    if (vtpm_inventory_refresh(ci->inv, 0, err) != VTPM_OK) {
        cli_inventory_check(err);
        return NULL;
    }
    count = vtpm_inventory_candidates(ci->inv, required, 0, NULL, 0);
    n = count < max ? count : max;
    if (n > ci->cap) {
        ci->uuids = vtpm_alloc_realloc(ci->uuids, n * sizeof(*ci->uuids));
        ci->cap = n;
    }
    vtpm_inventory_candidates(ci->inv, required, 0, ci->uuids, n);
    list = VTPM_ALLOC_CHECK(json_array());
    for (size_t i = 0; i < n; i++) {
        char text[VTPM_UUID_STRING_SIZE];

        vtpm_uuid_format(&ci->uuids[i], text);
        if (json_array_append_new(list, VTPM_ALLOC_CHECK(json_string(text))) < 0)
            vtpm_alloc_abort();
    }
    return VTPM_ALLOC_CHECK(json_pack("{s:I, s:o}", "count", (json_int_t)count,
                                      "candidates", list));
}
