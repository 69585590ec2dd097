/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer harness for the domain-capabilities XML parser. */
#include <stddef.h>
#include <stdint.h>

#include "domcaps.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vtpm_libvirt_facts facts = { 0 };
    char err[256];

    if (vtpm_domcaps_parse((const char *)data, size, &facts, err, sizeof(err)) < 0)
        vtpm_fuzz_check_message(err, sizeof(err));
    vtpm_fuzz_check_string(facts.arch, sizeof(facts.arch));
    vtpm_fuzz_check_string(facts.virt_type, sizeof(facts.virt_type));
    return 0;
}
