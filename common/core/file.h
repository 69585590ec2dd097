/* SPDX-License-Identifier: Apache-2.0 */
/* Reading a file whole. */
#ifndef VTPM_COMMON_FILE_H
#define VTPM_COMMON_FILE_H

#include <stddef.h>
#include <stdio.h>

/*
 * Reads the rest of @f into a new NUL-terminated buffer *@out (free it) and
 * its length into *@len (a NUL inside counts). Returns 0, or -1 with errno
 * EFBIG when there are more than @max bytes, ENOMEM, or the read's error;
 * *@out is then NULL. @f is not closed.
 */
int vtpm_file_read_stream(FILE *f, size_t max, char **out, size_t *len);

#endif /* VTPM_COMMON_FILE_H */
