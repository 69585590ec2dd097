/* SPDX-License-Identifier: Apache-2.0 */
/* The host key token: parsing and formatting, no cryptography. */
#include <string.h>

#include "host_key.h"
#include "util.h"

/* The value of the lower-case hex digit @c, or -1. Upper case is refused:
 * one spelling per key, as the database writes it. */
static int
hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int
hex_run(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (hex_digit(s[i]) < 0)
            return -1;
    }
    return 0;
}

int
vtpm_host_key_parse(const char *text, vtpm_host_key *key, char *err, size_t errlen)
{
    const size_t plen = sizeof(VTPM_HOST_KEY_PREFIX) - 1;
    const char *id, *secret;

    memset(key, 0, sizeof(*key));
    if (!text || strncmp(text, VTPM_HOST_KEY_PREFIX, plen) != 0) {
        vtpm_strfmt(err, errlen, "not a host key: it starts with '%s'", VTPM_HOST_KEY_PREFIX);
        return -1;
    }
    id = text + plen;
    secret = id + VTPM_HOST_KEY_ID_LEN + 1;
    if (strlen(text) != VTPM_HOST_KEY_TOKEN_LEN || hex_run(id, VTPM_HOST_KEY_ID_LEN) < 0 ||
        id[VTPM_HOST_KEY_ID_LEN] != '.' || hex_run(secret, 2 * VTPM_HOST_KEY_SECRET_LEN) < 0) {
        vtpm_strfmt(err, errlen, "malformed host key: expected %s, %d lower-case hex digits, '.', "
                    "%d lower-case hex digits", VTPM_HOST_KEY_PREFIX, VTPM_HOST_KEY_ID_LEN,
                    2 * VTPM_HOST_KEY_SECRET_LEN);
        return -1;
    }
    memcpy(key->id, id, VTPM_HOST_KEY_ID_LEN);
    for (size_t i = 0; i < VTPM_HOST_KEY_SECRET_LEN; i++) {
        unsigned int hi = (unsigned int)hex_digit(secret[2 * i]);   /* checked above */
        unsigned int lo = (unsigned int)hex_digit(secret[2 * i + 1]);

        key->secret[i] = (unsigned char)((hi << 4 | lo) & 0xff);
    }
    return 0;
}

int
vtpm_host_key_format(const char *id, const char *secret_hex, char *buf, size_t size)
{
    if (!id || !secret_hex || strlen(id) != VTPM_HOST_KEY_ID_LEN ||
        hex_run(id, VTPM_HOST_KEY_ID_LEN) < 0 ||
        strlen(secret_hex) != 2 * VTPM_HOST_KEY_SECRET_LEN ||
        hex_run(secret_hex, 2 * VTPM_HOST_KEY_SECRET_LEN) < 0 ||
        size < VTPM_HOST_KEY_TOKEN_LEN + 1)
        return -1;
    vtpm_strfmt(buf, size, "%s%s.%s", VTPM_HOST_KEY_PREFIX, id, secret_hex);
    return 0;
}

void
vtpm_host_key_clear(vtpm_host_key *key)
{
    explicit_bzero(key, sizeof(*key));
}
