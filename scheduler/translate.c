/* SPDX-License-Identifier: Apache-2.0 */
/* Request translation: Nova's vTPM rules, in Nova's order, onto trait bits. */
#include <string.h>

#include "filter-priv.h"
#include "util.h"

/* Room for one quoted value in a message. */
#define QUOTED_MAX VTPM_RESULT_VALUE_MAX

static const char *const source_words[VTPM_SOURCE_LAST] = {
    [VTPM_SOURCE_FLAVOR] = "flavor extra spec",
    [VTPM_SOURCE_IMAGE] = "image property",
};

typedef struct {
    const vtpm_slot *slot; /* NULL: not requested */
    vtpm_source source;    /* where the value came from */
} pick;

/* Set and not empty: Nova treats "" as not set. */
static bool
slot_given(const vtpm_slot *slot)
{
    return slot->set && slot->len != 0;
}

/* Keeps (a prefix of) the value of @slot, or "", for a pending message. */
static void
pending_keep(vtpm_result *res, int i, const vtpm_request *req,
             vtpm_source source, const vtpm_slot *slot)
{
    size_t len = 0;

    res->pending_source[i] = source;
    if (slot) {
        len = slot->len < VTPM_RESULT_VALUE_MAX ? slot->len : VTPM_RESULT_VALUE_MAX;
        memcpy(res->pending_value[i], req->arena + slot->off, len);
    }
    res->pending_value[i][len] = '\0';
}

/*
 * Rejects @res (cleared by the translation already) with @code. Its message
 * is written on demand by vtpm_translate_message_format() from @key and the
 * values of @a and @b (either may be NULL), which are copied: the request
 * may be reset before the message is read.
 */
static void
reject_pending(vtpm_result *res, vtpm_code code, vtpm_key key,
               const vtpm_request *req, vtpm_source sa, const vtpm_slot *a,
               vtpm_source sb, const vtpm_slot *b)
{
    res->accepted = false;
    res->code = code;
    res->message_pending = true;
    res->pending_key = key;
    pending_keep(res, 0, req, sa, a);
    pending_keep(res, 1, req, sb, b);
}

void
vtpm_translate_message_format(vtpm_result *res)
{
    char q1[QUOTED_MAX], q2[QUOTED_MAX];
    const char *v0 = res->pending_value[0], *v1 = res->pending_value[1];
    vtpm_source s0 = res->pending_source[0], s1 = res->pending_source[1];
    char *msg = res->message;
    size_t size = sizeof(res->message);

    res->message_pending = false;
    switch (res->code) {
    case VTPM_CODE_FLAVOR_IMAGE_CONFLICT:
        vtpm_strfmt(msg, size,
                    "flavor extra spec %s=%s conflicts with image property %s=%s",
                    vtpm_key_name(VTPM_SOURCE_FLAVOR, res->pending_key),
                    vtpm_quote(q1, sizeof(q1), v0),
                    vtpm_key_name(VTPM_SOURCE_IMAGE, res->pending_key),
                    vtpm_quote(q2, sizeof(q2), v1));
        break;
    case VTPM_CODE_INVALID_VERSION:
        vtpm_strfmt(msg, size,
                    "invalid TPM version %s in %s %s: expected '1.2' or '2.0'",
                    vtpm_quote(q1, sizeof(q1), v0), source_words[s0],
                    vtpm_key_name(s0, VTPM_KEY_VERSION));
        break;
    case VTPM_CODE_INVALID_MODEL:
        vtpm_strfmt(msg, size,
                    "invalid TPM model %s in %s %s: expected 'tpm-tis' or "
                    "'tpm-crb'",
                    vtpm_quote(q1, sizeof(q1), v0), source_words[s0],
                    vtpm_key_name(s0, VTPM_KEY_MODEL));
        break;
    case VTPM_CODE_CRB_REQUIRES_2_0:
        vtpm_strfmt(msg, size,
                    "TPM model 'tpm-crb' (%s %s) requires TPM version '2.0', "
                    "but %s %s=%s",
                    source_words[s0], vtpm_key_name(s0, VTPM_KEY_MODEL),
                    source_words[s1], vtpm_key_name(s1, VTPM_KEY_VERSION),
                    vtpm_quote(q2, sizeof(q2), v1));
        break;
    case VTPM_CODE_INVALID_SECRET_SECURITY:
        vtpm_strfmt(msg, size,
                    "invalid TPM secret security %s in flavor extra spec "
                    "hw:tpm_secret_security: expected 'user', 'host' or "
                    "'deployment'",
                    vtpm_quote(q1, sizeof(q1), v0));
        break;
    default:
        msg[0] = '\0';
        break;
    }
}

/*
 * Nova's _get_unique_flavor_image_meta: a value given (non-empty) in both
 * the flavor and the image must be the same; the flavor's wins otherwise.
 * Returns false on a conflict, after rejecting @res. Values were parsed when
 * set: two valid values are the same string exactly when their enums are
 * equal, and a valid value never equals an invalid one, so only two invalid
 * values need a string comparison.
 */
static inline bool
pick_value(const vtpm_request *req, vtpm_key key, pick *out, vtpm_result *res)
{
    const vtpm_slot *fs = &req->slots[VTPM_SOURCE_FLAVOR][key];
    /* No image property for secret security: that slot is never set. */
    const vtpm_slot *is = &req->slots[VTPM_SOURCE_IMAGE][key];
    bool fgiven = slot_given(fs), igiven = slot_given(is);

    if (fgiven && igiven &&
        (fs->parsed != is->parsed ||
         (fs->parsed == 0 &&
          strcmp(req->arena + fs->off, req->arena + is->off) != 0))) {
        reject_pending(res, VTPM_CODE_FLAVOR_IMAGE_CONFLICT, key, req,
                       VTPM_SOURCE_FLAVOR, fs, VTPM_SOURCE_IMAGE, is);
        return false;
    }
    out->slot = fgiven ? fs : igiven ? is : NULL;
    out->source = fgiven ? VTPM_SOURCE_FLAVOR : VTPM_SOURCE_IMAGE;
    return true;
}

static const vtpm_trait version_traits[] = {
    [VTPM_VERSION_1_2] = VTPM_TRAIT_TPM_1_2,
    [VTPM_VERSION_2_0] = VTPM_TRAIT_TPM_2_0,
};
static const vtpm_trait model_traits[] = {
    [VTPM_MODEL_TIS] = VTPM_TRAIT_TPM_TIS,
    [VTPM_MODEL_CRB] = VTPM_TRAIT_TPM_CRB,
};
static const vtpm_trait secret_security_traits[] = {
    [VTPM_SECRET_SECURITY_USER] = VTPM_TRAIT_SECRET_SECURITY_USER,
    [VTPM_SECRET_SECURITY_HOST] = VTPM_TRAIT_SECRET_SECURITY_HOST,
    [VTPM_SECRET_SECURITY_DEPLOYMENT] = VTPM_TRAIT_SECRET_SECURITY_DEPLOYMENT,
};

/*
 * Strict mode: refuse what Nova would silently ignore in a request it
 * accepts. Runs after Nova's own rules, so a request Nova rejects is rejected
 * with the same code in both modes. Returns false after rejecting @res.
 */
static bool
strict_check(const vtpm_filter *filter, const vtpm_request *req,
             bool has_version, vtpm_result *res)
{
    char q[QUOTED_MAX];

    if (!has_version) {
        vtpm_source s;

        for (s = VTPM_SOURCE_FLAVOR; s < VTPM_SOURCE_LAST; s++) {
            const char *model = vtpm_request_value(req, s, VTPM_KEY_MODEL);

            if (model) {
                vtpm_result_reject(res, VTPM_CODE_MODEL_WITHOUT_VERSION,
                                   "%s %s=%s is set but no TPM version is "
                                   "requested, so no vTPM would be created",
                                   source_words[s],
                                   vtpm_key_name(s, VTPM_KEY_MODEL),
                                   vtpm_quote(q, sizeof(q), model));
                return false;
            }
        }
        if (filter->profile == VTPM_PROFILE_CURRENT) {
            const char *ss = vtpm_request_value(req, VTPM_SOURCE_FLAVOR,
                                                VTPM_KEY_SECRET_SECURITY);

            if (ss) {
                vtpm_result_reject(res, VTPM_CODE_SECRET_SECURITY_WITHOUT_VERSION,
                                   "flavor extra spec hw:tpm_secret_security=%s "
                                   "is set but no TPM version is requested, so "
                                   "no vTPM would be created",
                                   vtpm_quote(q, sizeof(q), ss));
                return false;
            }
        }
    }
    if (req->n_unknown > 0) {
        vtpm_result_reject(res, VTPM_CODE_UNKNOWN_KEY,
                           "unknown TPM key %s in %s%s",
                           vtpm_quote(q, sizeof(q), req->arena + req->unknown_key.off),
                           req->unknown_source == VTPM_SOURCE_FLAVOR
                               ? "flavor extra specs" : "image properties",
                           req->n_unknown > 1 ? " (and others)" : "");
        return false;
    }
    return true;
}

vtpm_status
vtpm_filter_translate(const vtpm_filter *filter, const vtpm_request *req,
                      vtpm_result *res)
{
    pick version_pick, model_pick;
    vtpm_version version;
    vtpm_model model = VTPM_MODEL_TIS;
    vtpm_secret_security ss = VTPM_SECRET_SECURITY_NONE;
    bool strict;

    if (!filter || !req || !res)
        return VTPM_ERR_INVALID_ARG;
    strict = filter->flags & VTPM_FILTER_STRICT;
    vtpm_result_clear(res);

    /* 1. Version: conflict before validity. */
    if (!pick_value(req, VTPM_KEY_VERSION, &version_pick, res))
        return VTPM_OK;

    /* 2. No version: no vTPM, and nothing else about TPM matters to Nova. */
    if (!version_pick.slot) {
        if (strict)
            (void)strict_check(filter, req, false, res);
        return VTPM_OK;
    }

    /* 3. Exactly "1.2" or "2.0": case and whitespace matter. */
    version = (vtpm_version)version_pick.slot->parsed;
    if (version == VTPM_VERSION_NONE) {
        reject_pending(res, VTPM_CODE_INVALID_VERSION, VTPM_KEY_VERSION, req,
                       version_pick.source, version_pick.slot,
                       VTPM_SOURCE_FLAVOR, NULL);
        return VTPM_OK;
    }

    /* 4. Model: conflict, default, validity, compatibility. */
    if (!pick_value(req, VTPM_KEY_MODEL, &model_pick, res))
        return VTPM_OK;
    if (model_pick.slot) {
        model = (vtpm_model)model_pick.slot->parsed;
        if (model == VTPM_MODEL_NONE) {
            reject_pending(res, VTPM_CODE_INVALID_MODEL, VTPM_KEY_MODEL, req,
                           model_pick.source, model_pick.slot,
                           VTPM_SOURCE_FLAVOR, NULL);
            return VTPM_OK;
        }
        if (model == VTPM_MODEL_CRB && version != VTPM_VERSION_2_0) {
            reject_pending(res, VTPM_CODE_CRB_REQUIRES_2_0, VTPM_KEY_MODEL, req,
                           model_pick.source, NULL,
                           version_pick.source, version_pick.slot);
            return VTPM_OK;
        }
    }

    /* 5. Secret security: flavor only, and unknown to the legacy profile. */
    if (filter->profile == VTPM_PROFILE_CURRENT) {
        const vtpm_slot *slot =
            &req->slots[VTPM_SOURCE_FLAVOR][VTPM_KEY_SECRET_SECURITY];

        ss = VTPM_SECRET_SECURITY_USER;
        if (slot_given(slot)) {
            ss = (vtpm_secret_security)slot->parsed;
            if (ss == VTPM_SECRET_SECURITY_NONE) {
                reject_pending(res, VTPM_CODE_INVALID_SECRET_SECURITY,
                               VTPM_KEY_SECRET_SECURITY, req,
                               VTPM_SOURCE_FLAVOR, slot, VTPM_SOURCE_FLAVOR, NULL);
                return VTPM_OK;
            }
        }
    }

    if (strict && !strict_check(filter, req, true, res))
        return VTPM_OK;

    /* 6. Required traits. */
    res->version = version;
    res->model = model;
    res->secret_security = ss;
    res->required = VTPM_TRAITSET_BIT(version_traits[version]);
    if (filter->profile == VTPM_PROFILE_CURRENT) {
        res->required |= VTPM_TRAITSET_BIT(model_traits[model]);
        res->required |= VTPM_TRAITSET_BIT(secret_security_traits[ss]);
    }
    return VTPM_OK;
}

bool
vtpm_host_check(vtpm_traitset required, vtpm_traitset host_traits,
                vtpm_traitset *missing)
{
    return vtpm_host_passes(required, host_traits, missing);
}

size_t
vtpm_hosts_filter(vtpm_traitset required, const vtpm_traitset *hosts,
                  size_t n, size_t *passing)
{
    size_t i, count = 0;

    if (!hosts || !passing)
        return 0;
    /* Branch-free: always store, advance only on a pass. */
    for (i = 0; i < n; i++) {
        passing[count] = i;
        count += (required & ~hosts[i]) == 0;
    }
    return count;
}
