/* SPDX-License-Identifier: Apache-2.0 */
/* Request translation: Nova's vTPM rules, in Nova's order, onto trait bits. */
#include <string.h>

#include "filter-priv.h"
#include "util.h"

/* Room for one quoted value in a message. */
#define QUOTED_MAX 72

static const char *const source_words[VTPM_SOURCE_LAST] = {
    [VTPM_SOURCE_FLAVOR] = "flavor extra spec",
    [VTPM_SOURCE_IMAGE] = "image property",
};

typedef struct {
    const char *value;  /* NULL: not requested */
    vtpm_source source; /* where value came from */
} pick;

/*
 * Nova's _get_unique_flavor_image_meta: a value given (non-empty) in both
 * the flavor and the image must be the same; the flavor's wins otherwise.
 * Returns false on a conflict, after rejecting @res.
 */
static bool
pick_value(const vtpm_request *req, vtpm_key key, pick *out, vtpm_result *res)
{
    const char *fv = vtpm_request_value(req, VTPM_SOURCE_FLAVOR, key);
    const char *iv = vtpm_key_name(VTPM_SOURCE_IMAGE, key)
        ? vtpm_request_value(req, VTPM_SOURCE_IMAGE, key) : NULL;

    if (fv && iv && strcmp(fv, iv) != 0) {
        char qf[QUOTED_MAX], qi[QUOTED_MAX];

        vtpm_result_reject(res, VTPM_CODE_FLAVOR_IMAGE_CONFLICT,
                           "flavor extra spec %s=%s conflicts with image "
                           "property %s=%s",
                           vtpm_key_name(VTPM_SOURCE_FLAVOR, key),
                           vtpm_quote(qf, sizeof(qf), fv),
                           vtpm_key_name(VTPM_SOURCE_IMAGE, key),
                           vtpm_quote(qi, sizeof(qi), iv));
        return false;
    }
    out->value = fv ? fv : iv;
    out->source = fv ? VTPM_SOURCE_FLAVOR : VTPM_SOURCE_IMAGE;
    return true;
}

static vtpm_version
version_parse(const char *s)
{
    if (strcmp(s, "2.0") == 0)
        return VTPM_VERSION_2_0;
    if (strcmp(s, "1.2") == 0)
        return VTPM_VERSION_1_2;
    return VTPM_VERSION_NONE;
}

static vtpm_model
model_parse(const char *s)
{
    if (strcmp(s, "tpm-tis") == 0)
        return VTPM_MODEL_TIS;
    if (strcmp(s, "tpm-crb") == 0)
        return VTPM_MODEL_CRB;
    return VTPM_MODEL_NONE;
}

static vtpm_secret_security
secret_security_parse(const char *s)
{
    if (strcmp(s, "user") == 0)
        return VTPM_SECRET_SECURITY_USER;
    if (strcmp(s, "host") == 0)
        return VTPM_SECRET_SECURITY_HOST;
    if (strcmp(s, "deployment") == 0)
        return VTPM_SECRET_SECURITY_DEPLOYMENT;
    return VTPM_SECRET_SECURITY_NONE;
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
    char q1[QUOTED_MAX], q2[QUOTED_MAX];
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
    if (!version_pick.value) {
        if (strict)
            (void)strict_check(filter, req, false, res);
        return VTPM_OK;
    }

    /* 3. Exactly "1.2" or "2.0": case and whitespace matter. */
    version = version_parse(version_pick.value);
    if (version == VTPM_VERSION_NONE) {
        vtpm_result_reject(res, VTPM_CODE_INVALID_VERSION,
                           "invalid TPM version %s in %s %s: expected '1.2' "
                           "or '2.0'",
                           vtpm_quote(q1, sizeof(q1), version_pick.value),
                           source_words[version_pick.source],
                           vtpm_key_name(version_pick.source, VTPM_KEY_VERSION));
        return VTPM_OK;
    }

    /* 4. Model: conflict, default, validity, compatibility. */
    if (!pick_value(req, VTPM_KEY_MODEL, &model_pick, res))
        return VTPM_OK;
    if (model_pick.value) {
        model = model_parse(model_pick.value);
        if (model == VTPM_MODEL_NONE) {
            vtpm_result_reject(res, VTPM_CODE_INVALID_MODEL,
                               "invalid TPM model %s in %s %s: expected "
                               "'tpm-tis' or 'tpm-crb'",
                               vtpm_quote(q1, sizeof(q1), model_pick.value),
                               source_words[model_pick.source],
                               vtpm_key_name(model_pick.source, VTPM_KEY_MODEL));
            return VTPM_OK;
        }
        if (model == VTPM_MODEL_CRB && version != VTPM_VERSION_2_0) {
            vtpm_result_reject(res, VTPM_CODE_CRB_REQUIRES_2_0,
                               "TPM model 'tpm-crb' (%s %s) requires TPM "
                               "version '2.0', but %s %s=%s",
                               source_words[model_pick.source],
                               vtpm_key_name(model_pick.source, VTPM_KEY_MODEL),
                               source_words[version_pick.source],
                               vtpm_key_name(version_pick.source, VTPM_KEY_VERSION),
                               vtpm_quote(q2, sizeof(q2), version_pick.value));
            return VTPM_OK;
        }
    }

    /* 5. Secret security: flavor only, and unknown to the legacy profile. */
    if (filter->profile == VTPM_PROFILE_CURRENT) {
        const char *v = vtpm_request_value(req, VTPM_SOURCE_FLAVOR,
                                           VTPM_KEY_SECRET_SECURITY);

        ss = VTPM_SECRET_SECURITY_USER;
        if (v) {
            ss = secret_security_parse(v);
            if (ss == VTPM_SECRET_SECURITY_NONE) {
                vtpm_result_reject(res, VTPM_CODE_INVALID_SECRET_SECURITY,
                                   "invalid TPM secret security %s in flavor "
                                   "extra spec hw:tpm_secret_security: expected "
                                   "'user', 'host' or 'deployment'",
                                   vtpm_quote(q1, sizeof(q1), v));
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
