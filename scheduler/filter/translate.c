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

void
vtpm_filter_translate_rules(const vtpm_filter *filter, const vtpm_request *req,
                            vtpm_result *res)
{
    pick version_pick, model_pick;
    vtpm_version version;
    vtpm_model model = VTPM_MODEL_TIS;
    vtpm_secret_security ss = VTPM_SECRET_SECURITY_NONE;
    bool strict = filter->flags & VTPM_FILTER_STRICT;

    vtpm_result_clear(res);

    /* 1. Version: conflict before validity. */
    if (!pick_value(req, VTPM_KEY_VERSION, &version_pick, res))
        return;

    /* 2. No version: no vTPM, and nothing else about TPM matters to Nova. */
    if (!version_pick.slot) {
        if (strict)
            (void)strict_check(filter, req, false, res);
        return;
    }

    /* 3. Exactly "1.2" or "2.0": case and whitespace matter. */
    version = (vtpm_version)version_pick.slot->parsed;
    if (version == VTPM_VERSION_NONE) {
        reject_pending(res, VTPM_CODE_INVALID_VERSION, VTPM_KEY_VERSION, req,
                       version_pick.source, version_pick.slot,
                       VTPM_SOURCE_FLAVOR, NULL);
        return;
    }

    /* 4. Model: conflict, default, validity, compatibility. */
    if (!pick_value(req, VTPM_KEY_MODEL, &model_pick, res))
        return;
    if (model_pick.slot) {
        model = (vtpm_model)model_pick.slot->parsed;
        if (model == VTPM_MODEL_NONE) {
            reject_pending(res, VTPM_CODE_INVALID_MODEL, VTPM_KEY_MODEL, req,
                           model_pick.source, model_pick.slot,
                           VTPM_SOURCE_FLAVOR, NULL);
            return;
        }
        if (model == VTPM_MODEL_CRB && version != VTPM_VERSION_2_0) {
            reject_pending(res, VTPM_CODE_CRB_REQUIRES_2_0, VTPM_KEY_MODEL, req,
                           model_pick.source, NULL,
                           version_pick.source, version_pick.slot);
            return;
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
                return;
            }
        }
    }

    if (strict && !strict_check(filter, req, true, res))
        return;

    /* 6. Required traits. */
    res->version = version;
    res->model = model;
    res->secret_security = ss;
    res->required = VTPM_TRAITSET_BIT(version_traits[version]);
    if (filter->profile == VTPM_PROFILE_CURRENT) {
        res->required |= VTPM_TRAITSET_BIT(model_traits[model]);
        res->required |= VTPM_TRAITSET_BIT(secret_security_traits[ss]);
    }
}

/* ------------------------------------------------------------------------ */
/* The outcome table: the rules above, run once per filter for every state. */

/* The joint state of @key's flavor and image slots, before two invalid
 * values are told apart by their strings. */
static inline unsigned int
pair_state(const vtpm_request *req, vtpm_key key)
{
    return req->slots[VTPM_SOURCE_FLAVOR][key].state * VTPM_SLOT_STATES +
           req->slots[VTPM_SOURCE_IMAGE][key].state;
}

#define PAIR_BOTH_INVALID (VTPM_SLOT_INVALID * VTPM_SLOT_STATES + VTPM_SLOT_INVALID)

/* Where @req's outcome is, given its version and model pair states. */
static inline size_t
outcome_index_of(const vtpm_request *req, unsigned int version, unsigned int model)
{
    size_t index = version;

    index = index * VTPM_PAIR_STATES + model;
    index = index * VTPM_SECRET_SECURITY_STATES +
            req->slots[VTPM_SOURCE_FLAVOR][VTPM_KEY_SECRET_SECURITY].state;
    return index * 2 + (req->n_unknown > 0);
}

/* Whether @key's flavor and image values are the same string. */
static bool
pair_same_string(const vtpm_request *req, vtpm_key key)
{
    return strcmp(req->arena + req->slots[VTPM_SOURCE_FLAVOR][key].off,
                  req->arena + req->slots[VTPM_SOURCE_IMAGE][key].off) == 0;
}

/*
 * Whether two values conflict is decided on the raw strings, so two invalid
 * values have a state of their own when they are the same string: "2,0" and
 * "2,0" agree (and are then refused as invalid) while "2,0" and "2.0 "
 * conflict. Rare, so out of line: the common case makes no call.
 */
static size_t __attribute__((noinline, cold))
outcome_index_compare(const vtpm_request *req, unsigned int version,
                      unsigned int model)
{
    if (version == PAIR_BOTH_INVALID && pair_same_string(req, VTPM_KEY_VERSION))
        version = VTPM_PAIR_SAME_INVALID;
    if (model == PAIR_BOTH_INVALID && pair_same_string(req, VTPM_KEY_MODEL))
        model = VTPM_PAIR_SAME_INVALID;
    return outcome_index_of(req, version, model);
}

/* Where @req's outcome is in a filter's table. */
static inline size_t
outcome_index(const vtpm_request *req)
{
    unsigned int version = pair_state(req, VTPM_KEY_VERSION);
    unsigned int model = pair_state(req, VTPM_KEY_MODEL);

    if (version == PAIR_BOTH_INVALID || model == PAIR_BOTH_INVALID)
        return outcome_index_compare(req, version, model);
    return outcome_index_of(req, version, model);
}

/* A value that puts a slot of @key in @state: the valid value's own name,
 * or an invalid string (@invalid, so that a pair can differ or agree). */
static const char *
sample_value(vtpm_key key, unsigned int state, const char *invalid)
{
    const char *name = NULL;

    if (state == 0)
        return NULL;
    switch (key) {
    case VTPM_KEY_VERSION:
        name = vtpm_version_name((vtpm_version)state);
        break;
    case VTPM_KEY_MODEL:
        name = vtpm_model_name((vtpm_model)state);
        break;
    case VTPM_KEY_SECRET_SECURITY:
        name = vtpm_secret_security_name((vtpm_secret_security)state);
        break;
    case VTPM_KEY_LAST:
        break;
    }
    return name ? name : invalid;
}

/* Sets @key's flavor and image values of @req to produce pair state @pair. */
static vtpm_status
sample_pair(vtpm_request *req, vtpm_key key, unsigned int pair)
{
    const char *fvalue, *ivalue;
    vtpm_status st;

    if (pair == VTPM_PAIR_SAME_INVALID) {
        fvalue = ivalue = "invalid";
    } else {
        fvalue = sample_value(key, pair / VTPM_SLOT_STATES, "invalid");
        ivalue = sample_value(key, pair % VTPM_SLOT_STATES, "also invalid");
    }
    st = vtpm_request_set_flavor_spec(req, vtpm_key_name(VTPM_SOURCE_FLAVOR, key),
                                      fvalue);
    if (st == VTPM_OK)
        st = vtpm_request_set_image_property(req, vtpm_key_name(VTPM_SOURCE_IMAGE, key),
                                             ivalue);
    return st;
}

/*
 * The table is built from sample requests made with the public setters and
 * decided by the rules themselves, so the rules and the value parsing exist
 * once; tests/scheduler/filter/test_outcomes.c checks that any request, whatever its
 * strings, gets the same decision from the table as from the rules.
 */
vtpm_status
vtpm_filter_outcomes_build(vtpm_filter *filter)
{
    vtpm_request *req = vtpm_request_new();
    vtpm_result res;
    unsigned int v, m, ss, unknown;
    vtpm_status st = VTPM_OK;

    if (!req)
        return VTPM_ERR_NO_MEMORY;
    for (v = 0; v < VTPM_PAIR_STATES && st == VTPM_OK; v++)
        for (m = 0; m < VTPM_PAIR_STATES && st == VTPM_OK; m++)
            for (ss = 0; ss < VTPM_SECRET_SECURITY_STATES && st == VTPM_OK; ss++)
                for (unknown = 0; unknown < 2 && st == VTPM_OK; unknown++) {
                    vtpm_outcome *o;

                    vtpm_request_reset(req);
                    st = sample_pair(req, VTPM_KEY_VERSION, v);
                    if (st == VTPM_OK)
                        st = sample_pair(req, VTPM_KEY_MODEL, m);
                    if (st == VTPM_OK)
                        st = vtpm_request_set_flavor_spec(
                            req, vtpm_key_name(VTPM_SOURCE_FLAVOR, VTPM_KEY_SECRET_SECURITY),
                            sample_value(VTPM_KEY_SECRET_SECURITY, ss, "invalid"));
                    if (st == VTPM_OK && unknown)
                        st = vtpm_request_set_flavor_spec(req, "hw:tpm_sample", "1");
                    if (st != VTPM_OK)
                        break;
                    vtpm_filter_translate_rules(filter, req, &res);
                    o = &filter->outcomes[outcome_index(req)];
                    o->code = (uint8_t)res.code;
                    o->version = (uint8_t)res.version;
                    o->model = (uint8_t)res.model;
                    o->secret_security = (uint8_t)res.secret_security;
                    o->required = (uint8_t)res.required;
                }
    vtpm_request_free(req);
    return st;
}

_Static_assert(VTPM_TRAIT_COUNT <= 8, "vtpm_outcome.required holds 8 traits");
_Static_assert(VTPM_CODE_COUNT <= 256, "vtpm_outcome.code is a byte");

vtpm_status
vtpm_filter_translate(const vtpm_filter *filter, const vtpm_request *req,
                      vtpm_result *res)
{
    const vtpm_outcome *o;

    if (!filter || !req || !res)
        return VTPM_ERR_INVALID_ARG;
    o = &filter->outcomes[outcome_index(req)];
    if (o->code != VTPM_CODE_NONE) {
        /* A rejection's message needs the values themselves, which the
         * table does not hold: the rules keep them for it. */
        vtpm_filter_translate_rules(filter, req, res);
        return VTPM_OK;
    }
    vtpm_result_clear(res);
    res->version = (vtpm_version)o->version;
    res->model = (vtpm_model)o->model;
    res->secret_security = (vtpm_secret_security)o->secret_security;
    res->required = o->required;
    return VTPM_OK;
}

/* Gives outcome @index of @filter as vtpm_filter_required_traits does. */
static inline bool
outcome_report(const vtpm_filter *filter, size_t index,
               vtpm_traitset *required, vtpm_code *code)
{
    const vtpm_outcome *o = &filter->outcomes[index];

    if (required)
        *required = o->required;
    if (code)
        *code = (vtpm_code)o->code;
    return o->code == VTPM_CODE_NONE;
}

static bool __attribute__((noinline, cold))
required_traits_compare(const vtpm_filter *filter, const vtpm_request *req,
                        unsigned int version, unsigned int model,
                        vtpm_traitset *required, vtpm_code *code)
{
    return outcome_report(filter, outcome_index_compare(req, version, model),
                          required, code);
}

bool
vtpm_filter_required_traits(const vtpm_filter *filter, const vtpm_request *req,
                            vtpm_traitset *required, vtpm_code *code)
{
    unsigned int version, model;

    if (!filter || !req) {
        if (required)
            *required = 0;
        if (code)
            *code = VTPM_CODE_NONE;
        return false;
    }
    /* outcome_index(), with the rare string comparison as a tail call: a
     * call in the middle would make every request save registers for it. */
    version = pair_state(req, VTPM_KEY_VERSION);
    model = pair_state(req, VTPM_KEY_MODEL);
    if (version == PAIR_BOTH_INVALID || model == PAIR_BOTH_INVALID)
        return required_traits_compare(filter, req, version, model, required, code);
    return outcome_report(filter, outcome_index_of(req, version, model),
                          required, code);
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
