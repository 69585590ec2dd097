/* SPDX-License-Identifier: Apache-2.0 */
/* Golden tests of the domain-capabilities parser over tests/data/domcaps/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "domcaps.h"
#include "golden.h"

static const char *
yes(bool b)
{
    return b ? "yes" : "no";
}

/* Prints what the parser made of input.xml, or its error. */
static int
domcaps_case(const vtpm_golden_case *c, FILE *out)
{
    char path[1200], err[256] = "";
    vtpm_libvirt_facts facts;
    size_t len;
    char *xml;

    snprintf(path, sizeof(path), "%s/input.xml", c->dir);
    xml = vtpm_golden_read(path, &len);
    if (!xml)
        return -1;
    /* fields the parser must leave alone, and ones it must reset */
    memset(&facts, 0, sizeof(facts));
    facts.status = VTPM_PROBE_OK;
    facts.libvirt_version = 9000000;
    snprintf(facts.virt_type, sizeof(facts.virt_type), "asked");
    snprintf(facts.arch, sizeof(facts.arch), "asked");
    facts.tpm_supported = true;
    facts.backend_2_0 = true;
    if (vtpm_domcaps_parse(xml, len, &facts, err, sizeof(err)) < 0) {
        fprintf(out, "error: %s\n", err);
        fprintf(out, "tpm_supported: %s\n", yes(facts.tpm_supported));
    } else {
        fprintf(out, "arch: %s\nvirt_type: %s\n", facts.arch, facts.virt_type);
        fprintf(out, "tpm_element: %s\ntpm_supported: %s\n", yes(facts.tpm_element),
                yes(facts.tpm_supported));
        fprintf(out, "model_tis: %s\nmodel_crb: %s\n", yes(facts.model_tis), yes(facts.model_crb));
        fprintf(out, "backend_emulator: %s\n", yes(facts.backend_emulator));
        fprintf(out, "backend_version_element: %s\nbackend_1_2: %s\nbackend_2_0: %s\n",
                yes(facts.backend_version_element), yes(facts.backend_1_2),
                yes(facts.backend_2_0));
    }
    fprintf(out, "untouched: status %d, libvirt_version %lu\n", (int)facts.status,
            facts.libvirt_version);
    free(xml);
    return 0;
}

/* The length is honoured: the parser must not read past it. */
static void
test_domcaps_parse_honours_length(void **state)
{
    static const char doc[] = "<domainCapabilities><domain>kvm</domain></domainCapabilities>"
                              "<trailing/>";
    vtpm_libvirt_facts facts = { 0 };
    char err[256];

    (void)state;
    assert_int_equal(vtpm_domcaps_parse(doc, strlen(doc) - strlen("<trailing/>"), &facts, err,
                                        sizeof(err)),
                     0);
    assert_string_equal(facts.virt_type, "kvm");
    assert_int_equal(vtpm_domcaps_parse(doc, strlen(doc), &facts, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not valid XML"));
}

static void
test_domcaps_parse_null_input_is_an_error(void **state)
{
    vtpm_libvirt_facts facts = { 0 };
    char err[256];

    (void)state;
    assert_int_equal(vtpm_domcaps_parse(NULL, 0, &facts, err, sizeof(err)), -1);
    assert_string_equal(err, "domain capabilities are empty");
}

int
main(void)
{
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_domcaps_parse_honours_length),
        cmocka_unit_test(test_domcaps_parse_null_input_is_an_error),
    };
    struct CMUnitTest *tests = NULL;
    size_t n = 0;

    vtpm_tests_add(&tests, &n, fixed, sizeof(fixed) / sizeof(fixed[0]));
    if (vtpm_golden_add(&tests, &n, "domcaps", "expected.txt", domcaps_case) < 0)
        return 1;
    return vtpm_tests_run("domcaps", tests, n);
}
