/* SPDX-License-Identifier: Apache-2.0 */
/* Files that hold a secret: a regular file only its owner may read or write. */
#ifndef VTPM_COMMON_SECRET_FILE_H
#define VTPM_COMMON_SECRET_FILE_H

#include <stddef.h>

/*
 * Checks the open file @fd, named @path, that holds a secret (@what, e.g.
 * "passphrase file", starts the messages): it must be a regular file that
 * neither group nor others may read or write, whoever owns it (root
 * included). Execute bits alone reveal nothing and are let through. Returns
 * 0, or -1 with one line in @err (@errlen bytes) naming @path and the reason.
 */
int vtpm_secret_file_check(int fd, const char *path, const char *what, char *err,
                           size_t errlen);

/*
 * Reads the first line of the secret file @path (@what starts the messages,
 * e.g. "passphrase file") into @buf (@size bytes), after the check above. The
 * line ending ("\n" or "\r\n") is dropped, the rest of the file ignored. A
 * line that is empty, holds a NUL byte or does not fit is refused. Returns
 * 0, or -1 with one line in @err; @buf is wiped on failure.
 */
int vtpm_secret_file_read_line(const char *path, const char *what, char *buf, size_t size,
                               char *err, size_t errlen);

#endif /* VTPM_COMMON_SECRET_FILE_H */
