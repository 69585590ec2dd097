/* SPDX-License-Identifier: Apache-2.0 */
/* The operation guard: what may be done to a server that has a vTPM, and by whom. */
#include <string.h>

#include "filter-priv.h"
#include "util.h"

/*
 * The secret security that governs the server. Before Nova knew secret
 * security (the legacy profile), the TPM secret always belonged to the user
 * who created the server, which is the "user" mode.
 */
static vtpm_secret_security
guard_mode(const vtpm_filter *filter, const vtpm_result *res)
{
    if (filter->profile == VTPM_PROFILE_LEGACY)
        return VTPM_SECRET_SECURITY_USER;
    return res->secret_security;
}

static bool
requester_may_override(const vtpm_filter *filter, const vtpm_guard_request *greq)
{
    size_t i, j;

    if (!greq->roles)
        return false;
    for (i = 0; i < greq->n_roles; i++) {
        if (!greq->roles[i])
            continue;
        for (j = 0; j < filter->n_override_roles; j++) {
            if (strcmp(greq->roles[i], filter->override_roles[j]) == 0)
                return true;
        }
    }
    return false;
}

/* resize: the new flavor must translate, and 'deployment' secret security
 * cannot be changed to or from another mode. Rejects @res when not. */
static vtpm_status
guard_resize(const vtpm_filter *filter, const vtpm_guard_request *greq,
             vtpm_secret_security mode, vtpm_result *res)
{
    vtpm_result target;
    vtpm_secret_security new_mode;
    vtpm_status st;
    char q1[72], q2[72];

    st = vtpm_filter_translate(filter, greq->new_flavor, &target);
    if (st != VTPM_OK)
        return st;
    if (!target.accepted) {
        /* Same code as a translation; the message says which request. */
        vtpm_result_reject(res, target.code, "resize to the new flavor: %s",
                           vtpm_result_message(&target));
        return VTPM_OK;
    }
    if (target.version == VTPM_VERSION_NONE)
        return VTPM_OK;
    new_mode = guard_mode(filter, &target);
    if (new_mode != mode && (mode == VTPM_SECRET_SECURITY_DEPLOYMENT ||
                             new_mode == VTPM_SECRET_SECURITY_DEPLOYMENT))
        vtpm_result_reject(res, VTPM_CODE_RESIZE_DEPLOYMENT,
                           "resize from TPM secret security %s to %s is "
                           "not supported: 'deployment' cannot be changed "
                           "to or from another mode",
                           vtpm_quote(q1, sizeof(q1), vtpm_secret_security_name(mode)),
                           vtpm_quote(q2, sizeof(q2), vtpm_secret_security_name(new_mode)));
    return VTPM_OK;
}

/* 'user' secret security: only the owner, or a holder of an override role,
 * may act. Rejects @res when the requester is neither. */
static void
guard_owner_only(const vtpm_filter *filter, const vtpm_guard_request *greq, vtpm_result *res)
{
    bool is_owner = greq->owner && greq->requester &&
                    strcmp(greq->owner, greq->requester) == 0;
    char what[48], q1[72], q2[72];

    if (is_owner || requester_may_override(filter, greq))
        return;
    /* "other" is our bucket, not the name the caller used. */
    if (greq->operation == VTPM_OP_OTHER)
        vtpm_strfmt(what, sizeof(what), "this operation");
    else
        vtpm_strfmt(what, sizeof(what), "operation '%s'",
                    vtpm_operation_name(greq->operation));
    vtpm_result_reject(res, VTPM_CODE_OWNER_ONLY,
                       "%s on a server with TPM secret "
                       "security 'user' is reserved to its owner %s; "
                       "requester %s is not the owner and holds no "
                       "override role", what,
                       vtpm_quote(q1, sizeof(q1), greq->owner ? greq->owner : "(unknown)"),
                       vtpm_quote(q2, sizeof(q2),
                                  greq->requester ? greq->requester : "(unknown)"));
}

vtpm_status
vtpm_filter_guard(const vtpm_filter *filter, const vtpm_guard_request *greq,
                  vtpm_result *res)
{
    vtpm_secret_security mode;
    const char *op_name;
    vtpm_status st;

    if (!filter || !greq || !greq->instance || !res ||
        (unsigned int)greq->operation >= VTPM_OP_COUNT)
        return VTPM_ERR_INVALID_ARG;
    if (greq->operation == VTPM_OP_RESIZE && !greq->new_flavor)
        return VTPM_ERR_INVALID_ARG;

    st = vtpm_filter_translate(filter, greq->instance, res);
    if (st == VTPM_OK && greq->operation == VTPM_OP_UNKNOWN) {
        /* Fail closed, vTPM or not: the caller's name for it was not ours. */
        vtpm_result_reject(res, VTPM_CODE_UNKNOWN_OPERATION,
                           "unknown operation: the vTPM guard knows rebuild, "
                           "shelve, rescue, evacuate, live-migrate, resize, "
                           "cold-migrate, start, stop, reboot, pause, unpause, "
                           "suspend, resume, lock, unlock, snapshot, delete");
        return VTPM_OK;
    }
    if (st != VTPM_OK || !res->accepted)
        return st;
    if (res->version == VTPM_VERSION_NONE)
        return VTPM_OK;

    mode = guard_mode(filter, res);
    op_name = vtpm_operation_name(greq->operation);

    switch (greq->operation) {
    case VTPM_OP_REBUILD:
    case VTPM_OP_SHELVE:
    case VTPM_OP_RESCUE:
    case VTPM_OP_EVACUATE:
        vtpm_result_reject(res, VTPM_CODE_OPERATION_UNSUPPORTED,
                           "operation '%s' is not supported for a server "
                           "with a vTPM", op_name);
        return VTPM_OK;

    case VTPM_OP_LIVE_MIGRATE:
        if (mode != VTPM_SECRET_SECURITY_HOST) {
            vtpm_result_reject(res, VTPM_CODE_LIVE_MIGRATION_UNSUPPORTED,
                               "live migration of a server with a vTPM needs "
                               "TPM secret security 'host', but this server "
                               "has '%s'", vtpm_secret_security_name(mode));
            return VTPM_OK;
        }
        break;

    case VTPM_OP_RESIZE:
        st = guard_resize(filter, greq, mode, res);
        if (st != VTPM_OK || !res->accepted)
            return st;
        break;

    case VTPM_OP_COLD_MIGRATE:
    case VTPM_OP_OTHER:
    case VTPM_OP_UNKNOWN:
        break;
    }

    /* The owner's credentials unlock a "user" TPM secret: nobody else can. */
    if (mode == VTPM_SECRET_SECURITY_USER)
        guard_owner_only(filter, greq, res);
    return VTPM_OK;
}
