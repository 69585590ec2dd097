/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer harness: a vtpm-filter guard document, through the command's own parsing. */
#include "cli_document.h"

bool
vtpm_fuzz_outcome(const uint8_t *data, size_t size, char *out, size_t outlen)
{
    static const char *const results[] = { "allow", "refuse", "reject", NULL };
    static vtpm_cli_doc *doc;

    if (!doc)
        doc = vtpm_cli_doc_new(VTPM_CLI_DOC_GUARD, NULL);
    return vtpm_fuzz_cli_document(doc, data, size, results, out, outlen);
}

VTPM_FUZZ_ENTRY_POINT
