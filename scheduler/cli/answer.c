/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm-filter: one answer line written straight into a reused buffer, as jansson would print it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "answer.h"

#define ANSWER_FLAGS (JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY)

void
vtpm_answer_reset(vtpm_answer *a)
{
    a->len = 0;
    a->bad = false;
}

void
vtpm_answer_clear(vtpm_answer *a)
{
    free(a->text);
    a->text = NULL;
    a->len = a->cap = 0;
}

/* Makes room for @more bytes. */
static char *
answer_room(vtpm_answer *a, size_t more)
{
    if (a->cap - a->len < more) {
        size_t cap = a->cap ? a->cap : 512;

        while (cap - a->len < more)
            cap *= 2;
        a->text = vtpm_alloc_realloc(a->text, cap);
        a->cap = cap;
    }
    return a->text + a->len;
}

void
vtpm_answer_raw(vtpm_answer *a, const char *s, size_t len)
{
    memcpy(answer_room(a, len), s, len);
    a->len += len;
}

/* Decodes the UTF-8 sequence at @s (at most @n bytes) into *@cp; returns its
 * length, or 0 when it is not valid UTF-8 (jansson's rules: shortest form,
 * no surrogates, at most U+10FFFF). */
static size_t
answer_utf8(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t len, i;
    uint32_t v;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2;
        v = s[0] & 0x1F;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        v = s[0] & 0x0F;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        v = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && v < 0x800) || (len == 4 && v < 0x10000) || v > 0x10FFFF ||
        (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

/* Appends the escape jansson writes for code point @cp. */
static void
answer_escape(vtpm_answer *a, uint32_t cp)
{
    static const char hex[] = "0123456789ABCDEF";
    char *p;

    switch (cp) {
    case '\\': VTPM_ANSWER_LIT(a, "\\\\"); return;
    case '"': VTPM_ANSWER_LIT(a, "\\\""); return;
    case '\b': VTPM_ANSWER_LIT(a, "\\b"); return;
    case '\f': VTPM_ANSWER_LIT(a, "\\f"); return;
    case '\n': VTPM_ANSWER_LIT(a, "\\n"); return;
    case '\r': VTPM_ANSWER_LIT(a, "\\r"); return;
    case '\t': VTPM_ANSWER_LIT(a, "\\t"); return;
    default: break;
    }
    if (cp >= 0x10000) {
        cp -= 0x10000;
        answer_escape(a, 0xD800 | (cp >> 10));
        answer_escape(a, 0xDC00 | (cp & 0x3FF));
        return;
    }
    p = answer_room(a, 6);
    p[0] = '\\';
    p[1] = 'u';
    p[2] = hex[(cp >> 12) & 0xF];
    p[3] = hex[(cp >> 8) & 0xF];
    p[4] = hex[(cp >> 4) & 0xF];
    p[5] = hex[cp & 0xF];
    a->len += 6;
}

void
vtpm_answer_string(vtpm_answer *a, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n;

    if (!s) {
        VTPM_ANSWER_LIT(a, "null");
        return;
    }
    n = strlen(s);
    VTPM_ANSWER_LIT(a, "\"");
    while (n > 0) {
        size_t run = 0, len;
        uint32_t cp;

        /* Plain ASCII is copied in one go. */
        while (run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
            run++;
        vtpm_answer_raw(a, (const char *)p, run);
        p += run;
        n -= run;
        if (n == 0)
            break;
        len = answer_utf8(p, n, &cp);
        if (len == 0) {
            a->bad = true;
            return;
        }
        answer_escape(a, cp);
        p += len;
        n -= len;
    }
    VTPM_ANSWER_LIT(a, "\"");
}

void
vtpm_answer_json(vtpm_answer *a, json_t *value)
{
    char *at = answer_room(a, 64);
    size_t need = json_dumpb(value, at, a->cap - a->len, ANSWER_FLAGS);

    if (need == 0) {
        a->bad = true;
        return;
    }
    if (need > a->cap - a->len) {
        at = answer_room(a, need);
        need = json_dumpb(value, at, need, ANSWER_FLAGS);
    }
    a->len += need;
}

void
vtpm_answer_traits(vtpm_answer *a, vtpm_traitset set)
{
    bool first = true;
    int t;

    VTPM_ANSWER_LIT(a, "[");
    for (t = 0; t < VTPM_TRAIT_COUNT; t++) {
        if (!(set & VTPM_TRAITSET_BIT(t)))
            continue;
        if (!first)
            VTPM_ANSWER_LIT(a, ",");
        first = false;
        vtpm_answer_string(a, vtpm_trait_name((vtpm_trait)t));
    }
    VTPM_ANSWER_LIT(a, "]");
}
