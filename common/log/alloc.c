/* SPDX-License-Identifier: Apache-2.0 */
/* The programs' allocators: abort on out of memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"

void
vtpm_alloc_abort(void)
{
    static const char msg[] = "out of memory\n";

    /* No stdio: it may itself need memory. */
    if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
        /* Nothing else to say it with. */
    }
    abort();
}

void *
vtpm_alloc_check(void *ptr)
{
    if (!ptr)
        vtpm_alloc_abort();
    return ptr;
}

void *
vtpm_alloc_calloc(size_t n, size_t size)
{
    /* calloc(0, ...) may return NULL on success. */
    return vtpm_alloc_check(calloc(n ? n : 1, size ? size : 1));
}

void *
vtpm_alloc_realloc(void *ptr, size_t size)
{
    return vtpm_alloc_check(realloc(ptr, size ? size : 1));
}

char *
vtpm_alloc_strdup(const char *s)
{
    return vtpm_alloc_check(strdup(s));
}

char *
vtpm_alloc_strndup(const char *s, size_t n)
{
    return vtpm_alloc_check(strndup(s, n));
}
