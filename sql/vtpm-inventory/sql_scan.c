/* SPDX-License-Identifier: Apache-2.0 */
/* Reading a migration's SQL as the server will: statements, comments, quotes. */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "sql_scan.h"
#include "util.h"

typedef struct {
    const char *s;
    size_t len;
    size_t pos;
    unsigned int line;
} scanner;

static void
scan_advance(scanner *sc, size_t n)
{
    for (size_t i = 0; i < n && sc->pos < sc->len; i++, sc->pos++) {
        if (sc->s[sc->pos] == '\n')
            sc->line++;
    }
}

static bool
scan_at(const scanner *sc, const char *text)
{
    size_t n = strlen(text);

    return sc->len - sc->pos >= n && memcmp(sc->s + sc->pos, text, n) == 0;
}

/* Skips to just after @end (or to the end of the input). */
static void
scan_skip_past(scanner *sc, const char *end)
{
    while (sc->pos < sc->len && !scan_at(sc, end))
        scan_advance(sc, 1);
    scan_advance(sc, strlen(end));
}

/* A block comment; they nest in PostgreSQL. */
static void
scan_skip_block_comment(scanner *sc)
{
    unsigned int depth = 0;

    do {
        if (scan_at(sc, "/*")) {
            depth++;
            scan_advance(sc, 2);
        } else if (scan_at(sc, "*/")) {
            depth--;
            scan_advance(sc, 2);
        } else {
            scan_advance(sc, 1);
        }
    } while (depth > 0 && sc->pos < sc->len);
}

/* A quoted string or identifier opened by @quote at sc->pos; @backslash:
 * an E'' string, where a backslash escapes the next byte. */
static void
scan_skip_quoted(scanner *sc, char quote, bool backslash)
{
    scan_advance(sc, 1);
    while (sc->pos < sc->len) {
        char c = sc->s[sc->pos];

        if (backslash && c == '\\') {
            scan_advance(sc, 2);
        } else if (c == quote) {
            scan_advance(sc, 1);
            if (sc->pos >= sc->len || sc->s[sc->pos] != quote)
                return;
            scan_advance(sc, 1);   /* a doubled quote stands for itself */
        } else {
            scan_advance(sc, 1);
        }
    }
}

/* A dollar quote $tag$...$tag$ at sc->pos; false when '$' opens none. */
static bool
scan_skip_dollar_quoted(scanner *sc)
{
    char tag[66];
    size_t n = 1;

    while (sc->pos + n < sc->len && n < sizeof(tag) - 2 &&
           (isalnum((unsigned char)sc->s[sc->pos + n]) || sc->s[sc->pos + n] == '_'))
        n++;
    if (sc->pos + n >= sc->len || sc->s[sc->pos + n] != '$' ||
        isdigit((unsigned char)sc->s[sc->pos + 1]))
        return false;
    memcpy(tag, sc->s + sc->pos, n + 1);
    tag[n + 1] = '\0';
    scan_advance(sc, n + 1);
    scan_skip_past(sc, tag);
    return true;
}

/* Skips what is not a word of the statement; true when it skipped anything. */
static bool
scan_skip_noise(scanner *sc)
{
    char c = sc->s[sc->pos];

    if (scan_at(sc, "--")) {
        scan_skip_past(sc, "\n");
    } else if (scan_at(sc, "/*")) {
        scan_skip_block_comment(sc);
    } else if (c == '\'' || c == '"') {
        scan_skip_quoted(sc, c, false);
    } else if ((c == 'E' || c == 'e') && sc->pos + 1 < sc->len && sc->s[sc->pos + 1] == '\'' &&
               (sc->pos == 0 || !isalnum((unsigned char)sc->s[sc->pos - 1]))) {
        scan_advance(sc, 1);
        scan_skip_quoted(sc, '\'', true);
    } else if (c == '$' && scan_skip_dollar_quoted(sc)) {
        ;
    } else {
        return false;
    }
    return true;
}

static bool
word_is(const char *w, size_t n, const char *keyword)
{
    return strlen(keyword) == n && strncasecmp(w, keyword, n) == 0;
}

/* Whether the word after sc->pos (past blanks) is @keyword. */
static bool
next_word_is(const scanner *sc, const char *keyword)
{
    size_t p = sc->pos, n = strlen(keyword);

    while (p < sc->len && isspace((unsigned char)sc->s[p]))
        p++;
    return sc->len - p >= n && strncasecmp(sc->s + p, keyword, n) == 0 &&
           (sc->len - p == n || !(isalnum((unsigned char)sc->s[p + n]) || sc->s[p + n] == '_'));
}

/* Whether the statement's first word @w (@n bytes) ends a transaction or opens one. */
static bool
word_controls_transaction(const char *w, size_t n, const scanner *sc)
{
    static const char *const words[] = { "BEGIN", "START", "COMMIT", "END", "ROLLBACK",
                                         "ABORT" };

    for (size_t i = 0; i < VTPM_N_ELEMENTS(words); i++) {
        if (word_is(w, n, words[i]))
            return true;
    }
    /* PREPARE TRANSACTION, not PREPARE name AS ... */
    return word_is(w, n, "PREPARE") && next_word_is(sc, "TRANSACTION");
}

unsigned int
vtpm_sql_find_transaction_control(const char *sql, size_t len, char *word, size_t size)
{
    scanner sc = { .s = sql, .len = len, .pos = 0, .line = 1 };
    bool statement_start = true, atomic = false;

    while (sc.pos < sc.len) {
        char c = sc.s[sc.pos];

        if (scan_skip_noise(&sc))
            continue;
        if (c == ';') {
            statement_start = true;
            scan_advance(&sc, 1);
        } else if (isalpha((unsigned char)c) || c == '_') {
            size_t start = sc.pos;
            unsigned int line = sc.line;

            while (sc.pos < sc.len &&
                   (isalnum((unsigned char)sc.s[sc.pos]) || sc.s[sc.pos] == '_'))
                scan_advance(&sc, 1);
            if (atomic) {
                /* A BEGIN ATOMIC body's statements end at its END. */
                atomic = !(statement_start && word_is(sc.s + start, sc.pos - start, "END"));
            } else if (statement_start &&
                       word_controls_transaction(sc.s + start, sc.pos - start, &sc)) {
                vtpm_strfmt(word, size, "%.*s", (int)(sc.pos - start), sc.s + start);
                return line;
            } else if (word_is(sc.s + start, sc.pos - start, "BEGIN")) {
                atomic = next_word_is(&sc, "ATOMIC");
            }
            statement_start = false;
        } else {
            if (!isspace((unsigned char)c))
                statement_start = false;
            scan_advance(&sc, 1);
        }
    }
    return 0;
}
