/* SPDX-License-Identifier: Apache-2.0 */
/* The check every reader of a secret file makes before reading it. */
#include <sys/stat.h>

#include "secret_file.h"
#include "util.h"

int
vtpm_secret_file_check(int fd, const char *path, const char *what, char *err, size_t errlen)
{
    struct stat st;

    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        vtpm_strfmt(err, errlen, "%s '%s' is not a file", what, path);
        return -1;
    }
    if (st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) {
        vtpm_strfmt(err, errlen, "%s '%s' is %s by others (mode %04o); chmod 0600 it", what,
                    path, st.st_mode & (S_IRGRP | S_IROTH) ? "readable" : "writable",
                    (unsigned int)(st.st_mode & 07777));
        return -1;
    }
    return 0;
}
