/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer harness for the swtpm --print-capabilities JSON parser. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "swtpm_caps.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vtpm_swtpm_facts facts = { 0 };
    char err[256];

    if (vtpm_swtpm_caps_parse((const char *)data, size, &facts, err, sizeof(err)) < 0) {
        vtpm_fuzz_check_message(err, sizeof(err));
        return 0;
    }
    vtpm_fuzz_check_string(facts.version, sizeof(facts.version));
    vtpm_fuzz_check_string(facts.features, sizeof(facts.features));
    /* a version flag is never set without its feature being listed (or cut short) */
    if (facts.tpm_2_0 && !strstr(facts.features, "tpm-2.0") && !strstr(facts.features, "..."))
        __builtin_trap();
    return 0;
}
