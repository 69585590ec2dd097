/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer harness: one line of vtpm-filter host --hosts FILE, against a vTPM 2.0 request. */
#include "cli_document.h"

/* A request that requires three traits, so hosts pass and fail. */
#define FUZZ_HOSTS_REQUEST \
    "{\"flavor\":{\"extra_specs\":{\"hw:tpm_version\":\"2.0\",\"hw:tpm_model\":\"tpm-crb\"}}}"

bool
vtpm_fuzz_outcome(const uint8_t *data, size_t size, char *out, size_t outlen)
{
    static const char *const results[] = { "pass", "fail", "reject", NULL };
    static vtpm_cli_doc *doc;

    if (!doc)
        doc = vtpm_cli_doc_new(VTPM_CLI_DOC_HOST_LINE, FUZZ_HOSTS_REQUEST);
    return vtpm_fuzz_cli_document(doc, data, size, results, out, outlen);
}

VTPM_FUZZ_ENTRY_POINT
