/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm_uuid: the canonical text form of a provider's uuid, both ways. */
#include <stddef.h>

#include "inventory-priv.h"
#include "util.h"

/* Where the dashes of "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" stand. */
static bool
is_dash_column(size_t i)
{
    return i == 8 || i == 13 || i == 18 || i == 23;
}

static int
hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void
vtpm_uuid_format(const vtpm_uuid *uuid, char out[VTPM_UUID_STRING_SIZE])
{
    static const char digits[] = "0123456789abcdef";
    size_t o = 0;

    for (size_t b = 0; b < sizeof(uuid->bytes); b++) {
        if (is_dash_column(o))
            out[o++] = '-';
        out[o++] = digits[uuid->bytes[b] >> 4];
        out[o++] = digits[uuid->bytes[b] & 0xf];
    }
    out[o] = '\0';
}

vtpm_status
vtpm_uuid_parse(const char *text, vtpm_uuid *out, vtpm_error *err)
{
    vtpm_uuid uuid;
    char quoted[64];
    size_t i, b = 0;

    if (!text || !out)
        return vtpm_inventory_fail(err, VTPM_ERR_INVALID_ARG, 0, "uuid text or result is NULL");
    for (i = 0; i < VTPM_UUID_STRING_SIZE - 1; i++) {
        int hi, lo;

        if (is_dash_column(i)) {
            if (text[i] != '-')
                break;
            continue;
        }
        hi = hex_value(text[i]);
        lo = hi < 0 ? -1 : hex_value(text[i + 1]);
        if (hi < 0 || lo < 0) {
            i += hi < 0 ? 0 : 1;
            break;
        }
        uuid.bytes[b++] = (unsigned char)(hi << 4 | lo);
        i++;
    }
    if (i < VTPM_UUID_STRING_SIZE - 1 || text[i] != '\0')
        return vtpm_inventory_fail(err, VTPM_ERR_BAD_INPUT, (int)i + 1,
                         "malformed uuid %s at column %zu: expected "
                         "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (hex digits)",
                         vtpm_quote(quoted, sizeof(quoted), text), i + 1);
    *out = uuid;
    return VTPM_OK;
}
