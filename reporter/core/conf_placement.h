/* SPDX-License-Identifier: Apache-2.0 */
/* The `placement:` section of the reporter's config: what the Placement publisher is given. */
#ifndef VTPM_REPORTER_CONF_PLACEMENT_H
#define VTPM_REPORTER_CONF_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>

/* Lowest microversion with the trait API, and the highest this client knows. */
#define VTPM_PLACEMENT_MIN_MICROVERSION 6    /* 1.6 */
#define VTPM_PLACEMENT_MAX_MICROVERSION 39   /* 1.39 */

typedef enum {
    VTPM_PLACEMENT_AUTH_NONE = 0,          /* no X-Auth-Token */
    VTPM_PLACEMENT_AUTH_TOKEN = 1,         /* a static token (noauth2: "admin") */
    VTPM_PLACEMENT_AUTH_PASSWORD = 2,      /* Keystone v3 password */
    VTPM_PLACEMENT_AUTH_APPLICATION_CREDENTIAL = 3 /* Keystone v3 application credential */
} vtpm_placement_auth;

/*
 * The publisher's settings (the `placement:` mapping of the reporter's
 * config). Strings are owned by the struct: vtpm_placement_conf_clear()
 * frees them. Start from vtpm_placement_conf_init().
 */
typedef struct {
    char *url;                   /* endpoint; NULL: from the Keystone catalog */
    char *microversion;          /* NULL or "auto": negotiate; else "1.N" pinned */
    char *provider_name;         /* NULL: the report's host */
    char *provider_uuid;         /* NULL: the report's, else looked up by name */
    bool create_provider;        /* create a missing provider (default false) */
    vtpm_placement_auth auth;    /* default NONE */
    char *token;                 /* AUTH_TOKEN */
    char *auth_url;              /* Keystone, e.g. "http://127.0.0.1:5000/v3" */
    char *username;              /* AUTH_PASSWORD (or with a credential name) */
    char *user_id;
    char *user_domain_name;      /* default "Default" */
    char *password;
    char *project_name;
    char *project_id;
    char *project_domain_name;   /* default "Default" */
    char *application_credential_id;
    char *application_credential_name;
    char *application_credential_secret;
    char *interface;             /* catalog interface, default "public" */
    char *region;                /* catalog region, NULL: any */
    char *ca_file;               /* TLS CA bundle, NULL: the system's */
    char *cert_file;             /* TLS client certificate */
    char *key_file;              /* its key */
    char *key_password_file;     /* the key's passphrase on its first line, NULL: none */
    bool verify;                 /* verify the server certificate (default true) */
    double connect_timeout;      /* seconds, default 5 */
    double timeout;              /* seconds per request, default 30 */
    unsigned int retries;        /* re-reads after a concurrent update, default 5 */
    double retry_delay;          /* first backoff in seconds, doubled each time, default 0.1 */
} vtpm_placement_conf;

/* Every string member, for copying and freeing in one place. */
#define VTPM_PLACEMENT_CONF_STRINGS(X) \
    X(url) X(microversion) X(provider_name) X(provider_uuid) X(token) X(auth_url) \
    X(username) X(user_id) X(user_domain_name) X(password) X(project_name) \
    X(project_id) X(project_domain_name) X(application_credential_id) \
    X(application_credential_name) X(application_credential_secret) X(interface) \
    X(region) X(ca_file) X(cert_file) X(key_file) X(key_password_file)

/* Fills @conf with the defaults above. */
void vtpm_placement_conf_init(vtpm_placement_conf *conf);

/* Frees the strings of @conf (NULL is fine) and resets it to the defaults. */
void vtpm_placement_conf_clear(vtpm_placement_conf *conf);

/* Returns "none", "token", "password" or "application_credential". */
const char *vtpm_placement_auth_name(vtpm_placement_auth auth);

/* Parses those names; returns -1 for anything else. */
int vtpm_placement_auth_from_name(const char *name);

#endif /* VTPM_REPORTER_CONF_PLACEMENT_H */
