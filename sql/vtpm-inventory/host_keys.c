/* SPDX-License-Identifier: Apache-2.0 */
/* Host keys and the shared login of the pooled mode: one parameterised call each. */
#include <stdlib.h>
#include <string.h>

#include "host_keys.h"
#include "pg.h"
#include "util.h"

int
vtpm_host_key_issue(PGconn *conn, const char *host, const char *uuid, bool rotate,
                    char key_id[VTPM_HOST_KEY_ID_LEN + 1], char *token, size_t token_size,
                    char *err, size_t errlen)
{
    const char *values[2] = { host, uuid };
    char msg[512], qhost[160];
    PGresult *res;
    int rc = -1;

    key_id[0] = '\0';
    res = rotate ? PQexecParams(conn, "SELECT key_id, secret FROM vtpm.host_key_rotate($1)", 1,
                                NULL, values, NULL, NULL, 0)
                 : PQexecParams(conn, "SELECT key_id, secret FROM vtpm.host_key_create($1, $2::uuid)",
                                2, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        vtpm_strfmt(err, errlen, "cannot %s a key of host %s: %s", rotate ? "rotate" : "create",
                    vtpm_quote(qhost, sizeof(qhost), host),
                    vtpm_pg_message(res, conn, msg, sizeof(msg)));
        goto cleanup;
    }
    if (vtpm_host_key_format(PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), token, token_size) < 0) {
        vtpm_strfmt(err, errlen, "the database returned a malformed key for host %s",
                    vtpm_quote(qhost, sizeof(qhost), host));
        goto cleanup;
    }
    vtpm_strfmt(key_id, VTPM_HOST_KEY_ID_LEN + 1, "%s", PQgetvalue(res, 0, 0));
    rc = 0;

cleanup:
    /* libpq frees results without wiping them. */
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        explicit_bzero(PQgetvalue(res, 0, 1), (size_t)PQgetlength(res, 0, 1));
    PQclear(res);
    return rc;
}

int
vtpm_host_key_revoke(PGconn *conn, const char *host, const char *key_id, int *count, char *err,
                     size_t errlen)
{
    const char *values[2] = { host, key_id };
    char msg[512], qhost[160];
    PGresult *res;

    *count = 0;
    res = PQexecParams(conn, "SELECT vtpm.host_key_revoke($1, $2)", 2, NULL, values, NULL, NULL,
                       0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        vtpm_strfmt(err, errlen, "cannot revoke %s of host %s: %s",
                    key_id ? "the key" : "the keys", vtpm_quote(qhost, sizeof(qhost), host),
                    vtpm_pg_message(res, conn, msg, sizeof(msg)));
        PQclear(res);
        return -1;
    }
    *count = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

int
vtpm_pool_login_create(PGconn *conn, const char *login, const char *password, bool *created,
                       char *err, size_t errlen)
{
    const char *values[2] = { login, password };
    char msg[512], qlogin[160];
    PGresult *res;

    *created = false;
    res = PQexecParams(conn, "SELECT vtpm.pool_login($1, $2)", 2, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        vtpm_strfmt(err, errlen, "cannot make %s the shared publishing login: %s",
                    vtpm_quote(qlogin, sizeof(qlogin), login),
                    vtpm_pg_message(res, conn, msg, sizeof(msg)));
        PQclear(res);
        return -1;
    }
    *created = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return 0;
}
