/* SPDX-License-Identifier: Apache-2.0 */
/* Reads a request from its JSON form ({"flavor":{...},"image":{...}}) with jansson. */
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
    doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
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
