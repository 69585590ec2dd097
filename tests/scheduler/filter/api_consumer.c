/* SPDX-License-Identifier: Apache-2.0 */
/* A scheduler-side user of the installed libvtpm-filter: public header and the .so only (built by test_abi). */
#include <stdio.h>
#include <string.h>

#include <vtpm/filter.h>

/* Every exported function, so that a missing export fails the link. */
static void (*const exported[])(void) = {
    (void (*)(void))vtpm_code_name,
    (void (*)(void))vtpm_filter_add_owner_override_role,
    (void (*)(void))vtpm_filter_flags,
    (void (*)(void))vtpm_filter_free,
    (void (*)(void))vtpm_filter_guard,
    (void (*)(void))vtpm_filter_new,
    (void (*)(void))vtpm_filter_profile,
    (void (*)(void))vtpm_filter_translate,
    (void (*)(void))vtpm_filter_version,
    (void (*)(void))vtpm_host_check,
    (void (*)(void))vtpm_hosts_filter,
    (void (*)(void))vtpm_model_name,
    (void (*)(void))vtpm_operation_from_name,
    (void (*)(void))vtpm_operation_name,
    (void (*)(void))vtpm_profile_from_name,
    (void (*)(void))vtpm_request_free,
    (void (*)(void))vtpm_request_new,
    (void (*)(void))vtpm_request_parse_json,
    (void (*)(void))vtpm_request_reset,
    (void (*)(void))vtpm_request_set_flavor_spec,
    (void (*)(void))vtpm_request_set_image_property,
    (void (*)(void))vtpm_result_accepted,
    (void (*)(void))vtpm_result_code,
    (void (*)(void))vtpm_result_free,
    (void (*)(void))vtpm_result_message,
    (void (*)(void))vtpm_result_model,
    (void (*)(void))vtpm_result_new,
    (void (*)(void))vtpm_result_required_traits,
    (void (*)(void))vtpm_result_secret_security,
    (void (*)(void))vtpm_result_version,
    (void (*)(void))vtpm_secret_security_name,
    (void (*)(void))vtpm_status_name,
    (void (*)(void))vtpm_trait_from_name,
    (void (*)(void))vtpm_trait_name,
    (void (*)(void))vtpm_traitset_count,
    (void (*)(void))vtpm_traitset_from_names,
    (void (*)(void))vtpm_version_name,
    (void (*)(void))vtpm_filter_required_traits,
};

#define CHECK(cond) \
    do { \
        if (!(cond)) { \
            fprintf(stderr, "api_consumer: check failed: %s\n", #cond); \
            return 1; \
        } \
    } while (0)

int
main(void)
{
    static const char json[] =
        "{\"flavor\":{\"extra_specs\":{\"hw:tpm_version\":\"2.0\","
        "\"hw:tpm_secret_security\":\"host\"}},"
        "\"image\":{\"properties\":{\"hw_tpm_model\":\"tpm-crb\"}}}";
    const char *host_names[] = {
        "COMPUTE_SECURITY_TPM_2_0", "COMPUTE_SECURITY_TPM_CRB",
        "COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST", "HW_CPU_X86_AVX2",
    };
    vtpm_traitset hosts[2], missing;
    size_t passing[2], i;
    vtpm_error err;
    vtpm_filter *filter = vtpm_filter_new(VTPM_PROFILE_CURRENT, 0, &err);
    vtpm_request *req = vtpm_request_new();
    vtpm_result *res = vtpm_result_new();
    vtpm_guard_request greq;
    vtpm_profile profile;

    for (i = 0; i < sizeof(exported) / sizeof(exported[0]); i++)
        CHECK(exported[i] != NULL);
    CHECK(filter && req && res);
    CHECK(vtpm_request_parse_json(req, json, strlen(json), &err) == VTPM_OK);
    CHECK(vtpm_filter_translate(filter, req, res) == VTPM_OK);
    CHECK(vtpm_result_accepted(res));
    CHECK(strcmp(vtpm_version_name(vtpm_result_version(res)), "2.0") == 0);
    CHECK(strcmp(vtpm_model_name(vtpm_result_model(res)), "tpm-crb") == 0);
    CHECK(strcmp(vtpm_secret_security_name(vtpm_result_secret_security(res)), "host") == 0);
    CHECK(vtpm_traitset_count(vtpm_result_required_traits(res)) == 3);

    hosts[0] = vtpm_traitset_from_names(host_names, 4);
    hosts[1] = VTPM_TRAITSET_BIT(vtpm_trait_from_name("COMPUTE_SECURITY_TPM_2_0"));
    CHECK(vtpm_host_passes(vtpm_result_required_traits(res), hosts[0], NULL));
    CHECK(!vtpm_host_check(vtpm_result_required_traits(res), hosts[1], &missing));
    CHECK(strcmp(vtpm_trait_name(VTPM_TRAIT_TPM_CRB), "COMPUTE_SECURITY_TPM_CRB") == 0);
    CHECK(vtpm_hosts_filter(vtpm_result_required_traits(res), hosts, 2, passing) == 1);
    CHECK(passing[0] == 0);

    CHECK(vtpm_filter_add_owner_override_role(filter, "admin") == VTPM_OK);
    memset(&greq, 0, sizeof(greq));
    greq.instance = req;
    greq.owner = "alice";
    greq.requester = "bob";
    greq.operation = vtpm_operation_from_name("live-migrate");
    CHECK(strcmp(vtpm_operation_name(greq.operation), "live-migrate") == 0);
    CHECK(vtpm_filter_guard(filter, &greq, res) == VTPM_OK);
    CHECK(vtpm_result_accepted(res));
    greq.operation = VTPM_OP_REBUILD;
    CHECK(vtpm_filter_guard(filter, &greq, res) == VTPM_OK);
    CHECK(strcmp(vtpm_code_name(vtpm_result_code(res)), "operation_unsupported") == 0);
    CHECK(strlen(vtpm_result_message(res)) > 0);
    /* A name the guard does not know is refused, not taken as harmless. */
    CHECK(vtpm_operation_from_name("reboot") == VTPM_OP_OTHER);
    CHECK(vtpm_operation_from_name("rebiuld") == VTPM_OP_UNKNOWN);
    CHECK(vtpm_operation_from_name("reboot ") == VTPM_OP_UNKNOWN);
    CHECK(vtpm_operation_from_name(NULL) == VTPM_OP_UNKNOWN);
    CHECK(VTPM_OP_UNKNOWN == 8 && VTPM_CODE_UNKNOWN_OPERATION == 13);
    CHECK(strcmp(vtpm_operation_name(VTPM_OP_UNKNOWN), "unknown") == 0);
    greq.operation = vtpm_operation_from_name("Reboot");
    CHECK(vtpm_filter_guard(filter, &greq, res) == VTPM_OK);
    CHECK(strcmp(vtpm_code_name(vtpm_result_code(res)), "unknown_operation") == 0);

    vtpm_request_reset(req);
    CHECK(vtpm_request_set_flavor_spec(req, "hw:tpm_version", "1.2") == VTPM_OK);
    CHECK(vtpm_request_set_image_property(req, "hw_tpm_model", "tpm-crb") == VTPM_OK);
    CHECK(vtpm_filter_translate(filter, req, res) == VTPM_OK);
    CHECK(vtpm_result_code(res) == VTPM_CODE_CRB_REQUIRES_2_0);

    CHECK(vtpm_profile_from_name("legacy", &profile) == VTPM_OK);
    CHECK(profile == VTPM_PROFILE_LEGACY);
    CHECK(vtpm_filter_profile(filter) == VTPM_PROFILE_CURRENT);
    CHECK(vtpm_filter_flags(filter) == 0);
    CHECK(strcmp(vtpm_status_name(VTPM_ERR_BAD_INPUT), "bad_input") == 0);
    printf("vtpm-filter %s ok\n", vtpm_filter_version());

    vtpm_result_free(res);
    vtpm_request_free(req);
    vtpm_filter_free(filter);
    return 0;
}
