/* SPDX-License-Identifier: Apache-2.0 */
/* One table per enum of the public API: values to names and back. */
#include <string.h>

#include "filter-priv.h"
#include "util.h"

#include "vtpm-config.h"

static const char *const status_names[] = {
    [VTPM_OK] = "ok",
    [VTPM_ERR_INVALID_ARG] = "invalid_argument",
    [VTPM_ERR_NO_MEMORY] = "no_memory",
    [VTPM_ERR_BAD_INPUT] = "bad_input",
    [VTPM_ERR_UNKNOWN_FLAGS] = "unknown_flags",
    [VTPM_ERR_DATABASE] = "database",
    [VTPM_ERR_UNREACHABLE] = "unreachable",
};

static const char *const version_names[] = {
    [VTPM_VERSION_NONE] = NULL,
    [VTPM_VERSION_1_2] = "1.2",
    [VTPM_VERSION_2_0] = "2.0",
};

static const char *const model_names[] = {
    [VTPM_MODEL_NONE] = NULL,
    [VTPM_MODEL_TIS] = "tpm-tis",
    [VTPM_MODEL_CRB] = "tpm-crb",
};

static const char *const secret_security_names[] = {
    [VTPM_SECRET_SECURITY_NONE] = NULL,
    [VTPM_SECRET_SECURITY_USER] = "user",
    [VTPM_SECRET_SECURITY_HOST] = "host",
    [VTPM_SECRET_SECURITY_DEPLOYMENT] = "deployment",
};

static const char *const code_names[VTPM_CODE_COUNT] = {
    [VTPM_CODE_NONE] = "none",
    [VTPM_CODE_FLAVOR_IMAGE_CONFLICT] = "flavor_image_conflict",
    [VTPM_CODE_INVALID_VERSION] = "invalid_version",
    [VTPM_CODE_INVALID_MODEL] = "invalid_model",
    [VTPM_CODE_CRB_REQUIRES_2_0] = "crb_requires_2_0",
    [VTPM_CODE_INVALID_SECRET_SECURITY] = "invalid_secret_security",
    [VTPM_CODE_MODEL_WITHOUT_VERSION] = "model_without_version",
    [VTPM_CODE_SECRET_SECURITY_WITHOUT_VERSION] = "secret_security_without_version",
    [VTPM_CODE_UNKNOWN_KEY] = "unknown_key",
    [VTPM_CODE_OPERATION_UNSUPPORTED] = "operation_unsupported",
    [VTPM_CODE_LIVE_MIGRATION_UNSUPPORTED] = "live_migration_unsupported",
    [VTPM_CODE_RESIZE_DEPLOYMENT] = "resize_secret_security_deployment",
    [VTPM_CODE_OWNER_ONLY] = "owner_only",
    [VTPM_CODE_UNKNOWN_OPERATION] = "unknown_operation",
};

static const char *const operation_names[VTPM_OP_COUNT] = {
    [VTPM_OP_OTHER] = "other",
    [VTPM_OP_REBUILD] = "rebuild",
    [VTPM_OP_SHELVE] = "shelve",
    [VTPM_OP_RESCUE] = "rescue",
    [VTPM_OP_EVACUATE] = "evacuate",
    [VTPM_OP_LIVE_MIGRATE] = "live-migrate",
    [VTPM_OP_RESIZE] = "resize",
    [VTPM_OP_COLD_MIGRATE] = "cold-migrate",
    [VTPM_OP_UNKNOWN] = "unknown",
};

/*
 * Nova's server actions that touch neither the TPM state nor its secret, so
 * the guard has no rule for them but the owner rule. A name not here and not
 * above is unknown and refused: a misspelt "rebiuld" must not pass as
 * harmless.
 */
static const char *const harmless_operations[] = {
    "start", "stop", "reboot", "pause", "unpause", "suspend", "resume",
    "lock", "unlock", "snapshot", "delete",
};

static const char *const profile_names[] = {
    [VTPM_PROFILE_CURRENT] = "current",
    [VTPM_PROFILE_LEGACY] = "legacy",
};

#define NAME_OF(table, v) \
    ((unsigned int)(v) < VTPM_N_ELEMENTS(table) ? (table)[v] : NULL)

const char *
vtpm_status_name(vtpm_status status)
{
    return NAME_OF(status_names, status);
}

const char *
vtpm_version_name(vtpm_version version)
{
    return NAME_OF(version_names, version);
}

const char *
vtpm_model_name(vtpm_model model)
{
    return NAME_OF(model_names, model);
}

const char *
vtpm_secret_security_name(vtpm_secret_security mode)
{
    return NAME_OF(secret_security_names, mode);
}

const char *
vtpm_code_name(vtpm_code code)
{
    return NAME_OF(code_names, code);
}

const char *
vtpm_operation_name(vtpm_operation op)
{
    return NAME_OF(operation_names, op);
}

vtpm_operation
vtpm_operation_from_name(const char *name)
{
    unsigned int i;

    if (!name)
        return VTPM_OP_UNKNOWN;
    for (i = VTPM_OP_OTHER + 1; i < VTPM_OP_UNKNOWN; i++) {
        if (strcmp(name, operation_names[i]) == 0)
            return (vtpm_operation)i;
    }
    for (i = 0; i < VTPM_N_ELEMENTS(harmless_operations); i++) {
        if (strcmp(name, harmless_operations[i]) == 0)
            return VTPM_OP_OTHER;
    }
    return VTPM_OP_UNKNOWN;
}

vtpm_status
vtpm_profile_from_name(const char *name, vtpm_profile *profile)
{
    unsigned int i;

    if (!name || !profile)
        return VTPM_ERR_INVALID_ARG;
    for (i = 0; i < VTPM_N_ELEMENTS(profile_names); i++) {
        if (strcmp(name, profile_names[i]) == 0) {
            *profile = (vtpm_profile)i;
            return VTPM_OK;
        }
    }
    return VTPM_ERR_INVALID_ARG;
}

const char *
vtpm_filter_version(void)
{
    return VTPM_VERSION;
}
