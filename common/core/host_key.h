/* SPDX-License-Identifier: Apache-2.0 */
/* A host key of the pooled mode as one token: "vtpmhk1.KEY_ID.SECRET", written by vtpm-inventory, read by the reporter. */
#ifndef VTPM_COMMON_HOST_KEY_H
#define VTPM_COMMON_HOST_KEY_H

#include <stddef.h>

#define VTPM_HOST_KEY_PREFIX "vtpmhk1."
#define VTPM_HOST_KEY_ID_LEN 16       /* lower-case hex digits */
#define VTPM_HOST_KEY_SECRET_LEN 32   /* bytes; 64 hex digits in the token */
/* The token's length: prefix, id, ".", secret in hex. */
#define VTPM_HOST_KEY_TOKEN_LEN \
    (sizeof(VTPM_HOST_KEY_PREFIX) - 1 + VTPM_HOST_KEY_ID_LEN + 1 + 2 * VTPM_HOST_KEY_SECRET_LEN)

typedef struct {
    char id[VTPM_HOST_KEY_ID_LEN + 1];
    unsigned char secret[VTPM_HOST_KEY_SECRET_LEN];
} vtpm_host_key;

/*
 * Reads the token @text into @key. Returns 0, or -1 with one line in @err
 * that never quotes the token (it is a secret); @key is then wiped.
 */
int vtpm_host_key_parse(const char *text, vtpm_host_key *key, char *err, size_t errlen);

/*
 * Writes the token of key @id with secret @secret_hex (as vtpm.host_key_create()
 * returns them) into @buf (@size bytes, at least VTPM_HOST_KEY_TOKEN_LEN + 1).
 * Returns 0, or -1 when either is malformed or @buf is too small.
 */
int vtpm_host_key_format(const char *id, const char *secret_hex, char *buf, size_t size);

/* Wipes @key. */
void vtpm_host_key_clear(vtpm_host_key *key);

#endif /* VTPM_COMMON_HOST_KEY_H */
