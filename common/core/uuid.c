/* SPDX-License-Identifier: Apache-2.0 */
/* The canonical text form of a UUID: reading, checking and writing it. */
#include "uuid.h"

/* Where the dashes of "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" stand. */
static bool
uuid_is_dash_column(size_t i)
{
    return i == 8 || i == 13 || i == 18 || i == 23;
}

static int
uuid_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t
vtpm_uuid_text_scan(const char *text, unsigned char *bytes)
{
    size_t i, b = 0;

    for (i = 0; i < VTPM_UUID_STRING_SIZE - 1; i++) {
        int hi, lo;

        if (uuid_is_dash_column(i)) {
            if (text[i] != '-')
                return i;
            continue;
        }
        hi = uuid_hex_value(text[i]);
        if (hi < 0)
            return i;
        lo = uuid_hex_value(text[i + 1]);
        if (lo < 0)
            return i + 1;
        if (bytes)
            bytes[b] = (unsigned char)(hi << 4 | lo);
        b++;
        i++;
    }
    return i;
}

bool
vtpm_uuid_text_valid(const char *text)
{
    return text && vtpm_uuid_text_scan(text, NULL) == VTPM_UUID_STRING_SIZE - 1 &&
           text[VTPM_UUID_STRING_SIZE - 1] == '\0';
}

void
vtpm_uuid_text_write(const unsigned char bytes[VTPM_UUID_BYTES],
                     char out[VTPM_UUID_STRING_SIZE])
{
    static const char digits[] = "0123456789abcdef";
    size_t o = 0;

    for (size_t b = 0; b < VTPM_UUID_BYTES; b++) {
        if (uuid_is_dash_column(o))
            out[o++] = '-';
        out[o++] = digits[bytes[b] >> 4];
        out[o++] = digits[bytes[b] & 0xf];
    }
    out[o] = '\0';
}
