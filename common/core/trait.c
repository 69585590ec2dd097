/* SPDX-License-Identifier: Apache-2.0 */
/* The trait catalogue: os-traits names to bits and back. */
#include <string.h>

#include <vtpm/traits.h>

#include "trait.h"
#include "util.h"

static const char *const trait_names[VTPM_TRAIT_COUNT] = {
    [VTPM_TRAIT_TPM_1_2] = "COMPUTE_SECURITY_TPM_1_2",
    [VTPM_TRAIT_TPM_2_0] = "COMPUTE_SECURITY_TPM_2_0",
    [VTPM_TRAIT_TPM_TIS] = "COMPUTE_SECURITY_TPM_TIS",
    [VTPM_TRAIT_TPM_CRB] = "COMPUTE_SECURITY_TPM_CRB",
    [VTPM_TRAIT_SECRET_SECURITY_USER] = "COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER",
    [VTPM_TRAIT_SECRET_SECURITY_HOST] = "COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST",
    [VTPM_TRAIT_SECRET_SECURITY_DEPLOYMENT] =
        "COMPUTE_SECURITY_TPM_SECRET_SECURITY_DEPLOYMENT",
};

#define TRAIT_PREFIX "COMPUTE_SECURITY_TPM_"

const char *
vtpm_trait_name(vtpm_trait trait)
{
    if ((unsigned int)trait >= VTPM_TRAIT_COUNT)
        return NULL;
    return trait_names[trait];
}

int
vtpm_trait_from_name(const char *name)
{
    size_t i;

    /* Hosts carry dozens of traits; most fail the prefix test at once. */
    if (!name || strncmp(name, TRAIT_PREFIX, sizeof(TRAIT_PREFIX) - 1) != 0)
        return -1;
    for (i = 0; i < VTPM_TRAIT_COUNT; i++) {
        if (strcmp(name + sizeof(TRAIT_PREFIX) - 1,
                   trait_names[i] + sizeof(TRAIT_PREFIX) - 1) == 0)
            return (int)i;
    }
    return -1;
}

vtpm_traitset
vtpm_traitset_from_names(const char *const *names, size_t n)
{
    vtpm_traitset set = 0;
    size_t i;

    if (!names)
        return 0;
    for (i = 0; i < n; i++) {
        int t = vtpm_trait_from_name(names[i]);

        if (t >= 0)
            set |= VTPM_TRAITSET_BIT(t);
    }
    return set;
}

unsigned int
vtpm_traitset_count(vtpm_traitset set)
{
    return (unsigned int)__builtin_popcountll(set);
}
