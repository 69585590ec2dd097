/* SPDX-License-Identifier: Apache-2.0 */
/* Reading a file whole, bounded in size; replacing one atomically. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* Splits @path into its folder (in @dir, "." or "/" when it has none) and
 * its last component. Returns the last component, or NULL (errno EINVAL)
 * when @path names no file or the folder does not fit. */
static const char *
file_split(const char *path, char *dir, size_t dirlen)
{
    const char *slash = strrchr(path, '/');
    size_t n;

    if (!path[0] || (slash && !slash[1])) {
        errno = EINVAL;
        return NULL;
    }
    if (!slash) {
        dir[0] = '.';
        dir[1] = '\0';
        return path;
    }
    n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= dirlen) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    memcpy(dir, path, n);
    dir[n] = '\0';
    return slash + 1;
}

/* Writes all @len bytes of @data to @fd, going on after a short write. */
static int
file_write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, data, len);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Flushes the folder @dir, so that a rename in it survives a crash. */
static int
file_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc, saved;

    if (fd < 0)
        return -1;
    rc = fsync(fd);
    saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int
vtpm_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    char dir[PATH_MAX], tmp[PATH_MAX];
    const char *name = file_split(path, dir, sizeof(dir));
    int fd, saved;

    if (!name)
        return -1;
    /* hidden, and unique: mkostemp opens with O_EXCL, never an existing file */
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name) >= sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fchmod(fd, mode) < 0 || file_write_all(fd, data, len) < 0 || fsync(fd) < 0)
        goto fail;
    if (close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) < 0)
        goto fail;
    /* renamed: the new file is in place; only its durability is at stake */
    return file_sync_dir(dir);

fail:
    saved = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    errno = saved;
    return -1;
}
