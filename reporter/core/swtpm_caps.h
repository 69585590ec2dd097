/* SPDX-License-Identifier: Apache-2.0 */
/* Parse the JSON that `swtpm socket` and `swtpm_setup` print for --print-capabilities. */
#ifndef VTPM_REPORTER_SWTPM_CAPS_H
#define VTPM_REPORTER_SWTPM_CAPS_H

#include <stddef.h>

#include "facts.h"

/*
 * Parses @json (@len bytes, need not be NUL-terminated), the output of
 * `swtpm socket --print-capabilities` or `swtpm_setup --print-capabilities`, e.g.
 *   {"type":"swtpm","features":["tpm-1.2","tpm-2.0",...],"version":"0.7.1"}
 * and fills version, tpm_1_2, tpm_2_0, pwd_fd ("cmdarg-pwd-fd", which swtpm
 * prints), setup_pwdfile_fd ("cmdarg-pwdfile-fd", which swtpm_setup prints)
 * and features (comma-separated) of @out; the flags are set even when
 * @features has to be cut short. Other fields are left untouched. Unknown
 * features and keys are kept in @features or skipped; a missing "version"
 * (swtpm < 0.7) leaves version empty.
 *
 * Returns 0 on success, or -1 for empty, truncated or malformed input, or
 * a document without a "features" array, with a one-line message in @err.
 */
int vtpm_swtpm_caps_parse(const char *json, size_t len, vtpm_swtpm_facts *out,
                          char *err, size_t errlen);

#endif /* VTPM_REPORTER_SWTPM_CAPS_H */
