/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm-filter: jansson's allocations for one input line, from one reused block. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "alloc.h"
#include "json_arena.h"

#if defined(__SANITIZE_ADDRESS__)
# define JSON_ARENA_ASAN 1
#elif defined(__has_feature)
# if __has_feature(address_sanitizer)
#  define JSON_ARENA_ASAN 1
# endif
#endif
/* Under AddressSanitizer, the unused part of the block is poisoned: a json_t
 * used after its line ended is reported, as is a block given to free(). */
#ifdef JSON_ARENA_ASAN
# include <sanitizer/asan_interface.h>
# define JSON_ARENA_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
# define JSON_ARENA_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
# define JSON_ARENA_POISON(p, n) ((void)(p), (void)(n))
# define JSON_ARENA_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* Room for a request line of a few kilobytes many times over. */
#define JSON_ARENA_SIZE ((size_t)256 << 10)

static struct {
    char *base;
    size_t used;
    json_malloc_t saved_malloc;
    json_free_t saved_free;
    bool active;
} arena;

static void *
json_arena_malloc(size_t n)
{
    /* jansson stores doubles and pointers: keep max_align_t alignment. */
    size_t need = (n + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);

    if (need >= n && need <= JSON_ARENA_SIZE - arena.used) {
        void *p = arena.base + arena.used;

        arena.used += need;
        JSON_ARENA_UNPOISON(p, n);
        return p;
    }
    return malloc(n);
}

static void
json_arena_free(void *p)
{
    uintptr_t at = (uintptr_t)p, base = (uintptr_t)arena.base;

    /* A block of the arena is given back all at once, by the reset. */
    if (at >= base && at < base + JSON_ARENA_SIZE)
        return;
    free(p);
}

void
vtpm_json_arena_begin(void)
{
    if (arena.active)
        return;
    arena.base = vtpm_alloc_realloc(NULL, JSON_ARENA_SIZE);
    arena.used = 0;
    JSON_ARENA_POISON(arena.base, JSON_ARENA_SIZE);
    json_get_alloc_funcs(&arena.saved_malloc, &arena.saved_free);
    json_set_alloc_funcs(json_arena_malloc, json_arena_free);
    arena.active = true;
}

void
vtpm_json_arena_reset(void)
{
    if (!arena.active)
        return;
    JSON_ARENA_POISON(arena.base, arena.used);
    arena.used = 0;
}

void
vtpm_json_arena_end(void)
{
    if (!arena.active)
        return;
    json_set_alloc_funcs(arena.saved_malloc, arena.saved_free);
    JSON_ARENA_UNPOISON(arena.base, JSON_ARENA_SIZE);
    free(arena.base);
    arena.base = NULL;
    arena.active = false;
}
