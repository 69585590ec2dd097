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

#endif /* VTPM_COMMON_SECRET_FILE_H */
