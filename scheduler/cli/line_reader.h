/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm-filter: the lines of --jsonl input and --hosts files, each bounded in size. */
#ifndef VTPM_CLI_LINE_READER_H
#define VTPM_CLI_LINE_READER_H

#include <stdbool.h>
#include <stddef.h>

/* Called before a read that would wait for more input (the input has no
 * buffered data left): the time to flush what was answered so far. */
typedef void (*vtpm_line_reader_wait_cb)(void *opaque);

typedef struct vtpm_line_reader vtpm_line_reader;

/*
 * Reads file descriptor @fd (not closed) line by line. A line longer than
 * @max bytes (its newline not counted) is not kept: the reader skips to the
 * next newline and says the line was too long. Memory stays under about
 * @max plus one read buffer, whatever the input. Aborts on out of memory.
 */
vtpm_line_reader *vtpm_line_reader_new(int fd, size_t max, vtpm_line_reader_wait_cb wait,
                                       void *opaque);
void vtpm_line_reader_free(vtpm_line_reader *r);

/*
 * The next line in *@line (with its newline, if any; valid until the next
 * call) and its length in *@len; *@too_long is true, and *@line NULL, when
 * the line was longer than the maximum. Returns false at the end of the
 * input or on a read error (vtpm_line_reader_error then says which).
 */
bool vtpm_line_reader_next(vtpm_line_reader *r, const char **line, size_t *len, bool *too_long);

/* The errno of the read that failed, or 0. */
int vtpm_line_reader_error(const vtpm_line_reader *r);

#endif /* VTPM_CLI_LINE_READER_H */
