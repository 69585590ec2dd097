/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer harness for the YAML configuration loader. */
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vtpm_conf conf;
    char err[512];

    if (vtpm_conf_load_string("fuzz.yaml", (const char *)data, size, &conf, err, sizeof(err)) < 0)
        vtpm_fuzz_check_message(err, sizeof(err));
    /* loaded or not, the result is complete: what the probes rely on is set */
    if (!conf.uri || !conf.virt_type || !conf.swtpm_user || !conf.swtpm_group ||
        !conf.swtpm_search_path || !conf.host || !conf.lock_file)
        __builtin_trap();
    vtpm_conf_clear(&conf);
    return 0;
}
