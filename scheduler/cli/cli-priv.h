/* SPDX-License-Identifier: Apache-2.0 */
/* One vtpm-filter input document without a process or a file, for the fuzzers. */
#ifndef VTPM_SCHEDULER_CLI_PRIV_H
#define VTPM_SCHEDULER_CLI_PRIV_H

#include <stddef.h>
#include <stdio.h>

/* What a document is read as. */
typedef enum {
    VTPM_CLI_DOC_GUARD,     /* a guard command's request */
    VTPM_CLI_DOC_HOST_LINE, /* one line of host --hosts FILE */
} vtpm_cli_doc_kind;

/* A vtpm-filter command set up once for many documents. */
typedef struct vtpm_cli_doc vtpm_cli_doc;

/*
 * Sets up the command for documents of @kind, with the current profile and
 * the override role "admin". Host lines are checked against @request, a
 * request document translated here (NULL when it is not accepted).
 */
vtpm_cli_doc *vtpm_cli_doc_new(vtpm_cli_doc_kind kind, const char *request);

/*
 * Runs @text (@len bytes, not NUL-terminated) through @doc's command as one
 * input document; prints the result line to @out and any message to @err.
 * Returns the exit code this document alone gives: VTPM_EXIT_OK,
 * VTPM_EXIT_REJECTED or VTPM_EXIT_USAGE.
 */
int vtpm_cli_doc_run(vtpm_cli_doc *doc, const char *text, size_t len, FILE *out, FILE *err);

void vtpm_cli_doc_free(vtpm_cli_doc *doc);

#endif
