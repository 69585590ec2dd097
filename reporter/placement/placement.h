/* SPDX-License-Identifier: Apache-2.0 */
/* Publishing a host's vTPM traits to OpenStack Placement over its REST API. */
#ifndef VTPM_PLACEMENT_H
#define VTPM_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>

#include "publish.h"
#include "report.h"

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

/* Fills @conf with the defaults above. */
void vtpm_placement_conf_init(vtpm_placement_conf *conf);

/* Frees the strings of @conf (NULL is fine) and resets it to the defaults. */
void vtpm_placement_conf_clear(vtpm_placement_conf *conf);

/* Returns "none", "token", "password" or "application_credential". */
const char *vtpm_placement_auth_name(vtpm_placement_auth auth);

/* Parses those names; returns -1 for anything else. */
int vtpm_placement_auth_from_name(const char *name);

typedef struct vtpm_placement_client vtpm_placement_client;

/*
 * Returns a new client (free with vtpm_placement_client_free()), or NULL
 * with a message in @err when @conf is unusable. @conf is copied. The client
 * keeps one connection alive across calls, and caches the microversion, the
 * Keystone token, the provider's UUID and which managed traits the service
 * knows. A client is used by one thread at a time.
 */
vtpm_placement_client *vtpm_placement_client_new(const vtpm_placement_conf *conf,
                                                 char *err, size_t errlen);

/* Frees @client (NULL is fine) and closes its connection. */
void vtpm_placement_client_free(vtpm_placement_client *client);

/*
 * Publishes @report: sets the managed traits of the report's provider to what
 * the report says, keeping every other trait, with the provider generation
 * (a concurrent update is re-read and retried, with backoff, a bounded number
 * of times). Managed traits that the service does not know are skipped and
 * counted in result->warnings. An inconclusive report changes nothing.
 * Returns the status, also stored in @result with a one-line message that
 * never holds a secret.
 */
vtpm_publish_status vtpm_placement_publish(vtpm_placement_client *client,
                                           const vtpm_report *report,
                                           vtpm_publish_result *result);

#endif /* VTPM_PLACEMENT_H */
