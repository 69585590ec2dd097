/* SPDX-License-Identifier: Apache-2.0 */
/* The reporter's configuration: defaults, and a strict YAML loader with positions. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <yaml.h>

#include <vtpm/filter.h>

#include "alloc.h"
#include "conf.h"
#include "file.h"
#include "secret_file.h"
#include "util.h"
#include "uuid.h"

/* A config file is a few hundred bytes; anything this large is a mistake. */
#define CONF_MAX_SIZE ((size_t)1024 * 1024)

/* The config is a mapping of mappings; deeper nesting is a mistake or an
 * attack (libyaml's loader takes quadratic time on deep flow collections). */
#define CONF_MAX_DEPTH 16

#define SECRET_BIT(mode) (1u << (mode))

static const char default_search_path[] =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/* ------------------------------------------------------------------------ */
/* Defaults                                                                 */

static char *
conf_strdup(const char *s)
{
    return s ? vtpm_alloc_strdup(s) : NULL;
}

static void
conf_free_list(char **list)
{
    if (!list)
        return;
    for (char **p = list; *p; p++)
        free(*p);
    free(list);
}

/* Splits a colon-separated path into a NULL-terminated list; empty parts skipped. */
static char **
conf_split_path(const char *path)
{
    size_t n = 1;
    char **list;
    size_t i = 0;
    const char *p = path;

    for (const char *c = path; *c; c++)
        if (*c == ':')
            n++;
    list = vtpm_alloc_calloc(n + 1, sizeof(*list));
    while (*p) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);

        if (len > 0) {
            list[i] = vtpm_alloc_strndup(p, len);
            i++;
        }
        p += len;
        if (*p == ':')
            p++;
    }
    return list;
}

void
vtpm_conf_init_defaults(vtpm_conf *conf)
{
    char hostname[256];
    const char *path = getenv("PATH");
    const char *dsn = vtpm_dsn_lookup(NULL);

    memset(conf, 0, sizeof(*conf));
    conf->uri = conf_strdup("qemu:///system");
    conf->virt_type = conf_strdup("kvm");
    conf->swtpm_enabled = false;
    conf->swtpm_user = conf_strdup("tss");
    conf->swtpm_group = conf_strdup("tss");
    conf->supported_secret_security = SECRET_BIT(VTPM_SECRET_SECURITY_USER) |
                                      SECRET_BIT(VTPM_SECRET_SECURITY_HOST);
    conf->libvirt_timeout = VTPM_CONF_DEFAULT_LIBVIRT_TIMEOUT;
    conf->swtpm_search_path = conf_split_path(path && *path ? path : default_search_path);
    conf->swtpm_timeout = 5.0;
    conf->cache_dir = conf_strdup(VTPM_CONF_DEFAULT_CACHE_DIR);
    conf->key_manager_backend = NULL;
    conf->key_manager_url = NULL;
    conf->key_manager_ca_file = NULL;
    conf->key_manager_timeout = 5.0;
    conf->key_manager_check = false;
    if (gethostname(hostname, sizeof(hostname)) != 0 || hostname[0] == '\0')
        snprintf(hostname, sizeof(hostname), "localhost");
    hostname[sizeof(hostname) - 1] = '\0';
    conf->host = conf_strdup(hostname);
    conf->provider_uuid = NULL;
    conf->inventory = VTPM_INVENTORY_POSTGRES;
    conf->postgres_dsn = *dsn ? conf_strdup(dsn) : NULL;
    conf->start_delay_max = 0.0;
    conf->retries = 3;
    conf->lock_file = conf_strdup(VTPM_CONF_DEFAULT_LOCK_FILE);
    conf->state_dir = conf_strdup(VTPM_CONF_DEFAULT_STATE_DIR);
    conf->heartbeat = VTPM_CONF_DEFAULT_HEARTBEAT;
    vtpm_placement_conf_init(&conf->placement);
}

void
vtpm_conf_clear(vtpm_conf *conf)
{
    if (!conf)
        return;
    free(conf->uri);
    free(conf->virt_type);
    free(conf->swtpm_user);
    free(conf->swtpm_group);
    conf_free_list(conf->swtpm_search_path);
    free(conf->cache_dir);
    free(conf->key_manager_backend);
    free(conf->key_manager_url);
    free(conf->key_manager_ca_file);
    free(conf->host);
    free(conf->provider_uuid);
    vtpm_free_secret(conf->postgres_dsn);
    free(conf->postgres_key_file);
    free(conf->lock_file);
    free(conf->state_dir);
    vtpm_placement_conf_clear(&conf->placement);
    memset(conf, 0, sizeof(*conf));
}

/* ------------------------------------------------------------------------ */
/* The key table                                                            */

typedef struct conf_ctx conf_ctx;
typedef struct conf_key conf_key;

typedef int (*conf_setter)(conf_ctx *ctx, const conf_key *key, yaml_node_t *node,
                           vtpm_conf *conf);

/*
 * One configuration key. @section is "" for top-level keys, else the name of
 * the mapping the key lives in. Keys whose setter is conf_set_section are
 * mappings themselves: their own keys are the rows with that section name.
 * New keys are added here, and nowhere else.
 */
struct conf_key {
    const char *section;
    const char *name;
    conf_setter set;
    size_t offset;
    const char *const *choices; /* for conf_set_choice */
    double min, max;            /* for numbers */
    bool nullable;              /* null (or empty) leaves the value unset */
};

struct conf_ctx {
    const char *name;
    yaml_document_t *doc;
    char *err;
    size_t errlen;
    const conf_key *secret; /* the first key set to a secret, for the file mode check */
};

static int conf_fail(conf_ctx *ctx, const yaml_node_t *node, const char *fmt, ...)
    VTPM_PRINTF(3, 4);

static int
conf_fail(conf_ctx *ctx, const yaml_node_t *node, const char *fmt, ...)
{
    char msg[384];
    va_list ap;

    va_start(ap, fmt);
    vtpm_vstrfmt(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (node)
        vtpm_strfmt(ctx->err, ctx->errlen, "%s:%zu:%zu: %s", ctx->name,
                    node->start_mark.line + 1, node->start_mark.column + 1, msg);
    else
        vtpm_strfmt(ctx->err, ctx->errlen, "%s: %s", ctx->name, msg);
    return -1;
}

/* The full name of a key in messages: "uri", "key_manager.url". */
static const char *
conf_key_fullname(const conf_key *key, char *buf, size_t size)
{
    if (key->section[0])
        vtpm_strfmt(buf, size, "%s.%s", key->section, key->name);
    else
        vtpm_strfmt(buf, size, "%s", key->name);
    return buf;
}

/* "'<key>' must be <what>, not '<value>'": the usual refusal of a value @v. */
static int VTPM_PRINTF(5, 6)
conf_fail_value(conf_ctx *ctx, const conf_key *key, const yaml_node_t *node, const char *v,
                const char *what_fmt, ...)
{
    char full[96], q[VTPM_QUOTE_MAX], what[192];
    va_list ap;

    va_start(ap, what_fmt);
    vtpm_vstrfmt(what, sizeof(what), what_fmt, ap);
    va_end(ap);
    return conf_fail(ctx, node, "'%s' must be %s, not %s",
                     conf_key_fullname(key, full, sizeof(full)), what,
                     vtpm_quote(q, sizeof(q), v));
}

static const char *
conf_node_kind(const yaml_node_t *node)
{
    switch (node->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a list";
    default:
        return "a scalar";
    }
}

static bool
conf_scalar_is_null(const yaml_node_t *node)
{
    const char *v = (const char *)node->data.scalar.value;

    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    return strcmp(v, "") == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/*
 * Returns the scalar text of @node, or NULL after reporting an error when
 * @node is not a scalar or contains a NUL byte.
 */
static const char *
conf_scalar(conf_ctx *ctx, const conf_key *key, const yaml_node_t *node, const char *what)
{
    char full[96];

    if (node->type != YAML_SCALAR_NODE) {
        conf_fail(ctx, node, "'%s' must be %s, not %s",
                  conf_key_fullname(key, full, sizeof(full)), what, conf_node_kind(node));
        return NULL;
    }
    if (strlen((const char *)node->data.scalar.value) != node->data.scalar.length) {
        conf_fail(ctx, node, "'%s' contains a NUL byte",
                  conf_key_fullname(key, full, sizeof(full)));
        return NULL;
    }
    return (const char *)node->data.scalar.value;
}

static char **
conf_field_str(const conf_key *key, vtpm_conf *conf)
{
    return (char **)(void *)((char *)conf + key->offset);
}

/* Common start of every scalar setter: null handling and type check. */
static int
conf_scalar_or_null(conf_ctx *ctx, const conf_key *key, yaml_node_t *node,
                    const char *what, const char **value)
{
    char full[96];

    *value = NULL;
    if (conf_scalar_is_null(node)) {
        if (key->nullable)
            return 0;
        return conf_fail(ctx, node, "'%s' needs a value",
                         conf_key_fullname(key, full, sizeof(full)));
    }
    *value = conf_scalar(ctx, key, node, what);
    return *value ? 0 : -1;
}

static void
conf_replace_str(char **field, const char *value)
{
    /* Some fields hold secrets (postgres.dsn, placement.password): wipe any. */
    vtpm_free_secret(*field);
    *field = conf_strdup(value);
}

static bool
conf_has_space(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f)
            return true;
    return false;
}

static int
conf_set_string(conf_ctx *ctx, const conf_key *key, yaml_node_t *node, vtpm_conf *conf)
{
    const char *v;

    if (conf_scalar_or_null(ctx, key, node, "a string", &v) < 0)
        return -1;
    conf_replace_str(conf_field_str(key, conf), v);
    return 0;
}

/* A single word: user and group names, host names, URIs. */
static int
conf_set_word(conf_ctx *ctx, const conf_key *key, yaml_node_t *node, vtpm_conf *conf)
{
    const char *v;

    if (conf_scalar_or_null(ctx, key, node, "a string", &v) < 0)
        return -1;
    if (v && (conf_has_space(v) || strlen(v) > 255))
        return conf_fail_value(ctx, key, node, v, "one word without spaces");
    conf_replace_str(conf_field_str(key, conf), v);
    return 0;
}

static int
conf_set_path(conf_ctx *ctx, const conf_key *key, yaml_node_t *node, vtpm_conf *conf)
{
    char full[96];
    const char *v;

    if (conf_scalar_or_null(ctx, key, node, "a path", &v) < 0)
        return -1;
    if (v && v[0] != '/')
        return conf_fail_value(ctx, key, node, v, "an absolute path");
    if (v && strlen(v) >= PATH_MAX)
        return conf_fail(ctx, node, "'%s' is too long",
                         conf_key_fullname(key, full, sizeof(full)));
    conf_replace_str(conf_field_str(key, conf), v);
    return 0;
}

/* Whether the authority of the URL after its scheme, @rest, holds a user
 * name or password ("user:pw@host"). */
static bool
conf_url_has_userinfo(const char *rest)
{
    size_t authority = strcspn(rest, "/?#");

    return memchr(rest, '@', authority) != NULL;
}

/* Refuses credentials in URL @v: they would reach messages and reports. The
 * URL is shown with them replaced by "***", never with the password. */
static int
conf_fail_userinfo(conf_ctx *ctx, const conf_key *key, const yaml_node_t *node,
                   const char *v, const char *rest)
{
    char full[96], shown[300], q[VTPM_QUOTE_MAX];
    size_t authority = strcspn(rest, "/?#");
    const char *at = rest;

    for (const char *c = rest; c < rest + authority; c++)
        if (*c == '@')
            at = c;
    vtpm_strfmt(shown, sizeof(shown), "%.*s***%s", (int)(rest - v), v, at);
    return conf_fail(ctx, node, "'%s' must not hold a user name or password: %s",
                     conf_key_fullname(key, full, sizeof(full)), vtpm_quote(q, sizeof(q), shown));
}

static int
conf_set_url(conf_ctx *ctx, const conf_key *key, yaml_node_t *node, vtpm_conf *conf)
{
    const char *v;

    if (conf_scalar_or_null(ctx, key, node, "a URL", &v) < 0)
        return -1;
    if (v) {
        const char *rest = strncmp(v, "http://", 7) == 0    ? v + 7
                           : strncmp(v, "https://", 8) == 0 ? v + 8
                                                            : NULL;

        if (!rest || *rest == '\0' || *rest == '/' || conf_has_space(v))
            return conf_fail_value(ctx, key, node, v, "an http:// or https:// URL");
        if (conf_url_has_userinfo(rest))
            return conf_fail_userinfo(ctx, key, node, v, rest);
    }
    conf_replace_str(conf_field_str(key, conf), v);
    return 0;
}

static int
conf_set_choice(conf_ctx *ctx, const conf_key *key, yaml_node_t *node, vtpm_conf *conf)
{
    char list[128] = "";
    const char *v;

    if (conf_scalar_or_null(ctx, key, node, "a string", &v) < 0)
        return -1;
    if (v) {
        size_t used = 0;

        for (const char *const *c = key->choices; *c; c++) {
            if (strcmp(*c, v) == 0) {
                conf_replace_str(conf_field_str(key, conf), v);
                return 0;
            }
            used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
                                     c == key->choices ? "" : ", ", *c);
            if (used >= sizeof(list))
                used = sizeof(list) - 1;
        }
        return conf_fail_value(ctx, key, node, v, "one of %s", list);
    }
    conf_replace_str(conf_field_str(key, conf), NULL);
    return 0;
}

static int
conf_set_bool(conf_ctx *ctx, const conf_key *key, yaml_node_t *node, vtpm_conf *conf)
{
    static const char *const yes[] = { "true", "yes", "on" };
    static const char *const no[] = { "false", "no", "off" };
    bool *field = (bool *)((char *)conf + key->offset);
    char full[96], q[VTPM_QUOTE_MAX];
    const char *v;

    if (conf_scalar_or_null(ctx, key, node, "true or false", &v) < 0)
        return -1;
    if (!v)
        return 0; /* null: keep the default */
    if (node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        for (size_t i = 0; i < VTPM_N_ELEMENTS(yes); i++) {
            if (strcasecmp(v, yes[i]) == 0) {
                *field = true;
                return 0;
            }
            if (strcasecmp(v, no[i]) == 0) {
                *field = false;
                return 0;
            }
        }
    }
    return conf_fail(ctx, node, "'%s' must be true or false, not %s%s",
                     conf_key_fullname(key, full, sizeof(full)),
                     node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? "" : "the string ",
                     vtpm_quote(q, sizeof(q), v));
}

/* Parses a plain decimal number; false unless the whole text is one. */
static bool
conf_parse_number(const char *v, double *out)
{
    char *end;

    if (!*v || conf_has_space(v))
        return false;
    /* strtod would also take "inf", "nan" and hex floats: not numbers here */
    for (const char *c = v; *c; c++)
        if (!strchr("0123456789.+-eE", *c))
            return false;
    errno = 0;
    *out = strtod(v, &end);
    return errno == 0 && *end == '\0' && isfinite(*out);
}

static int
conf_set_seconds(conf_ctx *ctx, const conf_key *key, yaml_node_t *node, vtpm_conf *conf)
{
    double *field = (double *)(void *)((char *)conf + key->offset);
    const char *v;
    double d;

    if (conf_scalar_or_null(ctx, key, node, "a number of seconds", &v) < 0)
        return -1;
    if (!v)
        return 0;
    if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || !conf_parse_number(v, &d) ||
        d < key->min || d > key->max)
        return conf_fail_value(ctx, key, node, v, "a number of seconds from %g to %g",
                               key->min, key->max);
    *field = d;
    return 0;
}

static int
conf_set_uint(conf_ctx *ctx, const conf_key *key, yaml_node_t *node, vtpm_conf *conf)
{
    unsigned int *field = (unsigned int *)(void *)((char *)conf + key->offset);
    const char *v;
    double d;

    if (conf_scalar_or_null(ctx, key, node, "a whole number", &v) < 0)
        return -1;
    if (!v)
        return 0;
    if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || strspn(v, "0123456789") != strlen(v) ||
        !conf_parse_number(v, &d) || d < key->min || d > key->max)
        return conf_fail_value(ctx, key, node, v, "a whole number from %g to %g", key->min,
                               key->max);
    *field = (unsigned int)d;
    return 0;
}

static int
conf_set_uuid(conf_ctx *ctx, const conf_key *key, yaml_node_t *node, vtpm_conf *conf)
{
    char lower[VTPM_UUID_STRING_SIZE];
    unsigned char bytes[VTPM_UUID_BYTES];
    const char *v;

    if (conf_scalar_or_null(ctx, key, node, "a UUID", &v) < 0)
        return -1;
    if (!v) {
        conf_replace_str(conf_field_str(key, conf), NULL);
        return 0;
    }
    if (!vtpm_uuid_text_valid(v))
        goto bad;
    vtpm_uuid_text_scan(v, bytes);
    vtpm_uuid_text_write(bytes, lower);
    conf_replace_str(conf_field_str(key, conf), lower);
    return 0;

bad:
    return conf_fail_value(ctx, key, node, v, "a UUID like 8-4-4-4-12 hex digits");
}

static int
conf_set_inventory(conf_ctx *ctx, const conf_key *key, yaml_node_t *node, vtpm_conf *conf)
{
    const char *v;

    if (conf_scalar_or_null(ctx, key, node, "a string", &v) < 0)
        return -1;
    if (!v)
        return 0;
    if (strcmp(v, "postgres") == 0)
        conf->inventory = VTPM_INVENTORY_POSTGRES;
    else if (strcmp(v, "placement") == 0)
        conf->inventory = VTPM_INVENTORY_PLACEMENT;
    else if (strcmp(v, "both") == 0)
        conf->inventory = VTPM_INVENTORY_POSTGRES | VTPM_INVENTORY_PLACEMENT;
    else
        return conf_fail_value(ctx, key, node, v, "one of postgres, placement, both");
    return 0;
}

/* Checks that @node is a list of scalars; reports an error otherwise. */
static int
conf_check_list(conf_ctx *ctx, const conf_key *key, yaml_node_t *node, const char *what)
{
    char full[96];

    if (conf_scalar_is_null(node))
        return 0; /* an empty value is an empty list */
    if (node->type != YAML_SEQUENCE_NODE)
        return conf_fail(ctx, node, "'%s' must be a list of %s, not %s",
                         conf_key_fullname(key, full, sizeof(full)), what,
                         conf_node_kind(node));
    for (yaml_node_item_t *it = node->data.sequence.items.start;
         it < node->data.sequence.items.top; it++) {
        yaml_node_t *item = yaml_document_get_node(ctx->doc, *it);

        if (!item || !conf_scalar(ctx, key, item, what))
            return -1;
    }
    return 0;
}

static size_t
conf_list_len(const yaml_node_t *node)
{
    if (node->type != YAML_SEQUENCE_NODE)
        return 0;
    return (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
}

static int
conf_set_secret_security(conf_ctx *ctx, const conf_key *key, yaml_node_t *node,
                         vtpm_conf *conf)
{
    static const struct {
        const char *name;
        vtpm_secret_security mode;
    } modes[] = {
        { "user", VTPM_SECRET_SECURITY_USER },
        { "host", VTPM_SECRET_SECURITY_HOST },
        { "deployment", VTPM_SECRET_SECURITY_DEPLOYMENT },
    };
    unsigned int set = 0;
    char full[96], q[VTPM_QUOTE_MAX];

    if (conf_check_list(ctx, key, node, "user, host or deployment") < 0)
        return -1;
    for (size_t i = 0; i < conf_list_len(node); i++) {
        yaml_node_t *item = yaml_document_get_node(ctx->doc,
                                                   node->data.sequence.items.start[i]);
        const char *v = (const char *)item->data.scalar.value;
        size_t m;

        for (m = 0; m < VTPM_N_ELEMENTS(modes); m++)
            if (strcmp(v, modes[m].name) == 0)
                break;
        if (m == VTPM_N_ELEMENTS(modes))
            return conf_fail(ctx, item, "'%s' values must be user, host or deployment, not %s",
                             conf_key_fullname(key, full, sizeof(full)),
                             vtpm_quote(q, sizeof(q), v));
        if (set & SECRET_BIT(modes[m].mode))
            return conf_fail(ctx, item, "'%s' lists %s twice",
                             conf_key_fullname(key, full, sizeof(full)),
                             vtpm_quote(q, sizeof(q), v));
        set |= SECRET_BIT(modes[m].mode);
    }
    conf->supported_secret_security = set;
    return 0;
}

static int
conf_set_path_list(conf_ctx *ctx, const conf_key *key, yaml_node_t *node, vtpm_conf *conf)
{
    char ***field = (char ***)(void *)((char *)conf + key->offset);
    char full[96], q[VTPM_QUOTE_MAX];
    size_t n = conf_list_len(node);
    char **list;

    if (conf_check_list(ctx, key, node, "absolute paths") < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = yaml_document_get_node(ctx->doc,
                                                   node->data.sequence.items.start[i]);
        const char *v = (const char *)item->data.scalar.value;

        if (v[0] != '/' || strchr(v, ':') || strlen(v) >= PATH_MAX)
            return conf_fail(ctx, item, "'%s' entries must be absolute paths without ':', not %s",
                             conf_key_fullname(key, full, sizeof(full)),
                             vtpm_quote(q, sizeof(q), v));
    }
    list = vtpm_alloc_calloc(n + 1, sizeof(*list));
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = yaml_document_get_node(ctx->doc,
                                                   node->data.sequence.items.start[i]);

        list[i] = conf_strdup((const char *)item->data.scalar.value);
    }
    conf_free_list(*field);
    *field = list;
    return 0;
}

static int conf_set_section(conf_ctx *ctx, const conf_key *key, yaml_node_t *node,
                            vtpm_conf *conf);

/* placement.auth: none, token, password, application_credential. */
static int
conf_set_placement_auth(conf_ctx *ctx, const conf_key *key, yaml_node_t *node,
                        vtpm_conf *conf)
{
    const char *v;
    int auth;

    if (conf_scalar_or_null(ctx, key, node, "a string", &v) < 0)
        return -1;
    auth = vtpm_placement_auth_from_name(v);
    if (auth < 0)
        return conf_fail_value(ctx, key, node, v,
                               "one of none, token, password, application_credential");
    conf->placement.auth = (vtpm_placement_auth)auth;
    return 0;
}

/* placement.microversion: "auto" or "1.N" with N from 6 to 39. */
static int
conf_set_placement_microversion(conf_ctx *ctx, const conf_key *key, yaml_node_t *node,
                                vtpm_conf *conf)
{
    const char *v;
    double d;

    if (conf_scalar_or_null(ctx, key, node, "a string", &v) < 0)
        return -1;
    if (v && strcmp(v, "auto") != 0 &&
        (strncmp(v, "1.", 2) != 0 || strspn(v + 2, "0123456789") != strlen(v + 2) ||
         !conf_parse_number(v + 2, &d) || d < VTPM_PLACEMENT_MIN_MICROVERSION ||
         d > VTPM_PLACEMENT_MAX_MICROVERSION))
        return conf_fail_value(ctx, key, node, v, "auto or 1.%d to 1.%d",
                               VTPM_PLACEMENT_MIN_MICROVERSION, VTPM_PLACEMENT_MAX_MICROVERSION);
    conf_replace_str(conf_field_str(key, conf), v);
    return 0;
}

static const char *const virt_types[] = { "kvm", "qemu", "lxc", "parallels", NULL };
static const char *const key_manager_backends[] = { "barbican", NULL };
static const char *const placement_interfaces[] = { "public", "internal", "admin", NULL };

#define FIELD(name) offsetof(vtpm_conf, name)

static const conf_key conf_keys[] = {
    /* libvirt, with Nova's [libvirt] names */
    { "", "uri", conf_set_word, FIELD(uri), NULL, 0, 0, false },
    { "", "virt_type", conf_set_choice, FIELD(virt_type), virt_types, 0, 0, false },
    { "", "swtpm_enabled", conf_set_bool, FIELD(swtpm_enabled), NULL, 0, 0, false },
    { "", "swtpm_user", conf_set_word, FIELD(swtpm_user), NULL, 0, 0, false },
    { "", "swtpm_group", conf_set_word, FIELD(swtpm_group), NULL, 0, 0, false },
    { "", "supported_tpm_secret_security", conf_set_secret_security, 0, NULL, 0, 0, false },
    { "", "libvirt_timeout", conf_set_seconds, FIELD(libvirt_timeout), NULL, 0.1, 300, false },
    /* swtpm */
    { "", "swtpm_search_path", conf_set_path_list, FIELD(swtpm_search_path), NULL, 0, 0,
      false },
    { "", "swtpm_timeout", conf_set_seconds, FIELD(swtpm_timeout), NULL, 0.1, 300, false },
    { "", "cache_dir", conf_set_path, FIELD(cache_dir), NULL, 0, 0, false },
    /* key manager */
    { "", "key_manager", conf_set_section, 0, NULL, 0, 0, true },
    { "key_manager", "backend", conf_set_choice, FIELD(key_manager_backend),
      key_manager_backends, 0, 0, true },
    { "key_manager", "url", conf_set_url, FIELD(key_manager_url), NULL, 0, 0, true },
    { "key_manager", "ca_file", conf_set_path, FIELD(key_manager_ca_file), NULL, 0, 0, true },
    { "key_manager", "timeout", conf_set_seconds, FIELD(key_manager_timeout), NULL, 0.1, 300,
      false },
    { "key_manager", "check", conf_set_bool, FIELD(key_manager_check), NULL, 0, 0, false },
    /* identity */
    { "", "host", conf_set_word, FIELD(host), NULL, 0, 0, false },
    { "", "provider_uuid", conf_set_uuid, FIELD(provider_uuid), NULL, 0, 0, true },
    /* publishing */
    { "", "inventory", conf_set_inventory, 0, NULL, 0, 0, false },
    { "", "postgres", conf_set_section, 0, NULL, 0, 0, true },
    { "postgres", "dsn", conf_set_string, FIELD(postgres_dsn), NULL, 0, 0, true },
    { "postgres", "key_file", conf_set_path, FIELD(postgres_key_file), NULL, 0, 0, true },
    { "", "placement", conf_set_section, 0, NULL, 0, 0, true },
#define PLACEMENT(name) FIELD(placement.name)
    { "placement", "url", conf_set_url, PLACEMENT(url), NULL, 0, 0, true },
    { "placement", "microversion", conf_set_placement_microversion, PLACEMENT(microversion),
      NULL, 0, 0, true },
    { "placement", "provider_name", conf_set_word, PLACEMENT(provider_name), NULL, 0, 0,
      true },
    { "placement", "provider_uuid", conf_set_uuid, PLACEMENT(provider_uuid), NULL, 0, 0,
      true },
    { "placement", "create_provider", conf_set_bool, PLACEMENT(create_provider), NULL, 0, 0,
      false },
    { "placement", "auth", conf_set_placement_auth, 0, NULL, 0, 0, false },
    { "placement", "token", conf_set_string, PLACEMENT(token), NULL, 0, 0, true },
    { "placement", "auth_url", conf_set_url, PLACEMENT(auth_url), NULL, 0, 0, true },
    { "placement", "username", conf_set_string, PLACEMENT(username), NULL, 0, 0, true },
    { "placement", "user_id", conf_set_word, PLACEMENT(user_id), NULL, 0, 0, true },
    { "placement", "user_domain_name", conf_set_string, PLACEMENT(user_domain_name), NULL,
      0, 0, true },
    { "placement", "password", conf_set_string, PLACEMENT(password), NULL, 0, 0, true },
    { "placement", "project_name", conf_set_string, PLACEMENT(project_name), NULL, 0, 0,
      true },
    { "placement", "project_id", conf_set_word, PLACEMENT(project_id), NULL, 0, 0, true },
    { "placement", "project_domain_name", conf_set_string, PLACEMENT(project_domain_name),
      NULL, 0, 0, true },
    { "placement", "application_credential_id", conf_set_word,
      PLACEMENT(application_credential_id), NULL, 0, 0, true },
    { "placement", "application_credential_name", conf_set_string,
      PLACEMENT(application_credential_name), NULL, 0, 0, true },
    { "placement", "application_credential_secret", conf_set_string,
      PLACEMENT(application_credential_secret), NULL, 0, 0, true },
    { "placement", "interface", conf_set_choice, PLACEMENT(interface), placement_interfaces,
      0, 0, true },
    { "placement", "region", conf_set_word, PLACEMENT(region), NULL, 0, 0, true },
    { "placement", "ca_file", conf_set_path, PLACEMENT(ca_file), NULL, 0, 0, true },
    { "placement", "cert_file", conf_set_path, PLACEMENT(cert_file), NULL, 0, 0, true },
    { "placement", "key_file", conf_set_path, PLACEMENT(key_file), NULL, 0, 0, true },
    { "placement", "key_password_file", conf_set_path, PLACEMENT(key_password_file), NULL,
      0, 0, true },
    { "placement", "verify", conf_set_bool, PLACEMENT(verify), NULL, 0, 0, false },
    { "placement", "connect_timeout", conf_set_seconds, PLACEMENT(connect_timeout), NULL,
      0.1, 300, false },
    { "placement", "timeout", conf_set_seconds, PLACEMENT(timeout), NULL, 0.1, 3600, false },
    { "placement", "retries", conf_set_uint, PLACEMENT(retries), NULL, 0, 100, false },
    { "placement", "retry_delay", conf_set_seconds, PLACEMENT(retry_delay), NULL, 0, 60,
      false },
#undef PLACEMENT
    { "", "start_delay_max", conf_set_seconds, FIELD(start_delay_max), NULL, 0, 3600, false },
    { "", "retries", conf_set_uint, FIELD(retries), NULL, 0, 100, false },
    { "", "lock_file", conf_set_path, FIELD(lock_file), NULL, 0, 0, false },
    { "", "state_dir", conf_set_path, FIELD(state_dir), NULL, 0, 0, false },
    { "", "heartbeat", conf_set_seconds, FIELD(heartbeat), NULL, 0, 86400, false },
};

static const conf_key *
conf_key_find(const char *section, const char *name)
{
    for (size_t i = 0; i < VTPM_N_ELEMENTS(conf_keys); i++)
        if (strcmp(conf_keys[i].section, section) == 0 && strcmp(conf_keys[i].name, name) == 0)
            return &conf_keys[i];
    return NULL;
}

const char *
vtpm_conf_key_at(size_t index, const char **section)
{
    if (index >= VTPM_N_ELEMENTS(conf_keys))
        return NULL;
    if (section)
        *section = conf_keys[index].section;
    return conf_keys[index].name;
}

/* Whether a DSN may hold a password: a password or sslpassword keyword in
 * key=value form or as a URI parameter (percent-decoded first, as libpq
 * decodes them; "passfile" names no secret), or "user:password@" in a URI. */
static bool
conf_dsn_has_password(const char *dsn)
{
    char *plain = vtpm_alloc_strdup(dsn);
    const char *scheme = strstr(dsn, "://");
    size_t o = 0;
    bool found;

    for (const char *c = dsn; *c; c++) {
        if (c[0] == '%' && isxdigit((unsigned char)c[1]) && isxdigit((unsigned char)c[2])) {
            char hex[3] = { c[1], c[2], '\0' };

            plain[o++] = (char)strtol(hex, NULL, 16);
            c += 2;
        } else {
            plain[o++] = *c;
        }
    }
    plain[o] = '\0';
    found = strcasestr(plain, "password") != NULL;
    vtpm_free_secret(plain);
    if (!found && scheme) {
        const char *auth = scheme + 3;
        const char *at = memchr(auth, '@', strcspn(auth, "/?"));

        found = at && memchr(auth, ':', (size_t)(at - auth)) != NULL;
    }
    return found;
}

/* Whether @key, just set from @node, put a secret in the config. */
static bool
conf_key_holds_secret(const conf_key *key, const yaml_node_t *node)
{
    static const char *const secrets[] = { "password", "token",
                                           "application_credential_secret" };
    const char *v;

    if (node->type != YAML_SCALAR_NODE || conf_scalar_is_null(node))
        return false;
    v = (const char *)node->data.scalar.value;
    if (strcmp(key->section, "postgres") == 0 && strcmp(key->name, "dsn") == 0)
        return conf_dsn_has_password(v);
    if (strcmp(key->section, "placement") != 0)
        return false;
    for (size_t i = 0; i < VTPM_N_ELEMENTS(secrets); i++)
        if (strcmp(key->name, secrets[i]) == 0)
            return true;
    return false;
}

/* Walks the mapping @node whose keys belong to @section ("" = top level). */
static int
conf_walk_mapping(conf_ctx *ctx, const char *section, yaml_node_t *node, vtpm_conf *conf)
{
    for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
         pair < node->data.mapping.pairs.top; pair++) {
        yaml_node_t *k = yaml_document_get_node(ctx->doc, pair->key);
        yaml_node_t *v = yaml_document_get_node(ctx->doc, pair->value);
        char q[VTPM_QUOTE_MAX];
        const char *name;
        const conf_key *key;

        if (!k || !v)
            return conf_fail(ctx, node, "malformed mapping");
        if (k->type != YAML_SCALAR_NODE ||
            strlen((const char *)k->data.scalar.value) != k->data.scalar.length)
            return conf_fail(ctx, k, "keys must be plain words, not %s", conf_node_kind(k));
        name = (const char *)k->data.scalar.value;
        for (yaml_node_pair_t *prev = node->data.mapping.pairs.start; prev < pair; prev++) {
            yaml_node_t *pk = yaml_document_get_node(ctx->doc, prev->key);

            if (pk && pk->type == YAML_SCALAR_NODE &&
                strcmp((const char *)pk->data.scalar.value, name) == 0)
                return conf_fail(ctx, k, "duplicate key %s", vtpm_quote(q, sizeof(q), name));
        }
        key = conf_key_find(section, name);
        if (!key) {
            if (section[0]) {
                char full[160];

                vtpm_strfmt(full, sizeof(full), "%s.%s", section, name);
                return conf_fail(ctx, k, "unknown key %s", vtpm_quote(q, sizeof(q), full));
            }
            return conf_fail(ctx, k, "unknown key %s", vtpm_quote(q, sizeof(q), name));
        }
        if (key->set(ctx, key, v, conf) < 0)
            return -1;
        if (!ctx->secret && conf_key_holds_secret(key, v))
            ctx->secret = key;
    }
    return 0;
}

static int
conf_set_section(conf_ctx *ctx, const conf_key *key, yaml_node_t *node, vtpm_conf *conf)
{
    char full[96];

    if (conf_scalar_is_null(node))
        return 0;
    if (node->type != YAML_MAPPING_NODE)
        return conf_fail(ctx, node, "'%s' must be a mapping, not %s",
                         conf_key_fullname(key, full, sizeof(full)), conf_node_kind(node));
    return conf_walk_mapping(ctx, key->name, node, conf);
}

/* Rules that involve more than one key. */
static int
conf_check_combined(conf_ctx *ctx, vtpm_conf *conf)
{
    yaml_node_t *root = yaml_document_get_root_node(ctx->doc);
    yaml_node_t *where = root;

    /* point at the key_manager mapping when there is one */
    for (yaml_node_pair_t *pair = root->data.mapping.pairs.start;
         pair < root->data.mapping.pairs.top; pair++) {
        yaml_node_t *k = yaml_document_get_node(ctx->doc, pair->key);

        if (k && strcmp((const char *)k->data.scalar.value, "key_manager") == 0)
            where = k;
    }
    if (!conf->key_manager_backend &&
        (conf->key_manager_url || conf->key_manager_ca_file || conf->key_manager_check))
        return conf_fail(ctx, where, "'key_manager' needs a 'backend' (barbican)");
    if (conf->key_manager_check && !conf->key_manager_url)
        return conf_fail(ctx, where, "'key_manager.check' needs 'key_manager.url'");
    return 0;
}

static int
conf_yaml_fail(conf_ctx *ctx, const yaml_parser_t *parser)
{
    const char *problem = parser->problem ? parser->problem : "invalid YAML";

    if (parser->error == YAML_MEMORY_ERROR)
        vtpm_alloc_abort();
    vtpm_strfmt(ctx->err, ctx->errlen, "%s:%zu:%zu: %s%s%s", ctx->name,
                parser->problem_mark.line + 1, parser->problem_mark.column + 1, problem,
                parser->context ? " " : "", parser->context ? parser->context : "");
    return -1;
}

/*
 * Refuses nesting deeper than CONF_MAX_DEPTH from the parser's events, before
 * any document is built: it stops at the first collection too deep, so the
 * scanner never looks further than a bounded distance ahead. A syntax error
 * is left to the loader, which reports it the same way.
 */
static int
conf_check_depth(conf_ctx *ctx, const char *text, size_t len)
{
    yaml_parser_t parser;
    yaml_event_t event;
    unsigned int depth = 0;
    int rc = 0;
    bool done = false;

    if (!yaml_parser_initialize(&parser))
        vtpm_alloc_abort();
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    while (!done && rc == 0) {
        if (!yaml_parser_parse(&parser, &event)) {
            if (parser.error == YAML_MEMORY_ERROR)
                vtpm_alloc_abort();
            break;
        }
        if (event.type == YAML_SEQUENCE_START_EVENT || event.type == YAML_MAPPING_START_EVENT) {
            if (++depth > CONF_MAX_DEPTH) {
                vtpm_strfmt(ctx->err, ctx->errlen, "%s:%zu:%zu: nested deeper than %d levels",
                            ctx->name, event.start_mark.line + 1,
                            event.start_mark.column + 1, CONF_MAX_DEPTH);
                rc = -1;
            }
        } else if (event.type == YAML_SEQUENCE_END_EVENT ||
                   event.type == YAML_MAPPING_END_EVENT) {
            depth--;
        }
        done = event.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&event);
    }
    yaml_parser_delete(&parser);
    return rc;
}

/*
 * vtpm_conf_load_string(), telling in @secret (@secret_size bytes) the full
 * name of the first key that holds a secret, "" when none does.
 */
static int
conf_load_text(const char *name, const char *text, size_t len, vtpm_conf *conf,
               char *err, size_t errlen, char *secret, size_t secret_size)
{
    yaml_parser_t parser;
    yaml_document_t doc, extra;
    conf_ctx ctx = { .name = name, .doc = &doc, .err = err, .errlen = errlen };
    yaml_node_t *root;
    vtpm_conf parsed;
    int rc = -1;

    if (secret_size > 0)
        secret[0] = '\0';
    if (errlen > 0)
        err[0] = '\0';
    vtpm_conf_init_defaults(conf);
    if (conf_check_depth(&ctx, text, len) < 0)
        return -1;
    if (!yaml_parser_initialize(&parser))
        vtpm_alloc_abort();
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        conf_yaml_fail(&ctx, &parser);
        yaml_parser_delete(&parser);
        return -1;
    }
    root = yaml_document_get_root_node(&doc);
    if (root) {
        /* a second document is almost certainly a mistake: refuse it */
        if (!yaml_parser_load(&parser, &extra)) {
            conf_yaml_fail(&ctx, &parser);
            goto cleanup;
        }
        if (yaml_document_get_root_node(&extra)) {
            yaml_node_t *r2 = yaml_document_get_root_node(&extra);

            conf_fail(&ctx, r2, "only one YAML document is allowed");
            yaml_document_delete(&extra);
            goto cleanup;
        }
        yaml_document_delete(&extra);
    }

    vtpm_conf_init_defaults(&parsed);
    if (root && !conf_scalar_is_null(root)) { /* else an empty file: every default */
        if (root->type != YAML_MAPPING_NODE)
            rc = conf_fail(&ctx, root, "the configuration must be a mapping of keys, not %s",
                           conf_node_kind(root));
        else if (conf_walk_mapping(&ctx, "", root, &parsed) == 0)
            rc = conf_check_combined(&ctx, &parsed);
    } else {
        rc = 0;
    }
    if (rc == 0) {
        vtpm_conf_clear(conf);
        *conf = parsed;
    } else {
        vtpm_conf_clear(&parsed);
    }

cleanup:
    if (ctx.secret)
        conf_key_fullname(ctx.secret, secret, secret_size);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

int
vtpm_conf_load_string(const char *name, const char *text, size_t len, vtpm_conf *conf,
                      char *err, size_t errlen)
{
    char secret[96];

    return conf_load_text(name, text, len, conf, err, errlen, secret, sizeof(secret));
}

/* A config that holds a secret must be as private as a key file: refuses it
 * (and leaves @conf at the defaults) when group or others may read it. */
static int
conf_check_private(FILE *fp, const char *path, const char *secret, vtpm_conf *conf,
                   char *err, size_t errlen)
{
    char why[512];

    if (!secret[0] || vtpm_secret_file_check(fileno(fp), path, "config", why, sizeof(why)) == 0)
        return 0;
    vtpm_strfmt(err, errlen, "'%s' is a secret: %s", secret, why);
    vtpm_conf_clear(conf);
    vtpm_conf_init_defaults(conf);
    return -1;
}

int
vtpm_conf_load_file(const char *path, vtpm_conf *conf, char *err, size_t errlen)
{
    FILE *fp;
    char *buf = NULL, secret[96] = "";
    size_t len = 0;
    int rc;

    fp = fopen(path, "re");
    if (!fp) {
        vtpm_conf_init_defaults(conf);
        vtpm_strfmt(err, errlen, "cannot open config '%s': %s", path, strerror(errno));
        return -1;
    }
    if (vtpm_file_read_stream(fp, CONF_MAX_SIZE, &buf, &len) < 0) {
        int saved = errno;

        if (saved == ENOMEM)
            abort();
        fclose(fp);
        vtpm_conf_init_defaults(conf);
        if (saved == EFBIG)
            vtpm_strfmt(err, errlen, "cannot read config '%s': larger than %zu bytes", path,
                        CONF_MAX_SIZE);
        else
            vtpm_strfmt(err, errlen, "cannot read config '%s': %s", path, strerror(saved));
        return -1;
    }
    rc = conf_load_text(path, buf, len, conf, err, errlen, secret, sizeof(secret));
    if (rc == 0)
        rc = conf_check_private(fp, path, secret, conf, err, errlen);
    fclose(fp);
    vtpm_free_secret(buf);
    return rc;
}
