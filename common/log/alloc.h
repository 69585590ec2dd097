/* SPDX-License-Identifier: Apache-2.0 */
/* Allocation for the programs: out of memory aborts (never in a library). */
#ifndef VTPM_COMMON_ALLOC_H
#define VTPM_COMMON_ALLOC_H

#include <stddef.h>

/*
 * The programs cannot do anything useful without memory, and reporting it as
 * a configuration error or an unreachable inventory would mislead: like
 * libvirt's tools they print "out of memory" and abort. The libraries
 * (libvtpm-filter, libvtpm-inventory) return VTPM_ERR_NO_MEMORY instead.
 */
_Noreturn void vtpm_alloc_abort(void);

void *vtpm_alloc_calloc(size_t n, size_t size) __attribute__((malloc, returns_nonnull));
void *vtpm_alloc_realloc(void *ptr, size_t size) __attribute__((returns_nonnull));
char *vtpm_alloc_strdup(const char *s) __attribute__((malloc, returns_nonnull, nonnull(1)));
char *vtpm_alloc_strndup(const char *s, size_t n)
    __attribute__((malloc, returns_nonnull, nonnull(1)));

/* @ptr, which an allocator (json_object(), json_pack(), ...) returned, or abort. */
void *vtpm_alloc_check(void *ptr) __attribute__((returns_nonnull));

/* The same, keeping @ptr's type: json_t *o = VTPM_ALLOC_CHECK(json_object()); */
#define VTPM_ALLOC_CHECK(ptr) ((__typeof__(ptr))vtpm_alloc_check(ptr))

#endif /* VTPM_COMMON_ALLOC_H */
