/* SPDX-License-Identifier: Apache-2.0 */
/* The check every reader of a secret file makes before reading it. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* Reads up to @size - 1 bytes of @fd into @buf; returns the count or -1. */
static ssize_t
read_some(int fd, char *buf, size_t size)
{
    size_t len = 0;

    while (len < size - 1) {
        ssize_t n = read(fd, buf + len, size - 1 - len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        len += (size_t)n;
    }
    return (ssize_t)len;
}

/* @size must be at least 4: a line of one byte, "\r\n" and a NUL. */
int
vtpm_secret_file_read_line(const char *path, const char *what, char *buf, size_t size,
                           char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    const char *eol;
    ssize_t got;
    size_t len;
    int ret = -1;

    if (fd < 0) {
        vtpm_strfmt(err, errlen, "cannot read %s '%s': %s", what, path, strerror(errno));
        return -1;
    }
    if (vtpm_secret_file_check(fd, path, what, err, errlen) < 0)
        goto cleanup;
    if ((got = read_some(fd, buf, size)) < 0) {
        vtpm_strfmt(err, errlen, "cannot read %s '%s': %s", what, path, strerror(errno));
        goto cleanup;
    }
    /* Room for the line, "\r\n" and a NUL: a longer line is seen whole. */
    len = (size_t)got;
    eol = memchr(buf, '\n', len);
    if (eol)
        len = (size_t)(eol - buf);
    if (len > 0 && buf[len - 1] == '\r')
        len--;
    if ((!eol && (size_t)got == size - 1) || len + 3 > size) {
        vtpm_strfmt(err, errlen, "%s '%s': first line longer than %zu bytes", what, path,
                    size - 3);
        goto cleanup;
    }
    buf[len] = '\0';
    if (len == 0) {
        vtpm_strfmt(err, errlen, "%s '%s' has an empty first line", what, path);
        goto cleanup;
    }
    if (strlen(buf) != len) {
        vtpm_strfmt(err, errlen, "%s '%s' has a NUL byte in its first line", what, path);
        goto cleanup;
    }
    ret = 0;

cleanup:
    if (ret < 0)
        explicit_bzero(buf, size);
    close(fd);
    return ret;
}
