/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm-filter candidates over libvtpm-inventory. */
#include <stdlib.h>

#include <vtpm/inventory.h>

#include "cli_inventory.h"
#include "util.h"

struct vtpm_cli_inventory {
    vtpm_inventory *inv;
    vtpm_uuid *uuids;
    size_t cap;
};

vtpm_cli_inventory *
vtpm_cli_inventory_open(const char *dsn, char *msg, size_t msglen)
{
    vtpm_cli_inventory *ci = calloc(1, sizeof(*ci));
    vtpm_error err = { 0 };

    if (!ci) {
        vtpm_strfmt(msg, msglen, "out of memory");
        return NULL;
    }
    ci->inv = vtpm_inventory_open(dsn, 0, &err);
    if (!ci->inv) {
        vtpm_strfmt(msg, msglen, "%s", err.message);
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
                              char *msg, size_t msglen)
{
    vtpm_error err = { 0 };
    size_t count, n;
    json_t *list;

    /* Whatever changed since the load (a long --jsonl input). */
    if (vtpm_inventory_refresh(ci->inv, 0, &err) != VTPM_OK) {
        vtpm_strfmt(msg, msglen, "%s", err.message);
        return NULL;
    }
    count = vtpm_inventory_candidates(ci->inv, required, 0, NULL, 0);
    n = count < max ? count : max;
    if (n > ci->cap) {
        vtpm_uuid *grown = realloc(ci->uuids, n * sizeof(*grown));

        if (!grown) {
            vtpm_strfmt(msg, msglen, "out of memory");
            return NULL;
        }
        ci->uuids = grown;
        ci->cap = n;
    }
    vtpm_inventory_candidates(ci->inv, required, 0, ci->uuids, n);
    list = json_array();
    for (size_t i = 0; list && i < n; i++) {
        char text[VTPM_UUID_STRING_SIZE];

        vtpm_uuid_format(&ci->uuids[i], text);
        if (json_array_append_new(list, json_string(text)) < 0) {
            json_decref(list);
            list = NULL;
        }
    }
    if (!list) {
        vtpm_strfmt(msg, msglen, "out of memory");
        return NULL;
    }
    return json_pack("{s:I, s:o}", "count", (json_int_t)count, "candidates", list);
}
