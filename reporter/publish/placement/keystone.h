/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm_keystone: Keystone v3 tokens (password or application credential), cached. */
#ifndef VTPM_PLACEMENT_KEYSTONE_H
#define VTPM_PLACEMENT_KEYSTONE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "http.h"
#include "publish.h"

/* Renew a cached token this many seconds before Keystone says it expires. */
#define VTPM_KEYSTONE_EXPIRY_MARGIN 60

/* What to authenticate with. The strings are borrowed for the life of the object. */
typedef struct {
    const char *auth_url;          /* "https://keystone:5000" or ".../v3" */
    bool application_credential;   /* false: password */
    const char *username;
    const char *user_id;
    const char *user_domain_name;  /* default "Default" */
    const char *password;
    const char *project_name;
    const char *project_id;
    const char *project_domain_name; /* default "Default" */
    const char *application_credential_id;
    const char *application_credential_name; /* with username + user domain */
    const char *application_credential_secret;
    const char *interface;         /* endpoint interface in the catalog, "public" */
    const char *region;            /* NULL: any */
} vtpm_keystone_conf;

typedef struct vtpm_keystone vtpm_keystone;

/* Returns a new object (free with vtpm_keystone_free()); @http is borrowed. */
vtpm_keystone *vtpm_keystone_new(const vtpm_keystone_conf *conf, vtpm_http *http);

/* Frees @ks (NULL is fine), forgetting the token. */
void vtpm_keystone_free(vtpm_keystone *ks);

/*
 * Returns the cached token, or a new one when none is cached, when it expires
 * within VTPM_KEYSTONE_EXPIRY_MARGIN seconds, or when @renew is true. The
 * string is borrowed until the next call. On failure returns NULL, sets
 * @status (UNREACHABLE, REFUSED or CONFIG) and writes a message without any
 * secret into @err.
 */
const char *vtpm_keystone_token(vtpm_keystone *ks, bool renew,
                                vtpm_publish_status *status, char *err, size_t errlen);

/* Drops the cached token (after a 401 from a service). */
void vtpm_keystone_forget(vtpm_keystone *ks);

/*
 * Returns the URL of the first endpoint of @service_type in the catalog of
 * the current token, matching the configured interface and region (borrowed
 * until the next token), or NULL.
 */
const char *vtpm_keystone_endpoint(vtpm_keystone *ks, const char *service_type);

/* Number of tokens requested from Keystone so far. */
unsigned int vtpm_keystone_requests(const vtpm_keystone *ks);

/* Parses Keystone's "2024-05-01T12:34:56.000000Z"; returns -1 when malformed. */
time_t vtpm_keystone_parse_time(const char *s);

#endif /* VTPM_PLACEMENT_KEYSTONE_H */
