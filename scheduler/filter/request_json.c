/* SPDX-License-Identifier: Apache-2.0 */
/* Reads a request from its JSON form ({"flavor":{...},"image":{...}}) with jansson. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "filter-priv.h"
#include "request_json-priv.h"
#include "util.h"

typedef vtpm_status (*request_setter)(vtpm_request *, const char *, const char *);

/* Copies the string members of @obj that are TPM keys into @req. */
static vtpm_status
request_load_keys(vtpm_request *req, json_t *obj, const char *what,
                  const char *prefix, request_setter set, vtpm_error *err)
{
    const char *key;
    json_t *value;

    if (!obj || json_is_null(obj))
        return VTPM_OK;
    if (!json_is_object(obj)) {
        vtpm_error_set(err, VTPM_ERR_BAD_INPUT, 0, 0,
                       "'%s' must be an object", what);
        return VTPM_ERR_BAD_INPUT;
    }
    json_object_foreach(obj, key, value) {
        vtpm_status st;

        /* Values of other keys are not ours to judge (images carry numbers). */
        if (strncmp(key, prefix, strlen(prefix)) != 0)
            continue;
        if (json_is_null(value)) {
            st = set(req, key, NULL);
        } else if (json_is_string(value)) {
            st = set(req, key, json_string_value(value));
        } else {
            char q[72];

            vtpm_error_set(err, VTPM_ERR_BAD_INPUT, 0, 0,
                           "value of %s in '%s' must be a string",
                           vtpm_quote(q, sizeof(q), key), what);
            return VTPM_ERR_BAD_INPUT;
        }
        if (st != VTPM_OK) {
            vtpm_error_set(err, st, 0, 0, "cannot record %s: %s", what,
                           vtpm_status_name(st));
            return st;
        }
    }
    return VTPM_OK;
}

static vtpm_status
request_load_part(json_t *doc, const char *part, const char *member,
                  json_t **out, vtpm_error *err)
{
    json_t *obj = json_object_get(doc, part);

    *out = NULL;
    if (!obj || json_is_null(obj))
        return VTPM_OK;
    if (!json_is_object(obj)) {
        vtpm_error_set(err, VTPM_ERR_BAD_INPUT, 0, 0,
                       "'%s' must be an object", part);
        return VTPM_ERR_BAD_INPUT;
    }
    *out = json_object_get(obj, member);
    return VTPM_OK;
}

static const char *const top_level_members[] = { "flavor", "image", "id" };

vtpm_status
vtpm_request_parse_json_value(vtpm_request *req, json_t *doc, vtpm_error *err)
{
    json_t *specs, *props, *value;
    const char *key;
    vtpm_status st;

    vtpm_request_reset(req);
    if (!json_is_object(doc)) {
        vtpm_error_set(err, VTPM_ERR_BAD_INPUT, 0, 0,
                       "a request must be a JSON object");
        return VTPM_ERR_BAD_INPUT;
    }
    /* A misspelt "flavour" would silently request nothing: refuse it. */
    json_object_foreach(doc, key, value) {
        size_t i;
        bool known = false;

        for (i = 0; i < VTPM_N_ELEMENTS(top_level_members); i++)
            known = known || strcmp(key, top_level_members[i]) == 0;
        if (!known) {
            char q[72];

            vtpm_error_set(err, VTPM_ERR_BAD_INPUT, 0, 0,
                           "unknown member %s in request (expected 'flavor', "
                           "'image', 'id')", vtpm_quote(q, sizeof(q), key));
            return VTPM_ERR_BAD_INPUT;
        }
    }
    if ((st = request_load_part(doc, "flavor", "extra_specs", &specs, err)) != VTPM_OK ||
        (st = request_load_part(doc, "image", "properties", &props, err)) != VTPM_OK)
        return st;
    st = request_load_keys(req, specs, "flavor.extra_specs", "hw:tpm_",
                           vtpm_request_set_flavor_spec, err);
    if (st == VTPM_OK)
        st = request_load_keys(req, props, "image.properties", "hw_tpm_",
                               vtpm_request_set_image_property, err);
    if (st != VTPM_OK)
        vtpm_request_reset(req);
    return st;
}

/* The end of the JSON number at @p (as jansson's lexer reads it); sets
 * *@is_real when it has a fraction or an exponent. */
static const char *
number_end(const char *p, bool *is_real)
{
    *is_real = false;
    if (*p == '-')
        p++;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p == '.' || *p == 'e' || *p == 'E') {
        *is_real = true;
        if (*p == '.')
            p++;
        while (*p >= '0' && *p <= '9')
            p++;
        if (*p == 'e' || *p == 'E') {
            p++;
            if (*p == '+' || *p == '-')
                p++;
            while (*p >= '0' && *p <= '9')
                p++;
        }
    }
    return p;
}

/* True when jansson refuses the number [@p, @end) as out of range: an
 * integer beyond json_int_t or a real beyond double. */
static bool
number_overflows(char *p, char *end, bool is_real)
{
    char saved = *end, *stop;
    bool overflows;

    *end = '\0';
    errno = 0;
    if (is_real) {
        double d = strtod(p, &stop);

        overflows = errno == ERANGE && isinf(d);
    } else {
        (void)strtoll(p, &stop, 10);
        overflows = errno == ERANGE;
    }
    *end = saved;
    return overflows;
}

/* The end of the JSON string that starts at @p (its opening quote). */
static char *
string_end(char *p)
{
    for (p++; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1])
            p++;
    }
    return *p ? p + 1 : p;
}

/*
 * Writes 0 over each out-of-range number of @text (NUL-terminated), padded
 * with blanks so that every line and column stays where it was. Not in the
 * value of the top-level "id", which is copied into the output: there an
 * out-of-range number stays refused rather than becoming another id.
 */
static void
numbers_neutralise(char *text)
{
    char *p = text;
    int depth = 0;
    bool in_id = false;

    while (*p) {
        if (*p == '"') {
            char *end = string_end(p);

            /* At depth 1 every other string is a key; a value "id" is
             * followed by the next key, which clears the flag again. */
            if (depth == 1)
                in_id = end - p == 4 && strncmp(p, "\"id\"", 4) == 0;
            p = end;
        } else if (*p == '-' || (*p >= '0' && *p <= '9')) {
            bool is_real;
            char *end = (char *)number_end(p, &is_real);

            if (end > p && depth > 0 && !in_id && number_overflows(p, end, is_real)) {
                *p = '0';
                memset(p + 1, ' ', (size_t)(end - p - 1));
            }
            p = end > p ? end : p + 1;
        } else {
            if (*p == '{' || *p == '[')
                depth++;
            else if (*p == '}' || *p == ']')
                depth--;
            p++;
        }
    }
}

json_t *
vtpm_json_load(const char *text, size_t len, json_error_t *jerr)
{
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, jerr);
    char *copy;

    if (doc || json_error_code(jerr) != json_error_numeric_overflow)
        return doc;
    /* Valid JSON that jansson cannot hold: 1e400, 18446744073709551615 in
     * an image property. Their values are never used (only strings are),
     * so read them as 0: a number as a TPM key's value stays a type error,
     * and the top-level "id", whose value is copied, stays refused.
     * A NUL in @text ends the copy early, and jansson then reports it. */
    copy = malloc(len + 1);
    if (!copy) {
        memset(jerr, 0, sizeof(*jerr));
        return NULL;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    numbers_neutralise(copy);
    doc = json_loadb(copy, len, JSON_REJECT_DUPLICATES, jerr);
    free(copy);
    return doc;
}

vtpm_status
vtpm_request_parse_json(vtpm_request *req, const char *json, size_t len,
                        vtpm_error *err)
{
    json_error_t jerr;
    json_t *doc;
    vtpm_status st;
    char text[JSON_ERROR_TEXT_LENGTH * 4];

    if (!req || (!json && len > 0)) {
        vtpm_error_set(err, VTPM_ERR_INVALID_ARG, 0, 0, "invalid argument");
        return VTPM_ERR_INVALID_ARG;
    }
    vtpm_request_reset(req);
    if (len == 0) {
        vtpm_error_set(err, VTPM_ERR_BAD_INPUT, 1, 1, "empty input");
        return VTPM_ERR_BAD_INPUT;
    }
    memset(&jerr, 0, sizeof(jerr));
    doc = vtpm_json_load(json, len, &jerr);
    /* jansson reports some allocation failures (its lexer's buffer) with no
     * error at all, while every real parse error comes with a text. */
    if (!doc && (json_error_code(&jerr) == json_error_out_of_memory ||
                 jerr.text[0] == '\0')) {
        vtpm_error_set(err, VTPM_ERR_NO_MEMORY, 0, 0, "out of memory");
        return VTPM_ERR_NO_MEMORY;
    }
    if (!doc) {
        vtpm_error_set(err, VTPM_ERR_BAD_INPUT, jerr.line, jerr.column,
                       "invalid JSON at line %d, column %d: %s",
                       jerr.line, jerr.column,
                       vtpm_json_error_text(text, sizeof(text), jerr.text));
        return VTPM_ERR_BAD_INPUT;
    }
    st = vtpm_request_parse_json_value(req, doc, err);
    json_decref(doc);
    return st;
}
