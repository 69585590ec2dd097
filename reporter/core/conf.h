/* SPDX-License-Identifier: Apache-2.0 */
/* The reporter's configuration: one YAML file, keys mirroring Nova's [libvirt]. */
#ifndef VTPM_REPORTER_CONF_H
#define VTPM_REPORTER_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "conf_placement.h"
#include "vtpm-config.h"

/* From meson's localstatedir and the rundir option: /var/cache/vtpm-placement,
 * /run/vtpm-reporter.lock and /var/lib/vtpm-placement with prefix /usr. */
#define VTPM_CONF_DEFAULT_CACHE_DIR VTPM_CACHE_DIR
#define VTPM_CONF_DEFAULT_LOCK_FILE VTPM_LOCK_FILE
#define VTPM_CONF_DEFAULT_STATE_DIR VTPM_STATE_DIR
#define VTPM_CONF_DEFAULT_HEARTBEAT 300.0
#define VTPM_CONF_DEFAULT_LIBVIRT_TIMEOUT 30.0

typedef enum {
    VTPM_INVENTORY_POSTGRES = 1u << 0,
    VTPM_INVENTORY_PLACEMENT = 1u << 1
} vtpm_inventory_kind;

typedef struct {
    /* libvirt (Nova's [libvirt] names) */
    char *uri;                       /* default "qemu:///system" */
    char *virt_type;                 /* "kvm" (default), "qemu", "lxc", ... */
    bool swtpm_enabled;              /* default false, as in Nova */
    char *swtpm_user;                /* default "tss" */
    char *swtpm_group;               /* default "tss" */
    unsigned int supported_secret_security; /* bitset of (1 << vtpm_secret_security), default user|host */
    double libvirt_timeout;          /* seconds for the whole libvirt probe, default 30 */
    /* swtpm */
    char **swtpm_search_path;        /* NULL-terminated; default: $PATH split */
    double swtpm_timeout;            /* seconds for --print-capabilities, default 5 */
    char *cache_dir;                 /* capability cache, default VTPM_CONF_DEFAULT_CACHE_DIR */
    /* key manager */
    char *key_manager_backend;       /* "barbican" or NULL (not configured) */
    char *key_manager_url;           /* endpoint, e.g. "http://127.0.0.1:9311" */
    char *key_manager_ca_file;
    double key_manager_timeout;      /* seconds, default 5 */
    bool key_manager_check;          /* check reachability, default false */
    /* identity */
    char *host;                      /* provider name, default: this host's name */
    char *provider_uuid;             /* optional */
    /* publishing */
    unsigned int inventory;          /* vtpm_inventory_kind bits, default postgres */
    char *postgres_dsn;              /* default from $VTPM_DSN / libpq's environment */
    char *postgres_key_file;         /* host key: the signed (pooled) mode; NULL: direct mode */
    double start_delay_max;          /* random delay before run, seconds, default 0 */
    unsigned int retries;            /* default 3 */
    char *lock_file;                 /* default VTPM_CONF_DEFAULT_LOCK_FILE */
    char *state_dir;                 /* last-result.json, published.json; default
                                      * VTPM_CONF_DEFAULT_STATE_DIR */
    double heartbeat;                /* seconds an unchanged report is not published
                                      * again; 0: publish every run; default 300 */
    /* the `placement:` mapping (inventory: placement or both) */
    vtpm_placement_conf placement;   /* defaults: vtpm_placement_conf_init() */
} vtpm_conf;

/* Sets every field of @conf to its documented default. */
void vtpm_conf_init_defaults(vtpm_conf *conf);

/* Frees what @conf owns and leaves it zeroed. NULL-safe. */
void vtpm_conf_clear(vtpm_conf *conf);

/*
 * Sets @conf to the defaults, then reads the YAML file @path over them.
 * Strict: unknown keys, wrong types and bad values are errors. Returns 0, or
 * -1 with "file:line:column: message" (or "cannot open config ...") in @err;
 * on error @conf holds the defaults only and must still be cleared.
 */
int vtpm_conf_load_file(const char *path, vtpm_conf *conf, char *err, size_t errlen);

/*
 * As vtpm_conf_load_file(), from the @len bytes at @text; @name is the file
 * name used in messages.
 */
int vtpm_conf_load_string(const char *name, const char *text, size_t len,
                          vtpm_conf *conf, char *err, size_t errlen);

/*
 * The configuration keys, for documentation checks: returns the name of key
 * @index and sets *@section to its mapping ("" for top-level keys), or
 * returns NULL past the last key. Borrowed static strings.
 */
const char *vtpm_conf_key_at(size_t index, const char **section);

#endif /* VTPM_REPORTER_CONF_H */
