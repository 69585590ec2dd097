/* SPDX-License-Identifier: Apache-2.0 */
/* Facts and reports to JSON (jansson), and facts read back from it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facts_json.h"
#include "util.h"

static const char *const status_names[] = {
    [VTPM_PROBE_NOT_RUN] = "not_run",
    [VTPM_PROBE_OK] = "ok",
    [VTPM_PROBE_FAILED] = "failed",
    [VTPM_PROBE_INCONCLUSIVE] = "inconclusive",
};

const char *
vtpm_probe_status_name(vtpm_probe_status status)
{
    if ((unsigned int)status >= VTPM_N_ELEMENTS(status_names))
        return "unknown";
    return status_names[status];
}

typedef enum {
    FIELD_STATUS,  /* vtpm_probe_status as its name */
    FIELD_BOOL,
    FIELD_STRING,  /* char[size] */
    FIELD_VERSION, /* unsigned long major*1000000+minor*1000+micro as "a.b.c" */
    FIELD_LONG,
    FIELD_LIST,    /* char[size], comma-separated, as a JSON array */
    FIELD_BINARY   /* vtpm_binary_facts as {"found":..,"path":..} */
} field_type;

typedef struct {
    const char *section; /* member of the facts object; "" for top level */
    const char *name;
    field_type type;
    size_t offset;       /* in vtpm_facts */
    size_t size;         /* for strings */
} field_desc;

/* member designators cannot be parenthesised, hence the NOLINT */
#define F(sec, member, type) \
    { #sec, #member, type, offsetof(vtpm_facts, sec.member), /* NOLINT */ \
      sizeof(((vtpm_facts *)0)->sec.member) }

/* One table for both directions, so writing and reading cannot drift apart. */
static const field_desc fields[] = {
    { "", "host", FIELD_STRING, offsetof(vtpm_facts, host), sizeof(((vtpm_facts *)0)->host) },
    F(libvirt, status, FIELD_STATUS),
    F(libvirt, error, FIELD_STRING),
    F(libvirt, hypervisor, FIELD_STRING),
    F(libvirt, libvirt_version, FIELD_VERSION),
    F(libvirt, hypervisor_version, FIELD_VERSION),
    F(libvirt, arch, FIELD_STRING),
    F(libvirt, virt_type, FIELD_STRING),
    F(libvirt, tpm_element, FIELD_BOOL),
    F(libvirt, tpm_supported, FIELD_BOOL),
    F(libvirt, model_tis, FIELD_BOOL),
    F(libvirt, model_crb, FIELD_BOOL),
    F(libvirt, backend_emulator, FIELD_BOOL),
    F(libvirt, backend_version_element, FIELD_BOOL),
    F(libvirt, backend_1_2, FIELD_BOOL),
    F(libvirt, backend_2_0, FIELD_BOOL),
    F(swtpm, status, FIELD_STATUS),
    F(swtpm, error, FIELD_STRING),
    F(swtpm, swtpm, FIELD_BINARY),
    F(swtpm, swtpm_setup, FIELD_BINARY),
    F(swtpm, swtpm_ioctl, FIELD_BINARY),
    F(swtpm, version, FIELD_STRING),
    F(swtpm, tpm_1_2, FIELD_BOOL),
    F(swtpm, tpm_2_0, FIELD_BOOL),
    F(swtpm, pwd_fd, FIELD_BOOL),
    F(swtpm, features, FIELD_LIST),
    F(swtpm, from_cache, FIELD_BOOL),
    F(swtpm, setup_caps, FIELD_BOOL),
    F(swtpm, setup_version, FIELD_STRING),
    F(swtpm, setup_pwdfile_fd, FIELD_BOOL),
    F(swtpm, setup_features, FIELD_LIST),
    F(system, status, FIELD_STATUS),
    F(system, user, FIELD_STRING),
    F(system, group, FIELD_STRING),
    F(system, user_exists, FIELD_BOOL),
    F(system, group_exists, FIELD_BOOL),
    F(system, key_manager_status, FIELD_STATUS),
    F(system, key_manager_configured, FIELD_BOOL),
    F(system, key_manager_checked, FIELD_BOOL),
    F(system, key_manager_reachable, FIELD_BOOL),
    F(system, key_manager_http_status, FIELD_LONG),
    F(system, key_manager_error, FIELD_STRING),
    F(deep, status, FIELD_STATUS),
    F(deep, tpm_1_2, FIELD_STATUS),
    F(deep, tpm_2_0, FIELD_STATUS),
    F(deep, error_1_2, FIELD_STRING),
    F(deep, error_2_0, FIELD_STRING),
};

static const char *const sections[] = { "libvirt", "swtpm", "system", "deep" };

static json_t *
facts_list_to_json(const char *list)
{
    json_t *arr = json_array();
    const char *p = list;

    if (!arr)
        return NULL;
    while (*p) {
        size_t len = strcspn(p, ",");

        if (len > 0 && json_array_append_new(arr, json_stringn(p, len)) < 0) {
            json_decref(arr);
            return NULL;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return arr;
}

static json_t *
facts_field_to_json(const vtpm_facts *facts, const field_desc *f)
{
    const char *base = (const char *)facts + f->offset;
    char buf[32];

    switch (f->type) {
    case FIELD_STATUS:
        return json_string(
            vtpm_probe_status_name(*(const vtpm_probe_status *)(const void *)base));
    case FIELD_BOOL:
        return json_boolean(*(const bool *)base);
    case FIELD_STRING:
        /* NULL for non-UTF-8: the caller falls back to a quoted form */
        return json_stringn(base, strnlen(base, f->size));
    case FIELD_VERSION: {
        unsigned long v = *(const unsigned long *)(const void *)base;

        return json_string(vtpm_version_format(v, buf, sizeof(buf)));
    }
    case FIELD_LONG:
        return json_integer(*(const long *)(const void *)base);
    case FIELD_LIST:
        return facts_list_to_json(base);
    case FIELD_BINARY: {
        const vtpm_binary_facts *b = (const vtpm_binary_facts *)(const void *)base;

        return json_pack("{s:b,s:s?}", "found", b->found, "path", b->path[0] ? b->path : NULL);
    }
    }
    return NULL;
}

/* Strings from probes may hold any bytes; JSON strings must be UTF-8. */
static json_t *
facts_string_lossy(const char *s)
{
    char quoted[600];
    json_t *v = json_string(s);

    if (v)
        return v;
    vtpm_quote(quoted, sizeof(quoted), s);
    return json_string(quoted);
}

json_t *
vtpm_facts_to_json(const vtpm_facts *facts)
{
    json_t *root = json_object();

    if (!root)
        return NULL;
    for (size_t s = 0; s < VTPM_N_ELEMENTS(sections); s++)
        if (json_object_set_new(root, sections[s], json_object()) < 0)
            goto fail;
    for (size_t i = 0; i < VTPM_N_ELEMENTS(fields); i++) {
        const field_desc *f = &fields[i];
        json_t *target = f->section[0] ? json_object_get(root, f->section) : root;
        json_t *v = facts_field_to_json(facts, f);

        if (!v && f->type == FIELD_STRING)
            v = facts_string_lossy((const char *)facts + f->offset);
        if (!v || json_object_set_new(target, f->name, v) < 0)
            goto fail;
    }
    return root;

fail:
    json_decref(root);
    return NULL;
}

char *
vtpm_facts_to_string(const vtpm_facts *facts)
{
    json_t *json = vtpm_facts_to_json(facts);
    char *text;

    if (!json)
        return NULL;
    text = json_dumps(json, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(json);
    return text;
}

/* Reads one decimal part of "a.b.c" at *@s, at most @max; advances *@s. */
static bool
facts_parse_part(const char **s, unsigned long max, unsigned long *out)
{
    char *end;

    if (**s < '0' || **s > '9')
        return false;
    errno = 0;
    *out = strtoul(*s, &end, 10);
    if (errno != 0 || *out > max)
        return false;
    *s = end;
    return true;
}

static int
facts_parse_version(const char *s, unsigned long *out)
{
    unsigned long major, minor, micro;

    if (strcmp(s, "unknown") == 0) {
        *out = 0;
        return 0;
    }
    if (!facts_parse_part(&s, 4000, &major) || *s++ != '.' ||
        !facts_parse_part(&s, 999, &minor) || *s++ != '.' ||
        !facts_parse_part(&s, 999, &micro) || *s != '\0')
        return -1;
    *out = major * 1000000 + minor * 1000 + micro;
    return 0;
}

static int
facts_field_from_json(vtpm_facts *facts, const field_desc *f, const json_t *v)
{
    char *base = (char *)facts + f->offset;

    switch (f->type) {
    case FIELD_STATUS:
        if (!json_is_string(v))
            return -1;
        for (size_t i = 0; i < VTPM_N_ELEMENTS(status_names); i++) {
            if (strcmp(status_names[i], json_string_value(v)) == 0) {
                *(vtpm_probe_status *)(void *)base = (vtpm_probe_status)i;
                return 0;
            }
        }
        return -1;
    case FIELD_BOOL:
        if (!json_is_boolean(v))
            return -1;
        *(bool *)base = json_is_true(v);
        return 0;
    case FIELD_STRING:
        if (!json_is_string(v) || json_string_length(v) >= f->size)
            return -1;
        memcpy(base, json_string_value(v), json_string_length(v) + 1);
        return 0;
    case FIELD_VERSION:
        if (!json_is_string(v))
            return -1;
        return facts_parse_version(json_string_value(v), (unsigned long *)(void *)base);
    case FIELD_LONG:
        if (!json_is_integer(v))
            return -1;
        *(long *)(void *)base = (long)json_integer_value(v);
        return 0;
    case FIELD_LIST: {
        size_t i, used = 0;
        json_t *item;

        if (!json_is_array(v))
            return -1;
        base[0] = '\0';
        json_array_foreach(v, i, item) {
            int n;

            if (!json_is_string(item))
                return -1;
            n = snprintf(base + used, f->size - used, "%s%s", used ? "," : "",
                         json_string_value(item));
            if (n < 0 || (size_t)n >= f->size - used)
                return -1;
            used += (size_t)n;
        }
        return 0;
    }
    case FIELD_BINARY: {
        vtpm_binary_facts *b = (vtpm_binary_facts *)(void *)base;
        json_t *found = json_object_get(v, "found");
        json_t *path = json_object_get(v, "path");

        if (!json_is_object(v) || !json_is_boolean(found) ||
            json_object_size(v) != (path ? 2u : 1u))
            return -1;
        if (json_is_null(path))
            path = NULL;
        if (path && (!json_is_string(path) || json_string_length(path) >= sizeof(b->path)))
            return -1;
        b->found = json_is_true(found);
        vtpm_strfmt(b->path, sizeof(b->path), "%s", path ? json_string_value(path) : "");
        return 0;
    }
    }
    return -1;
}

static const field_desc *
facts_field_find(const char *section, const char *name)
{
    for (size_t i = 0; i < VTPM_N_ELEMENTS(fields); i++)
        if (strcmp(fields[i].section, section) == 0 && strcmp(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

static bool
facts_is_section(const char *name)
{
    for (size_t s = 0; s < VTPM_N_ELEMENTS(sections); s++)
        if (strcmp(sections[s], name) == 0)
            return true;
    return false;
}

int
vtpm_facts_from_json(const json_t *json, vtpm_facts *facts, char *err, size_t errlen)
{
    const char *key, *name;
    json_t *value, *v;

    memset(facts, 0, sizeof(*facts));
    if (!json_is_object(json)) {
        vtpm_strfmt(err, errlen, "facts must be a JSON object");
        return -1;
    }
    json_object_foreach((json_t *)json, key, value) {
        const field_desc *f;

        if (facts_is_section(key)) {
            if (!json_is_object(value)) {
                vtpm_strfmt(err, errlen, "facts member '%s' must be an object", key);
                return -1;
            }
            json_object_foreach(value, name, v) {
                f = facts_field_find(key, name);
                if (!f) {
                    vtpm_strfmt(err, errlen, "unknown facts member '%s.%s'", key, name);
                    return -1;
                }
                if (facts_field_from_json(facts, f, v) < 0) {
                    vtpm_strfmt(err, errlen, "bad value for facts member '%s.%s'", key, name);
                    return -1;
                }
            }
            continue;
        }
        f = facts_field_find("", key);
        if (!f) {
            vtpm_strfmt(err, errlen, "unknown facts member '%s'", key);
            return -1;
        }
        if (facts_field_from_json(facts, f, value) < 0) {
            vtpm_strfmt(err, errlen, "bad value for facts member '%s'", key);
            return -1;
        }
    }
    return 0;
}

json_t *
vtpm_report_traits_to_json(const vtpm_report *report)
{
    json_t *traits = json_object();

    for (int t = 0; traits && t < VTPM_TRAIT_COUNT; t++) {
        const vtpm_trait_decision *d = &report->traits[t];
        json_t *entry = json_pack("{s:b,s:s,s:o}", "present",
                                  d->state == VTPM_TRAIT_STATE_PRESENT, "reason_code",
                                  d->reason_code ? d->reason_code : "",
                                  "reason", facts_string_lossy(d->reason));

        if (!entry || json_object_set_new(traits, vtpm_trait_name((vtpm_trait)t), entry) < 0) {
            json_decref(traits);
            return NULL;
        }
    }
    return traits;
}

json_t *
vtpm_report_to_json(const vtpm_facts *facts, const vtpm_report *report,
                    const vtpm_warnings *warnings)
{
    json_t *doc, *traits, *warn, *facts_json;

    facts_json = vtpm_facts_to_json(facts);
    traits = vtpm_report_traits_to_json(report);
    warn = json_array();
    doc = json_object();
    if (!facts_json || !traits || !warn || !doc)
        goto fail;
    for (size_t i = 0; warnings && i < warnings->count; i++)
        if (json_array_append_new(warn, facts_string_lossy(warnings->text[i])) < 0)
            goto fail;
    if (json_object_set_new(doc, "format", json_integer(VTPM_PROBE_JSON_FORMAT)) < 0 ||
        json_object_set_new(doc, "host", facts_string_lossy(report->host)) < 0 ||
        json_object_set_new(doc, "provider_uuid",
                            report->provider_uuid[0] ? json_string(report->provider_uuid)
                                                     : json_null()) < 0 ||
        json_object_set_new(doc, "inconclusive", json_boolean(report->inconclusive)) < 0 ||
        json_object_set_new(doc, "inconclusive_reason",
                            report->inconclusive ? facts_string_lossy(report->inconclusive_reason)
                                                 : json_null()) < 0)
        goto fail;
    if (json_object_set_new(doc, "traits", traits) < 0) {
        traits = NULL;
        goto fail;
    }
    traits = NULL;
    if (json_object_set_new(doc, "warnings", warn) < 0) {
        warn = NULL;
        goto fail;
    }
    warn = NULL;
    if (json_object_set_new(doc, "facts", facts_json) < 0) {
        facts_json = NULL;
        goto fail;
    }
    return doc;

fail:
    json_decref(facts_json);
    json_decref(traits);
    json_decref(warn);
    json_decref(doc);
    return NULL;
}
