/* SPDX-License-Identifier: Apache-2.0 */
/* What every parser harness checks beyond "does not crash". */
#ifndef VTPM_FUZZ_H
#define VTPM_FUZZ_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Each harness's outcome of one input, as one line of text that starts with
 * "ok" (the input was accepted) or "error" (it was refused, with the
 * message). Returns false when the outcome is not a valid one, with the
 * reason in @out. LLVMFuzzerTestOneInput traps on false; the replay runs each
 * input twice and also fails when the two outcomes differ.
 */
bool vtpm_fuzz_outcome(const uint8_t *data, size_t size, char *out, size_t outlen);

/* Appends to the outcome text @out (@outlen bytes); cut short when full. */
static inline void __attribute__((format(printf, 3, 4)))
vtpm_fuzz_append(char *out, size_t outlen, const char *fmt, ...)
{
    size_t used = strnlen(out, outlen);
    va_list ap;

    if (used + 1 >= outlen)
        return;
    va_start(ap, fmt);
    vsnprintf(out + used, outlen - used, fmt, ap);
    va_end(ap);
}

/* Sets the outcome to why it is not valid; returns false for the caller to return. */
static inline bool
vtpm_fuzz_invalid(char *out, size_t outlen, const char *why)
{
    snprintf(out, outlen, "invalid outcome: %s", why);
    return false;
}

/* The harness's entry point for libFuzzer: an invalid outcome is a finding. */
#define VTPM_FUZZ_ENTRY_POINT \
    int \
    LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) \
    { \
        char outcome[4096]; \
        if (!vtpm_fuzz_outcome(data, size, outcome, sizeof(outcome))) \
            __builtin_trap(); \
        return 0; \
    }

/* A fixed-size string field is NUL-terminated within its buffer. */
static inline void
vtpm_fuzz_check_string(const char *s, size_t size)
{
    if (memchr(s, '\0', size) == NULL)
        __builtin_trap();
}

/* An error message is one non-empty, terminated line. */
static inline void
vtpm_fuzz_check_message(const char *msg, size_t size)
{
    vtpm_fuzz_check_string(msg, size);
    if (msg[0] == '\0' || strchr(msg, '\n'))
        __builtin_trap();
}

#endif /* VTPM_FUZZ_H */
