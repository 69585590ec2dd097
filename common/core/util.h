/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers shared by every component: cleanup, ownership, string copies. */
#ifndef VTPM_COMMON_UTIL_H
#define VTPM_COMMON_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#define VTPM_N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/* The one spelling of the printf format attribute inside the project. */
#if defined(__GNUC__)
# define VTPM_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
# define VTPM_PRINTF(fmt, args)
#endif

/* Room for a value quoted by vtpm_quote() into a one-line message. */
#define VTPM_QUOTE_MAX 96

/* Hands over ownership: returns *@pp and clears it. */
static inline void *
vtpm_steal_pointer(void *pp)
{
    void **p = pp;
    void *v = *p;

    *p = NULL;
    return v;
}

static inline void
vtpm_free_ptr(void *pp)
{
    void **p = pp;

    free(*p);
    *p = NULL;
}

/*
 * Wipes the string @s with explicit_bzero() (which the compiler may not drop)
 * and frees it. NULL is fine. For passwords, tokens, DSNs and whatever holds one.
 */
void vtpm_free_secret(char *s);

/*
 * Where every program finds the inventory's DSN: @given (--dsn, the config's
 * postgres.dsn) when it is not NULL, else $VTPM_DSN, else "" (libpq then
 * reads PGHOST, PGDATABASE, PGSSLMODE, ... itself). Returns a borrowed string.
 */
const char *vtpm_dsn_lookup(const char *given);

/* A char * that is freed when it goes out of scope. */
#define VTPM_AUTOFREE(type) __attribute__((cleanup(vtpm_free_ptr))) type

/*
 * Formats into @buf of @size bytes, always NUL-terminated, truncating with
 * "..." when the text does not fit. Returns @buf.
 */
char *vtpm_strfmt(char *buf, size_t size, const char *fmt, ...) VTPM_PRINTF(3, 4);
char *vtpm_vstrfmt(char *buf, size_t size, const char *fmt, va_list ap)
    VTPM_PRINTF(3, 0);

/*
 * Writes @src into @dst (@size bytes) as a quoted, printable string: control
 * and non-ASCII bytes become \xNN, quotes and backslashes are escaped, and
 * long values are cut with "..." so that a message stays on one short line.
 * Returns @dst.
 */
char *vtpm_quote(char *dst, size_t size, const char *src);

/*
 * Copies jansson's error text @text into @dst (@size bytes) with control and
 * non-ASCII bytes as \xNN: jansson quotes the offending input ("near '...'"),
 * which may be any bytes, and our messages are printable single lines.
 * Returns @dst.
 */
char *vtpm_json_error_text(char *dst, size_t size, const char *text);

/*
 * Makes @s one line in place: newlines, carriage returns and tabs become
 * spaces, runs of spaces become one, and leading and trailing spaces go.
 * Returns @s.
 */
char *vtpm_str_one_line(char *s);

#endif /* VTPM_COMMON_UTIL_H */
