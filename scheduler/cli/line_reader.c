/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm-filter: the lines of --jsonl input and --hosts files, each bounded in size. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "line_reader.h"

/* One read(): large enough that a line of a few hundred bytes costs a
 * fraction of a system call. */
#define LINE_READER_CHUNK ((size_t)64 << 10)

struct vtpm_line_reader {
    int fd;
    size_t max;
    vtpm_line_reader_wait_cb wait;
    void *opaque;
    char *buf;       /* LINE_READER_CHUNK bytes */
    size_t pos, end; /* the unread bytes: buf[pos..end) */
    /* A line that spans reads is gathered here, up to max + 1 bytes. */
    char *line;
    size_t line_len, line_cap;
    bool skipping; /* the current line is too long: dropping it */
    bool eof;
    int error;
};

vtpm_line_reader *
vtpm_line_reader_new(int fd, size_t max, vtpm_line_reader_wait_cb wait, void *opaque)
{
    vtpm_line_reader *r = vtpm_alloc_calloc(1, sizeof(*r));

    r->fd = fd;
    r->max = max;
    r->wait = wait;
    r->opaque = opaque;
    r->buf = vtpm_alloc_realloc(NULL, LINE_READER_CHUNK);
    return r;
}

void
vtpm_line_reader_free(vtpm_line_reader *r)
{
    if (!r)
        return;
    free(r->buf);
    free(r->line);
    free(r);
}

int
vtpm_line_reader_error(const vtpm_line_reader *r)
{
    return r->error;
}

/* Refills the buffer; false at the end of the input or on error. */
static bool
line_reader_fill(vtpm_line_reader *r)
{
    struct pollfd pfd = { .fd = r->fd, .events = POLLIN };
    ssize_t n;

    /* Nothing to read yet: whoever waits for the answers so far gets them
     * now, before this read blocks. */
    if (r->wait && poll(&pfd, 1, 0) == 0)
        r->wait(r->opaque);
    do {
        n = read(r->fd, r->buf, LINE_READER_CHUNK);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        r->error = errno;
    if (n <= 0) {
        r->eof = true;
        return false;
    }
    r->pos = 0;
    r->end = (size_t)n;
    return true;
}

/* Appends @n bytes to the gathered line, or starts skipping it when it
 * grows past the maximum. */
static void
line_reader_gather(vtpm_line_reader *r, const char *p, size_t n)
{
    if (r->skipping)
        return;
    /* One byte over the maximum is allowed for the newline. */
    if (r->line_len + n > r->max + 1) {
        r->skipping = true;
        r->line_len = 0;
        return;
    }
    if (r->line_len + n > r->line_cap) {
        size_t cap = r->line_cap ? r->line_cap : LINE_READER_CHUNK;

        while (cap < r->line_len + n)
            cap *= 2;
        if (cap > r->max + 1)
            cap = r->max + 1;
        r->line = vtpm_alloc_realloc(r->line, cap);
        r->line_cap = cap;
    }
    memcpy(r->line + r->line_len, p, n);
    r->line_len += n;
}

/* Hands out the gathered line, or says it was too long. */
static void
line_reader_finish(vtpm_line_reader *r, const char **line, size_t *len, bool *too_long)
{
    *too_long = r->skipping || r->line_len > r->max + 1 ||
                (r->line_len == r->max + 1 && r->line[r->max] != '\n');
    *line = *too_long ? NULL : r->line;
    *len = *too_long ? 0 : r->line_len;
    r->skipping = false;
    r->line_len = 0;
}

bool
vtpm_line_reader_next(vtpm_line_reader *r, const char **line, size_t *len, bool *too_long)
{
    bool started = false;

    for (;;) {
        char *start = r->buf + r->pos;
        char *nl = memchr(start, '\n', r->end - r->pos);

        if (nl) {
            size_t n = (size_t)(nl - start) + 1;

            r->pos += n;
            if (!started && n <= r->max + 1) {
                /* The whole line is in the buffer: no copy. */
                *line = start;
                *len = n;
                *too_long = false;
                return true;
            }
            line_reader_gather(r, start, n);
            line_reader_finish(r, line, len, too_long);
            return true;
        }
        if (r->end > r->pos) {
            line_reader_gather(r, start, r->end - r->pos);
            started = true;
        }
        r->pos = r->end;
        if (r->eof || !line_reader_fill(r)) {
            if (!started || r->error)
                return false;
            line_reader_finish(r, line, len, too_long);
            return true;
        }
    }
}
