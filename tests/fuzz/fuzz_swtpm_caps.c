/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer harness for the swtpm --print-capabilities JSON parser. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "swtpm_caps.h"

bool
vtpm_fuzz_outcome(const uint8_t *data, size_t size, char *out, size_t outlen)
{
    vtpm_swtpm_facts facts = { 0 };
    char err[256] = "";

    out[0] = '\0';
    if (vtpm_swtpm_caps_parse((const char *)data, size, &facts, err, sizeof(err)) < 0) {
        vtpm_fuzz_check_message(err, sizeof(err));
        vtpm_fuzz_append(out, outlen, "error %s", err);
        return true;
    }
    /* facts, never facts and an error */
    if (err[0] != '\0')
        return vtpm_fuzz_invalid(out, outlen, "parsed, with an error message");
    vtpm_fuzz_check_string(facts.version, sizeof(facts.version));
    vtpm_fuzz_check_string(facts.features, sizeof(facts.features));
    /* a version flag is never set without its feature being listed (or cut short) */
    if (facts.tpm_2_0 && !strstr(facts.features, "tpm-2.0") && !strstr(facts.features, "..."))
        return vtpm_fuzz_invalid(out, outlen, "tpm-2.0 set but not listed");
    if (facts.tpm_1_2 && !strstr(facts.features, "tpm-1.2") && !strstr(facts.features, "..."))
        return vtpm_fuzz_invalid(out, outlen, "tpm-1.2 set but not listed");
    vtpm_fuzz_append(out, outlen, "ok version=%s 1.2=%d 2.0=%d pwd_fd=%d pwdfile_fd=%d features=%s",
                     facts.version, facts.tpm_1_2, facts.tpm_2_0, facts.pwd_fd,
                     facts.setup_pwdfile_fd, facts.features);
    return true;
}

VTPM_FUZZ_ENTRY_POINT
