/* SPDX-License-Identifier: Apache-2.0 */
/* Host keys and the shared login of the pooled mode, through the inventory's functions (0009). */
#ifndef VTPM_SQL_HOST_KEYS_H
#define VTPM_SQL_HOST_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "host_key.h"

/*
 * Issues a key for @host: its first (vtpm.host_key_create(), @uuid may fix
 * its provider's UUID) or, with @rotate, a second one for a rollover
 * (vtpm.host_key_rotate()). Writes the key's token into @token (at least
 * VTPM_HOST_KEY_TOKEN_LEN + 1 bytes) and its id into @key_id. Returns 0, or
 * -1 with one line in @err.
 */
int vtpm_host_key_issue(PGconn *conn, const char *host, const char *uuid, bool rotate,
                        char key_id[VTPM_HOST_KEY_ID_LEN + 1], char *token, size_t token_size,
                        char *err, size_t errlen);

/*
 * Revokes key @key_id of @host, or every valid key of @host when @key_id is
 * NULL; *@count is how many. Returns 0, or -1 with one line in @err (also
 * when there was no such key).
 */
int vtpm_host_key_revoke(PGconn *conn, const char *host, const char *key_id, int *count,
                         char *err, size_t errlen);

/*
 * Creates (if needed) the shared publishing login @login, a member of
 * vtpm_pool_publisher only (vtpm.pool_login()); @password may be NULL.
 * Sets *@created. Returns 0, or -1 with one line in @err.
 */
int vtpm_pool_login_create(PGconn *conn, const char *login, const char *password,
                           bool *created, char *err, size_t errlen);

#endif /* VTPM_SQL_HOST_KEYS_H */
