/* SPDX-License-Identifier: Apache-2.0 */
/* The catalogue of vTPM capability traits: names, bits and trait sets. */
#ifndef VTPM_TRAITS_H
#define VTPM_TRAITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Everything declared here is the library's exported API. */
#if defined(__GNUC__)
# pragma GCC visibility push(default)
#endif

#if defined(__GNUC__)
# define VTPM_ATTR_PURE __attribute__((pure))
# define VTPM_ATTR_CONST __attribute__((const))
# define VTPM_ATTR_WARN_UNUSED __attribute__((warn_unused_result))
#else
# define VTPM_ATTR_PURE
# define VTPM_ATTR_CONST
# define VTPM_ATTR_WARN_UNUSED
#endif

/*
 * The seven traits a vTPM host may have (os-traits names). The numeric values
 * are part of the ABI: new traits are only ever appended.
 */
typedef enum {
    VTPM_TRAIT_TPM_1_2 = 0,              /* COMPUTE_SECURITY_TPM_1_2 */
    VTPM_TRAIT_TPM_2_0 = 1,              /* COMPUTE_SECURITY_TPM_2_0 */
    VTPM_TRAIT_TPM_TIS = 2,              /* COMPUTE_SECURITY_TPM_TIS */
    VTPM_TRAIT_TPM_CRB = 3,              /* COMPUTE_SECURITY_TPM_CRB */
    VTPM_TRAIT_SECRET_SECURITY_USER = 4, /* COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER */
    VTPM_TRAIT_SECRET_SECURITY_HOST = 5, /* COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST */
    VTPM_TRAIT_SECRET_SECURITY_DEPLOYMENT = 6, /* ..._SECRET_SECURITY_DEPLOYMENT */
    /* append new traits here; there is no count: it would change each release */
} vtpm_trait;

/*
 * A set of traits: bit (1 << trait) is set when the trait is present.
 * Host checks are plain bit operations on this type.
 */
typedef uint64_t vtpm_traitset;

#define VTPM_TRAITSET_BIT(trait) ((vtpm_traitset)1 << (trait))
/* Every trait this header names (a newer library may know more). */
#define VTPM_TRAITSET_ALL (VTPM_TRAITSET_BIT(VTPM_TRAIT_SECRET_SECURITY_DEPLOYMENT + 1) - 1)

/*
 * Returns the os-traits name of @trait, a borrowed static string, or NULL
 * when @trait is out of range.
 */
const char *vtpm_trait_name(vtpm_trait trait) VTPM_ATTR_CONST;

/*
 * Looks up a trait by its exact os-traits name. Returns the trait, or -1 when
 * @name is NULL or not one of the managed traits (hosts carry many other
 * traits, which are simply not ours).
 */
int vtpm_trait_from_name(const char *name) VTPM_ATTR_PURE;

/*
 * Builds a trait set from @n names. Names that are not managed traits are
 * ignored; NULL entries are ignored. Never fails.
 */
vtpm_traitset vtpm_traitset_from_names(const char *const *names, size_t n)
    VTPM_ATTR_PURE;

/* Number of traits in @set. */
unsigned int vtpm_traitset_count(vtpm_traitset set) VTPM_ATTR_CONST;

#if defined(__GNUC__)
# pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* VTPM_TRAITS_H */
