/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm_uuid: the canonical text form of a provider's uuid, both ways. */
#include <stddef.h>

#include "inventory-priv.h"
#include "util.h"
#include "uuid.h"

void
vtpm_uuid_format(const vtpm_uuid *uuid, char out[VTPM_UUID_STRING_SIZE])
{
    vtpm_uuid_text_write(uuid->bytes, out);
}

vtpm_status
vtpm_uuid_parse(const char *text, vtpm_uuid *out, vtpm_error *err)
{
    vtpm_uuid uuid;
    char quoted[64];
    size_t i;

    if (!text || !out)
        return vtpm_inventory_fail(err, VTPM_ERR_INVALID_ARG, 0, "uuid text or result is NULL");
    i = vtpm_uuid_text_scan(text, uuid.bytes);
    if (i < VTPM_UUID_STRING_SIZE - 1 || text[i] != '\0')
        return vtpm_inventory_fail(err, VTPM_ERR_BAD_INPUT, (int)i + 1,
                         "malformed uuid %s at column %zu: expected "
                         "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (hex digits)",
                         vtpm_quote(quoted, sizeof(quoted), text), i + 1);
    *out = uuid;
    return VTPM_OK;
}
