/* SPDX-License-Identifier: Apache-2.0 */
/* What every parser harness checks beyond "does not crash". */
#ifndef VTPM_FUZZ_H
#define VTPM_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
