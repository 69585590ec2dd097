/* SPDX-License-Identifier: Apache-2.0 */
/* Reading a file whole; replacing one atomically. */
#ifndef VTPM_COMMON_FILE_H
#define VTPM_COMMON_FILE_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/*
 * Reads the rest of @f into a new NUL-terminated buffer *@out (free it) and
 * its length into *@len (a NUL inside counts). Returns 0, or -1 with errno
 * EFBIG when there are more than @max bytes, ENOMEM, or the read's error;
 * *@out is then NULL. @f is not closed.
 */
int vtpm_file_read_stream(FILE *f, size_t max, char **out, size_t *len);

/*
 * Replaces the file @path with the @len bytes at @data, mode @mode (owned by
 * this user), so that a reader or a crash sees the old file or the new one,
 * never a part: a new file in the same folder (O_EXCL, named ".NAME.XXXXXX"),
 * written whole and flushed, renamed over @path, then the folder flushed.
 * Returns 0, or -1 with errno; on failure before the rename @path is
 * untouched and the new file removed. A failure to flush the folder after
 * the rename (-1 too) leaves the new file in place.
 */
int vtpm_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

#endif /* VTPM_COMMON_FILE_H */
