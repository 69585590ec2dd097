/* SPDX-License-Identifier: Apache-2.0 */
/* How many traits the catalogue of <vtpm/traits.h> holds, for this build only. */
#ifndef VTPM_COMMON_TRAIT_H
#define VTPM_COMMON_TRAIT_H

#include <vtpm/traits.h>

/*
 * Not in the public header: the count grows when a trait is appended, and
 * a program built against one release would size its arrays wrongly for the
 * next. Update it with the enum.
 */
#define VTPM_TRAIT_COUNT (VTPM_TRAIT_SECRET_SECURITY_DEPLOYMENT + 1)

#endif /* VTPM_COMMON_TRAIT_H */
