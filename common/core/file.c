/* SPDX-License-Identifier: Apache-2.0 */
/* Reading a file whole, bounded in size. */
#include <errno.h>
#include <stdlib.h>

#include "file.h"

#define FILE_CHUNK 4096

int
vtpm_file_read_stream(FILE *f, size_t max, char **out, size_t *len)
{
    size_t cap = 0, n = 0;
    char *buf = NULL;

    *out = NULL;
    *len = 0;
    for (;;) {
        size_t got;

        if (n + 1 >= cap) {
            /* room for one byte past @max, to tell "more" from "exactly @max",
             * and for the NUL */
            size_t want = cap ? cap * 2 : FILE_CHUNK;
            char *grown;

            if (want > max + 2)
                want = max + 2;
            grown = realloc(buf, want);
            if (!grown) {
                free(buf);
                errno = ENOMEM;
                return -1;
            }
            buf = grown;
            cap = want;
        }
        got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (n > max) {
            free(buf);
            errno = EFBIG;
            return -1;
        }
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        int saved = errno ? errno : EIO;

        free(buf);
        errno = saved;
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}
