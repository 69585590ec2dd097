/* SPDX-License-Identifier: Apache-2.0 */
/* Allocation-failure injection for test programs linked with -Wl,--wrap=malloc,... */
#ifndef VTPM_TESTS_ALLOC_INJECT_H
#define VTPM_TESTS_ALLOC_INJECT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * A test program linked with
 *   -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=free
 * sends every allocation of the code linked statically into it (the library
 * under test, the common code) through these wrappers. Shared libraries
 * (libpq, jansson, libc itself) keep their own references to malloc.
 */
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
char *__wrap_strdup(const char *s);
void __wrap_free(void *p);

/* Blocks allocated through the wrappers and not freed yet. */
extern long vtpm_test_alloc_live;

/* Called when an allocation is refused (NULL: nothing). */
extern void (*vtpm_test_alloc_on_refuse)(void);

/* Refuses the @n-th allocation from now on (counting from 1). */
void vtpm_test_alloc_refuse(unsigned long n);

/* Stops refusing; returns whether an allocation was refused. */
bool vtpm_test_alloc_allow(void);

/* Allocations attempted between vtpm_test_alloc_refuse() and vtpm_test_alloc_allow(). */
unsigned long vtpm_test_alloc_seen(void);

#define VTPM_TEST_ALLOC_MAX 10000

/*
 * Runs the loop body for N = 1, 2, ... with the body refusing allocation N
 * (vtpm_test_alloc_refuse(N) ... vtpm_test_alloc_allow()) and checking the
 * failure, until the body sets done_ = 1 on the success path. A loop that
 * never gets there, or that sets done_ in an iteration where an allocation
 * was refused, fails the test (cmocka).
 */
#define VTPM_FOR_EACH_ALLOCATION(n) \
    /* NOLINTNEXTLINE(bugprone-macro-parentheses): n names the variable it declares */ \
    for (unsigned long n = 1, done_ = 0; vtpm_test_alloc_loop_goes_on(n, done_ != 0); n++)

/* VTPM_FOR_EACH_ALLOCATION's condition: true to run iteration @n; fails the
 * test when the loop ends without reaching the success path. */
bool vtpm_test_alloc_loop_goes_on(unsigned long n, bool done);

#endif /* VTPM_TESTS_ALLOC_INJECT_H */
