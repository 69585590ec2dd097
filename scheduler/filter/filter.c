/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm_filter: the profile, flags and policy that every translation and guard uses. */
#include <stdlib.h>
#include <string.h>

#include "filter-priv.h"
#include "util.h"

vtpm_filter *
vtpm_filter_new(vtpm_profile profile, unsigned int flags, vtpm_error *err)
{
    vtpm_filter *filter;

    if (flags & ~(unsigned int)VTPM_FILTER_KNOWN_FLAGS) {
        vtpm_error_set(err, VTPM_ERR_UNKNOWN_FLAGS, 0, 0,
                       "unknown filter flags 0x%x",
                       flags & ~(unsigned int)VTPM_FILTER_KNOWN_FLAGS);
        return NULL;
    }
    if (profile != VTPM_PROFILE_CURRENT && profile != VTPM_PROFILE_LEGACY) {
        vtpm_error_set(err, VTPM_ERR_INVALID_ARG, 0, 0,
                       "unknown profile %d", (int)profile);
        return NULL;
    }
    filter = calloc(1, sizeof(*filter));
    if (!filter) {
        vtpm_error_set(err, VTPM_ERR_NO_MEMORY, 0, 0, "out of memory");
        return NULL;
    }
    filter->profile = profile;
    filter->flags = flags;
    if (vtpm_filter_outcomes_build(filter) != VTPM_OK) {
        free(filter);
        vtpm_error_set(err, VTPM_ERR_NO_MEMORY, 0, 0, "out of memory");
        return NULL;
    }
    return filter;
}

void
vtpm_filter_free(vtpm_filter *filter)
{
    size_t i;

    if (!filter)
        return;
    for (i = 0; i < filter->n_override_roles; i++)
        free(filter->override_roles[i]);
    free(filter->override_roles);
    free(filter);
}

vtpm_profile
vtpm_filter_profile(const vtpm_filter *filter)
{
    return filter ? filter->profile : VTPM_PROFILE_CURRENT;
}

unsigned int
vtpm_filter_flags(const vtpm_filter *filter)
{
    return filter ? filter->flags : 0;
}

vtpm_status
vtpm_filter_add_owner_override_role(vtpm_filter *filter, const char *role)
{
    char **roles;
    char *copy;

    if (!filter || !role || !*role)
        return VTPM_ERR_INVALID_ARG;
    copy = strdup(role);
    if (!copy)
        return VTPM_ERR_NO_MEMORY;
    roles = realloc(filter->override_roles,
                    (filter->n_override_roles + 1) * sizeof(*roles));
    if (!roles) {
        free(copy);
        return VTPM_ERR_NO_MEMORY;
    }
    roles[filter->n_override_roles++] = copy;
    filter->override_roles = roles;
    return VTPM_OK;
}
