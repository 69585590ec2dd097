/* SPDX-License-Identifier: Apache-2.0 */
/* The malloc family's wrappers: count live blocks, refuse the Nth allocation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc_inject.h"

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
char *__real_strdup(const char *s);
void __real_free(void *p);

long vtpm_test_alloc_live;
void (*vtpm_test_alloc_on_refuse)(void);

static unsigned long refuse_nth;  /* 0: refuse nothing */
static unsigned long seen;        /* allocations since vtpm_test_alloc_refuse() */
static bool refused;

static bool
refuse_this_one(void)
{
    if (refuse_nth == 0 || ++seen != refuse_nth)
        return false;
    refused = true;
    if (vtpm_test_alloc_on_refuse)
        vtpm_test_alloc_on_refuse();
    return true;
}

void *
__wrap_malloc(size_t size)
{
    void *p = refuse_this_one() ? NULL : __real_malloc(size);

    vtpm_test_alloc_live += p != NULL;
    return p;
}

void *
__wrap_calloc(size_t n, size_t size)
{
    void *p = refuse_this_one() ? NULL : __real_calloc(n, size);

    vtpm_test_alloc_live += p != NULL;
    return p;
}

void *
__wrap_realloc(void *p, size_t size)
{
    void *q = refuse_this_one() ? NULL : __real_realloc(p, size);

    vtpm_test_alloc_live += !p && q;
    return q;
}

char *
__wrap_strdup(const char *s)
{
    char *p = refuse_this_one() ? NULL : __real_strdup(s);

    vtpm_test_alloc_live += p != NULL;
    return p;
}

void
__wrap_free(void *p)
{
    vtpm_test_alloc_live -= p != NULL;
    __real_free(p);
}

void
vtpm_test_alloc_refuse(unsigned long n)
{
    refuse_nth = n;
    seen = 0;
    refused = false;
}

bool
vtpm_test_alloc_allow(void)
{
    refuse_nth = 0;
    return refused;
}

unsigned long
vtpm_test_alloc_seen(void)
{
    return seen;
}

bool
vtpm_test_alloc_loop_goes_on(unsigned long n, bool done)
{
    if (done) {
        /* done only counts when the last iteration had nothing refused */
        if (refused)
            fail_msg("the allocation loop ended at %lu with an allocation refused", n - 1);
        return false;
    }
    if (n > VTPM_TEST_ALLOC_MAX) {
        fail_msg("the allocation loop never reached its success path in %d iterations",
                 VTPM_TEST_ALLOC_MAX);
        return false;
    }
    return true;
}
