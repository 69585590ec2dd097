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

/*
 * Runs @text (@len bytes, not NUL-terminated) through the vtpm-filter command
 * as @kind, with the current profile and the override role "admin". A host
 * line is checked against @request, a request document translated first (it
 * must be accepted). Prints the result line to @out and any message to @err.
 * Returns the exit code this document alone gives: VTPM_EXIT_OK,
 * VTPM_EXIT_REJECTED or VTPM_EXIT_USAGE.
 */
int vtpm_filter_cli_document(vtpm_cli_doc_kind kind, const char *request,
                             const char *text, size_t len, FILE *out, FILE *err);

#endif
