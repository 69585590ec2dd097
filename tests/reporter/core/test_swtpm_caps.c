/* SPDX-License-Identifier: Apache-2.0 */
/* Golden tests of the swtpm capability parser over tests/data/swtpm/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "golden.h"
#include "swtpm_caps.h"

static int
swtpm_case(const vtpm_golden_case *c, FILE *out)
{
    char path[1200], err[256] = "";
    vtpm_swtpm_facts facts;
    size_t len;
    char *json;

    snprintf(path, sizeof(path), "%s/input.json", c->dir);
    json = vtpm_golden_read(path, &len);
    if (!json)
        return -1;
    memset(&facts, 0, sizeof(facts));
    facts.status = VTPM_PROBE_OK;
    facts.swtpm.found = true;
    facts.tpm_1_2 = true; /* must be reset */
    facts.pwd_fd = true;
    facts.setup_pwdfile_fd = true;
    snprintf(facts.version, sizeof(facts.version), "stale");
    if (vtpm_swtpm_caps_parse(json, len, &facts, err, sizeof(err)) < 0) {
        fprintf(out, "error: %s\n", err);
        fprintf(out, "tpm_1_2: %s\nversion: %s\n", facts.tpm_1_2 ? "yes" : "no", facts.version);
        fprintf(out, "pwd_fd: %s\nsetup_pwdfile_fd: %s\n", facts.pwd_fd ? "yes" : "no",
                facts.setup_pwdfile_fd ? "yes" : "no");
    } else {
        fprintf(out, "version: %s\n", facts.version);
        fprintf(out, "tpm_1_2: %s\ntpm_2_0: %s\n", facts.tpm_1_2 ? "yes" : "no",
                facts.tpm_2_0 ? "yes" : "no");
        fprintf(out, "pwd_fd: %s\nsetup_pwdfile_fd: %s\n", facts.pwd_fd ? "yes" : "no",
                facts.setup_pwdfile_fd ? "yes" : "no");
        fprintf(out, "features: %s\n", facts.features);
    }
    fprintf(out, "untouched: status %d, swtpm found %d\n", (int)facts.status,
            (int)facts.swtpm.found);
    free(json);
    return 0;
}

static void
test_swtpm_caps_parse_honours_length(void **state)
{
    static const char doc[] = "{\"features\":[\"tpm-2.0\"]}garbage";
    vtpm_swtpm_facts facts = { 0 };
    char err[256];

    (void)state;
    assert_int_equal(vtpm_swtpm_caps_parse(doc, strlen(doc) - 7, &facts, err, sizeof(err)), 0);
    assert_true(facts.tpm_2_0);
    assert_int_equal(vtpm_swtpm_caps_parse(doc, strlen(doc), &facts, err, sizeof(err)), -1);
}

static void
test_swtpm_caps_parse_embedded_nul_is_an_error(void **state)
{
    static const char doc[] = "{\"features\":[\"tpm-2.0\"]}\0{}";
    vtpm_swtpm_facts facts = { 0 };
    char err[256];

    (void)state;
    assert_int_equal(vtpm_swtpm_caps_parse(doc, sizeof(doc) - 1, &facts, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not valid JSON"));
}

int
main(void)
{
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_swtpm_caps_parse_honours_length),
        cmocka_unit_test(test_swtpm_caps_parse_embedded_nul_is_an_error),
    };
    struct CMUnitTest *tests = NULL;
    size_t n = 0;

    vtpm_tests_add(&tests, &n, fixed, sizeof(fixed) / sizeof(fixed[0]));
    if (vtpm_golden_add(&tests, &n, "swtpm", "expected.txt", swtpm_case) < 0)
        return 1;
    return vtpm_tests_run("swtpm_caps", tests, n);
}
