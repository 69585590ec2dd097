/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm_request: the TPM keys of a flavor and an image, kept in a reusable arena. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filter-priv.h"
#include "util.h"

static const char *const key_names[VTPM_SOURCE_LAST][VTPM_KEY_LAST] = {
    [VTPM_SOURCE_FLAVOR] = {
        [VTPM_KEY_VERSION] = "hw:tpm_version",
        [VTPM_KEY_MODEL] = "hw:tpm_model",
        [VTPM_KEY_SECRET_SECURITY] = "hw:tpm_secret_security",
    },
    [VTPM_SOURCE_IMAGE] = {
        [VTPM_KEY_VERSION] = "hw_tpm_version",
        [VTPM_KEY_MODEL] = "hw_tpm_model",
        /* Nova has no image property for secret security. */
        [VTPM_KEY_SECRET_SECURITY] = NULL,
    },
};

static const char *const key_prefixes[VTPM_SOURCE_LAST] = {
    [VTPM_SOURCE_FLAVOR] = "hw:tpm_",
    [VTPM_SOURCE_IMAGE] = "hw_tpm_",
};

#define KEY_PREFIX_LEN 7 /* both prefixes have the same length */

/* The slot state of an invalid value of each key (filter-priv.h). */
static const uint8_t invalid_states[VTPM_KEY_LAST] = {
    [VTPM_KEY_VERSION] = VTPM_SLOT_INVALID,
    [VTPM_KEY_MODEL] = VTPM_SLOT_INVALID,
    [VTPM_KEY_SECRET_SECURITY] = VTPM_SECRET_SECURITY_STATES - 1,
};

const char *
vtpm_key_name(vtpm_source source, vtpm_key key)
{
    if ((unsigned int)source >= VTPM_SOURCE_LAST ||
        (unsigned int)key >= VTPM_KEY_LAST)
        return NULL;
    return key_names[source][key];
}

vtpm_request *
vtpm_request_new(void)
{
    return calloc(1, sizeof(vtpm_request));
}

void
vtpm_request_free(vtpm_request *req)
{
    if (!req)
        return;
    free(req->arena);
    free(req);
}

void
vtpm_request_reset(vtpm_request *req)
{
    if (!req)
        return;
    req->used = 0;
    memset(req->slots, 0, sizeof(req->slots));
    memset(&req->unknown_key, 0, sizeof(req->unknown_key));
    req->unknown_source = VTPM_SOURCE_FLAVOR;
    req->n_unknown = 0;
}

/*
 * The value of @key as its enum, parsed once when it is set so that
 * translation compares numbers: exact matches only (case and whitespace
 * matter, as in Nova); 0 for anything else.
 */
static int
value_parse(vtpm_key key, const char *s, size_t len)
{
    switch (key) {
    case VTPM_KEY_VERSION:
        if (len == 3 && memcmp(s, "2.0", 3) == 0)
            return VTPM_VERSION_2_0;
        if (len == 3 && memcmp(s, "1.2", 3) == 0)
            return VTPM_VERSION_1_2;
        break;
    case VTPM_KEY_MODEL:
        if (len == 7 && memcmp(s, "tpm-tis", 7) == 0)
            return VTPM_MODEL_TIS;
        if (len == 7 && memcmp(s, "tpm-crb", 7) == 0)
            return VTPM_MODEL_CRB;
        break;
    case VTPM_KEY_SECRET_SECURITY:
        if (len == 4 && memcmp(s, "user", 4) == 0)
            return VTPM_SECRET_SECURITY_USER;
        if (len == 4 && memcmp(s, "host", 4) == 0)
            return VTPM_SECRET_SECURITY_HOST;
        if (len == 10 && memcmp(s, "deployment", 10) == 0)
            return VTPM_SECRET_SECURITY_DEPLOYMENT;
        break;
    case VTPM_KEY_LAST:
        break;
    }
    return 0;
}

/* Copies @len bytes of @s plus a NUL into the arena; fills @slot. */
static vtpm_status
request_store(vtpm_request *req, const char *s, size_t len, vtpm_slot *slot)
{
    size_t need;

    if (len > SIZE_MAX / 2 - req->used - 1)
        return VTPM_ERR_NO_MEMORY;
    need = req->used + len + 1;
    if (need > req->cap) {
        size_t cap = req->cap ? req->cap : 128;
        char *arena;

        while (cap < need)
            cap *= 2;
        arena = realloc(req->arena, cap);
        if (!arena)
            return VTPM_ERR_NO_MEMORY;
        req->arena = arena;
        req->cap = cap;
    }
    memcpy(req->arena + req->used, s, len);
    req->arena[req->used + len] = '\0';
    slot->set = true;
    slot->state = 0;
    slot->parsed = 0;
    slot->off = req->used;
    slot->len = len;
    req->used = need;
    return VTPM_OK;
}

static vtpm_status
request_set(vtpm_request *req, vtpm_source source, const char *key,
            const char *value)
{
    const char *prefix = key_prefixes[source];
    size_t k;

    if (!req || !key)
        return VTPM_ERR_INVALID_ARG;
    /* The common case by far: not a TPM key at all. */
    if (strncmp(key, prefix, KEY_PREFIX_LEN) != 0)
        return VTPM_OK;

    for (k = 0; k < VTPM_KEY_LAST; k++) {
        const char *name = key_names[source][k];

        if (name && strcmp(key + KEY_PREFIX_LEN, name + KEY_PREFIX_LEN) == 0) {
            vtpm_slot *slot = &req->slots[source][k];

            size_t len;
            vtpm_status st;

            if (!value) {
                slot->set = false;
                slot->state = 0;
                return VTPM_OK;
            }
            len = strlen(value);
            st = request_store(req, value, len, slot);
            if (st == VTPM_OK) {
                slot->parsed = value_parse((vtpm_key)k, value, len);
                slot->state = (uint8_t)(len == 0 ? 0
                                        : slot->parsed ? slot->parsed
                                        : invalid_states[k]);
            }
            return st;
        }
    }

    /* An unknown TPM key: only strict mode cares, and only about one. A NULL
     * value means "not set", so there is no key to complain about. */
    if (!value)
        return VTPM_OK;
    if (req->n_unknown == 0) {
        vtpm_status st = request_store(req, key, strlen(key), &req->unknown_key);

        if (st != VTPM_OK)
            return st;
        req->unknown_source = source;
    }
    req->n_unknown++;
    return VTPM_OK;
}

vtpm_status
vtpm_request_set_flavor_spec(vtpm_request *req, const char *key,
                             const char *value)
{
    return request_set(req, VTPM_SOURCE_FLAVOR, key, value);
}

vtpm_status
vtpm_request_set_image_property(vtpm_request *req, const char *key,
                                const char *value)
{
    return request_set(req, VTPM_SOURCE_IMAGE, key, value);
}

const char *
vtpm_request_value(const vtpm_request *req, vtpm_source source, vtpm_key key)
{
    const vtpm_slot *slot = &req->slots[source][key];

    if (!slot->set || slot->len == 0)
        return NULL;
    return req->arena + slot->off;
}
