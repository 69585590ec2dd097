/* SPDX-License-Identifier: Apache-2.0 */
/* Bounded string formatting and quoting for messages. */
#include <stdio.h>
#include <string.h>

#include "util.h"

char *
vtpm_vstrfmt(char *buf, size_t size, const char *fmt, va_list ap)
{
    int n;

    if (size == 0)
        return buf;
    n = vsnprintf(buf, size, fmt, ap);
    if (n < 0) {
        buf[0] = '\0';
    } else if ((size_t)n >= size && size > 4) {
        memcpy(buf + size - 4, "...", 4);
    }
    return buf;
}

char *
vtpm_strfmt(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vtpm_vstrfmt(buf, size, fmt, ap);
    va_end(ap);
    return buf;
}

char *
vtpm_quote(char *dst, size_t size, const char *src)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    const unsigned char *s = (const unsigned char *)src;

    if (size < 8) {
        if (size)
            dst[0] = '\0';
        return dst;
    }
    if (!src) {
        snprintf(dst, size, "(null)");
        return dst;
    }
    dst[o++] = '\'';
    for (; *s; s++) {
        char esc[5];
        size_t len;

        if (*s == '\'' || *s == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*s;
            len = 2;
        } else if (*s < 0x20 || *s >= 0x7f) {
            esc[0] = '\\';
            esc[1] = 'x';
            esc[2] = hex[*s >> 4];
            esc[3] = hex[*s & 0xf];
            len = 4;
        } else {
            esc[0] = (char)*s;
            len = 1;
        }
        /* keep room for "'...'" or the closing quote and NUL */
        if (o + len + 5 > size) {
            memcpy(dst + o, "'...", 5);
            return dst;
        }
        memcpy(dst + o, esc, len);
        o += len;
    }
    dst[o++] = '\'';
    dst[o] = '\0';
    return dst;
}

char *
vtpm_str_one_line(char *s)
{
    size_t i, o = 0;

    for (i = 0; s[i]; i++) {
        char c = s[i] == '\n' || s[i] == '\r' || s[i] == '\t' ? ' ' : s[i];

        if (c == ' ' && (o == 0 || s[o - 1] == ' '))
            continue;
        s[o++] = c;
    }
    while (o > 0 && s[o - 1] == ' ')
        o--;
    s[o] = '\0';
    return s;
}

void
vtpm_free_secret(char *s)
{
    if (!s)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

const char *
vtpm_dsn_lookup(const char *given)
{
    const char *env;

    if (given)
        return given;
    env = getenv("VTPM_DSN");
    return env ? env : "";
}

char *
vtpm_json_error_text(char *dst, size_t size, const char *text)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)text;
    size_t o = 0;

    if (size == 0)
        return dst;
    for (; *s && o + 1 < size; s++) {
        if (*s >= 0x20 && *s < 0x7f) {
            dst[o++] = (char)*s;
        } else {
            if (o + 5 > size)
                break;
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[*s >> 4];
            dst[o++] = hex[*s & 0xf];
        }
    }
    dst[o] = '\0';
    return dst;
}
