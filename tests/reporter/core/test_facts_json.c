/* SPDX-License-Identifier: Apache-2.0 */
/* Facts and reports as JSON: round trip, the probe document's shape, odd bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "facts_json.h"

static void
sample_facts(vtpm_facts *f)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->host, sizeof(f->host), "compute-1");
    f->libvirt.status = VTPM_PROBE_OK;
    f->libvirt.libvirt_version = 9000000;
    f->libvirt.hypervisor_version = 7002022;
    snprintf(f->libvirt.hypervisor, sizeof(f->libvirt.hypervisor), "QEMU");
    snprintf(f->libvirt.arch, sizeof(f->libvirt.arch), "x86_64");
    snprintf(f->libvirt.virt_type, sizeof(f->libvirt.virt_type), "kvm");
    f->libvirt.tpm_element = f->libvirt.tpm_supported = f->libvirt.model_crb = true;
    f->libvirt.backend_version_element = f->libvirt.backend_2_0 = true;
    f->swtpm.status = VTPM_PROBE_FAILED;
    snprintf(f->swtpm.error, sizeof(f->swtpm.error), "swtpm_ioctl not found");
    f->swtpm.swtpm.found = true;
    snprintf(f->swtpm.swtpm.path, sizeof(f->swtpm.swtpm.path), "/usr/bin/swtpm");
    snprintf(f->swtpm.features, sizeof(f->swtpm.features), "tpm-2.0,cmdarg-seccomp");
    f->swtpm.tpm_2_0 = true;
    f->swtpm.from_cache = true;
    f->swtpm.pwd_fd = true;
    f->swtpm.setup_caps = true;
    snprintf(f->swtpm.setup_version, sizeof(f->swtpm.setup_version), "0.7.1");
    snprintf(f->swtpm.setup_features, sizeof(f->swtpm.setup_features),
             "tpm-2.0,cmdarg-pwdfile-fd");
    f->system.status = VTPM_PROBE_OK;
    f->system.key_manager_status = VTPM_PROBE_INCONCLUSIVE;
    f->system.key_manager_http_status = 503;
    f->deep.status = VTPM_PROBE_FAILED;
    f->deep.tpm_2_0 = VTPM_PROBE_FAILED;
    snprintf(f->deep.error_2_0, sizeof(f->deep.error_2_0), "exit 1");
}

static void
test_facts_json_round_trip_is_exact(void **state)
{
    vtpm_facts in, out;
    json_t *json;
    char err[256];

    (void)state;
    sample_facts(&in);
    json = vtpm_facts_to_json(&in);
    assert_non_null(json);
    assert_int_equal(vtpm_facts_from_json(json, &out, err, sizeof(err)), 0);
    assert_memory_equal(&in, &out, sizeof(in));
    json_decref(json);
}

static void
test_facts_json_names_statuses_and_versions(void **state)
{
    vtpm_facts f;
    char *text;

    (void)state;
    sample_facts(&f);
    text = vtpm_facts_to_string(&f);
    assert_non_null(text);
    assert_non_null(strstr(text, "\"libvirt_version\":\"9.0.0\""));
    assert_non_null(strstr(text, "\"hypervisor_version\":\"7.2.22\""));
    assert_non_null(strstr(text, "\"key_manager_status\":\"inconclusive\""));
    assert_non_null(strstr(text, "\"features\":[\"tpm-2.0\",\"cmdarg-seccomp\"]"));
    assert_non_null(strstr(text, "\"swtpm_ioctl\":{\"found\":false,\"path\":null}"));
    assert_non_null(strstr(text, "\"pwd_fd\":true"));
    assert_non_null(strstr(text, "\"setup_version\":\"0.7.1\""));
    assert_non_null(strstr(text, "\"setup_pwdfile_fd\":false"));
    assert_non_null(strstr(text, "\"setup_features\":[\"tpm-2.0\",\"cmdarg-pwdfile-fd\"]"));
    free(text);
}

static void
test_facts_json_rejects_unknown_members(void **state)
{
    vtpm_facts f;
    char err[256];
    json_t *json = json_pack("{s:{s:s}}", "libvirt", "statuz", "ok");

    (void)state;
    assert_int_equal(vtpm_facts_from_json(json, &f, err, sizeof(err)), -1);
    assert_string_equal(err, "unknown facts member 'libvirt.statuz'");
    json_decref(json);
    json = json_pack("{s:{s:s}}", "swtpm", "status", "fine");
    assert_int_equal(vtpm_facts_from_json(json, &f, err, sizeof(err)), -1);
    assert_string_equal(err, "bad value for facts member 'swtpm.status'");
    json_decref(json);
}

/* What probes copy from other programs may not be UTF-8; the document must stay valid. */
static void
test_facts_json_survives_bytes_that_are_not_utf8(void **state)
{
    vtpm_facts f;
    vtpm_report r = { 0 };
    json_t *doc;
    char *text;

    (void)state;
    sample_facts(&f);
    snprintf(f.libvirt.error, sizeof(f.libvirt.error), "bad \xff\xfe bytes");
    snprintf(r.traits[0].reason, sizeof(r.traits[0].reason), "odd \xc3 reason");
    doc = vtpm_report_to_json(&f, &r, NULL);
    assert_non_null(doc);
    text = json_dumps(doc, JSON_COMPACT);
    assert_non_null(strstr(text, "bad \\\\xff\\\\xfe bytes"));
    free(text);
    json_decref(doc);
}

static void
test_report_json_has_every_trait_and_warning(void **state)
{
    vtpm_facts f;
    vtpm_report r = { 0 };
    vtpm_warnings w = { 0 };
    json_t *doc, *traits, *t;

    (void)state;
    sample_facts(&f);
    snprintf(r.host, sizeof(r.host), "compute-1");
    r.inconclusive = true;
    snprintf(r.inconclusive_reason, sizeof(r.inconclusive_reason), "libvirt did not answer");
    r.traits[VTPM_TRAIT_TPM_2_0].state = VTPM_TRAIT_STATE_PRESENT;
    r.traits[VTPM_TRAIT_TPM_2_0].reason_code = "ok";
    w.count = 1;
    snprintf(w.text[0], sizeof(w.text[0]), "something to know");
    doc = vtpm_report_to_json(&f, &r, &w);
    assert_non_null(doc);
    assert_int_equal(json_integer_value(json_object_get(doc, "format")), 1);
    assert_true(json_is_true(json_object_get(doc, "inconclusive")));
    assert_string_equal(json_string_value(json_object_get(doc, "inconclusive_reason")),
                        "libvirt did not answer");
    assert_true(json_is_null(json_object_get(doc, "provider_uuid")));
    traits = json_object_get(doc, "traits");
    assert_int_equal(json_object_size(traits), VTPM_TRAIT_COUNT);
    t = json_object_get(traits, "COMPUTE_SECURITY_TPM_2_0");
    assert_true(json_is_true(json_object_get(t, "present")));
    assert_string_equal(json_string_value(json_object_get(t, "reason_code")), "ok");
    t = json_object_get(traits, "COMPUTE_SECURITY_TPM_SECRET_SECURITY_DEPLOYMENT");
    assert_true(json_is_false(json_object_get(t, "present")));
    assert_int_equal(json_array_size(json_object_get(doc, "warnings")), 1);
    assert_true(json_is_object(json_object_get(json_object_get(doc, "facts"), "deep")));
    json_decref(doc);
}

int
main(void)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_facts_json_round_trip_is_exact),
        cmocka_unit_test(test_facts_json_names_statuses_and_versions),
        cmocka_unit_test(test_facts_json_rejects_unknown_members),
        cmocka_unit_test(test_facts_json_survives_bytes_that_are_not_utf8),
        cmocka_unit_test(test_report_json_has_every_trait_and_warning),
    };

    return cmocka_run_group_tests_name("facts_json", tests, NULL, NULL);
}
