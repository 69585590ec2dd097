/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer harness for the YAML configuration loader. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "fuzz.h"

/* A load error points at the text: "fuzz.yaml:LINE:COLUMN: message". */
static bool
conf_error_located(const char *err)
{
    const char *p = err + strlen("fuzz.yaml:");
    char *end;

    if (strncmp(err, "fuzz.yaml:", strlen("fuzz.yaml:")) != 0)
        return false;
    for (int i = 0; i < 2; i++) {   /* line, then column: both from 1 */
        if (*p < '1' || *p > '9' || strtoul(p, &end, 10) == 0 || *end != ':')
            return false;
        p = end + 1;
    }
    return p[0] == ' ' && p[1] != '\0';
}

bool
vtpm_fuzz_outcome(const uint8_t *data, size_t size, char *out, size_t outlen)
{
    vtpm_conf conf;
    char err[512] = "";
    int rc;

    out[0] = '\0';
    rc = vtpm_conf_load_string("fuzz.yaml", (const char *)data, size, &conf, err, sizeof(err));
    /* loaded or not, the result is complete: what the probes rely on is set */
    if (!conf.uri || !conf.virt_type || !conf.swtpm_user || !conf.swtpm_group ||
        !conf.swtpm_search_path || !conf.host || !conf.lock_file || !conf.cache_dir) {
        vtpm_conf_clear(&conf);
        return vtpm_fuzz_invalid(out, outlen, "a setting the probes need is missing");
    }
    if (rc < 0) {
        vtpm_fuzz_append(out, outlen, "error %s", err);
    } else {
        vtpm_fuzz_append(out, outlen, "ok uri=%s virt_type=%s swtpm=%s:%s host=%s lock=%s "
                         "cache=%s inventory=%u retries=%u path=", conf.uri, conf.virt_type,
                         conf.swtpm_user, conf.swtpm_group, conf.host, conf.lock_file,
                         conf.cache_dir, conf.inventory, conf.retries);
        for (char **dir = conf.swtpm_search_path; *dir; dir++)
            vtpm_fuzz_append(out, outlen, "%s:", *dir);
    }
    vtpm_conf_clear(&conf);
    if (rc < 0) {
        vtpm_fuzz_check_message(err, sizeof(err));
        if (!conf_error_located(err))
            return vtpm_fuzz_invalid(out, outlen, "the error has no file:line:column");
    } else if (rc != 0 || err[0] != '\0') {
        return vtpm_fuzz_invalid(out, outlen, "a loaded file with an error message");
    }
    return true;
}

VTPM_FUZZ_ENTRY_POINT
