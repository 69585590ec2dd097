/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer harness for the domain-capabilities XML parser. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "domcaps.h"
#include "fuzz.h"

bool
vtpm_fuzz_outcome(const uint8_t *data, size_t size, char *out, size_t outlen)
{
    vtpm_libvirt_facts facts = { 0 };
    char err[256] = "";

    out[0] = '\0';
    if (vtpm_domcaps_parse((const char *)data, size, &facts, err, sizeof(err)) < 0) {
        vtpm_fuzz_check_message(err, sizeof(err));
        vtpm_fuzz_append(out, outlen, "error %s", err);
        return true;
    }
    /* facts, never facts and an error */
    if (err[0] != '\0')
        return vtpm_fuzz_invalid(out, outlen, "parsed, with an error message");
    vtpm_fuzz_check_string(facts.arch, sizeof(facts.arch));
    vtpm_fuzz_check_string(facts.virt_type, sizeof(facts.virt_type));
    if (!facts.tpm_element && (facts.tpm_supported || facts.model_tis || facts.model_crb))
        return vtpm_fuzz_invalid(out, outlen, "TPM facts without a <tpm> element");
    vtpm_fuzz_append(out, outlen, "ok arch=%s virt_type=%s tpm=%d supported=%d tis=%d crb=%d "
                     "emulator=%d backend_version=%d 1.2=%d 2.0=%d", facts.arch, facts.virt_type,
                     facts.tpm_element, facts.tpm_supported, facts.model_tis, facts.model_crb,
                     facts.backend_emulator, facts.backend_version_element, facts.backend_1_2,
                     facts.backend_2_0);
    return true;
}

VTPM_FUZZ_ENTRY_POINT
