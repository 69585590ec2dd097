/* SPDX-License-Identifier: Apache-2.0 */
/* Example: a scheduler's loop over libvtpm-filter (translate, check hosts, guard). */
/*
 * Build it against an installed library:
 *
 *   cc -o filter_example filter_example.c $(pkg-config --cflags --libs vtpm-filter)
 *
 * The objects are made once and reused for every request: after the first
 * few requests, translating and checking hosts allocate nothing.
 */
#include <stdio.h>
#include <stdlib.h>

#include <vtpm/filter.h>

typedef struct {
    const char *key;
    const char *value;
} example_kv;

/* What a scheduler gets from Nova: a flavor's extra specs, an image's properties. */
typedef struct {
    const char *what;
    example_kv extra_specs[4]; /* NULL-terminated */
    example_kv properties[3];
} example_request;

/* What Placement reports for each compute host: many traits, a few ours. */
typedef struct {
    const char *name;
    const char *traits[8]; /* NULL-terminated */
} example_host;

static const example_request requests[] = {
    { "TPM 2.0 with a CRB interface",
      { { "hw:cpu_policy", "dedicated" }, { "hw:tpm_version", "2.0" },
        { "hw:tpm_model", "tpm-crb" }, { NULL, NULL } },
      { { "os_distro", "ubuntu" }, { NULL, NULL } } },
    { "TPM 2.0, secret held by the host",
      { { "hw:tpm_version", "2.0" }, { "hw:tpm_secret_security", "host" },
        { NULL, NULL } },
      { { NULL, NULL } } },
    { "no TPM at all",
      { { "hw:mem_page_size", "large" }, { NULL, NULL } },
      { { "hw_disk_bus", "virtio" }, { NULL, NULL } } },
    { "flavor and image disagree",
      { { "hw:tpm_version", "2.0" }, { NULL, NULL } },
      { { "hw_tpm_version", "1.2" }, { NULL, NULL } } },
};
#define N_REQUESTS (sizeof(requests) / sizeof(requests[0]))

static const example_host hosts[] = {
    { "compute-01", { "COMPUTE_SECURITY_TPM_2_0", "COMPUTE_SECURITY_TPM_TIS",
                      "COMPUTE_SECURITY_TPM_CRB",
                      "COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER",
                      "HW_CPU_X86_AVX2", NULL } },
    { "compute-02", { "COMPUTE_SECURITY_TPM_2_0", "COMPUTE_SECURITY_TPM_TIS",
                      "COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER",
                      "COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST", NULL } },
    { "compute-03", { "HW_CPU_X86_AVX2", "COMPUTE_VOLUME_MULTI_ATTACH", NULL } },
    { "compute-04", { "COMPUTE_SECURITY_TPM_1_2", "COMPUTE_SECURITY_TPM_2_0",
                      "COMPUTE_SECURITY_TPM_TIS", "COMPUTE_SECURITY_TPM_CRB",
                      "COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER",
                      "COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST", NULL } },
};
#define N_HOSTS (sizeof(hosts) / sizeof(hosts[0]))

/* Prints the names of the traits in @set, comma-separated. */
static void
traits_print(vtpm_traitset set)
{
    const char *sep = "";
    int t;

    /* vtpm_trait_name() is NULL past the last trait the library knows */
    for (t = 0; vtpm_trait_name((vtpm_trait)t); t++) {
        if (set & VTPM_TRAITSET_BIT(t)) {
            printf("%s%s", sep, vtpm_trait_name((vtpm_trait)t));
            sep = ", ";
        }
    }
    if (!*sep)
        printf("(none)");
}

/* Resets @req and records every extra spec and image property of @r. */
static vtpm_status
request_fill(vtpm_request *req, const example_request *r)
{
    vtpm_status st = VTPM_OK;
    size_t i;

    vtpm_request_reset(req);
    for (i = 0; st == VTPM_OK && r->extra_specs[i].key; i++)
        st = vtpm_request_set_flavor_spec(req, r->extra_specs[i].key,
                                          r->extra_specs[i].value);
    for (i = 0; st == VTPM_OK && r->properties[i].key; i++)
        st = vtpm_request_set_image_property(req, r->properties[i].key,
                                             r->properties[i].value);
    return st;
}

/* One scheduling request: translate it, then keep the hosts that pass. */
static int
schedule(const vtpm_filter *filter, vtpm_request *req, vtpm_result *res,
         const example_request *r, const vtpm_traitset *host_traits,
         size_t *passing)
{
    vtpm_traitset required, missing;
    vtpm_status st;
    size_t i, n;

    st = request_fill(req, r);
    if (st == VTPM_OK)
        st = vtpm_filter_translate(filter, req, res);
    if (st != VTPM_OK) {
        fprintf(stderr, "filter_example: cannot translate '%s': %s\n", r->what,
                vtpm_status_name(st));
        return -1;
    }

    printf("request: %s\n", r->what);
    if (!vtpm_result_accepted(res)) {
        /* Nova would refuse this request: tell the user why. */
        printf("  refused: %s: %s\n", vtpm_code_name(vtpm_result_code(res)),
               vtpm_result_message(res));
        return 0;
    }
    if (vtpm_result_version(res) == VTPM_VERSION_NONE) {
        printf("  no vTPM requested: every host passes this filter\n");
        return 0;
    }
    required = vtpm_result_required_traits(res);
    printf("  vTPM %s, model %s, secret security %s\n",
           vtpm_version_name(vtpm_result_version(res)),
           vtpm_model_name(vtpm_result_model(res)),
           vtpm_secret_security_name(vtpm_result_secret_security(res)));
    printf("  required traits: ");
    traits_print(required);
    printf("\n");

    /* The batch call: indexes of the hosts that have every required trait. */
    n = vtpm_hosts_filter(required, host_traits, N_HOSTS, passing);
    printf("  %zu of %zu hosts pass:", n, N_HOSTS);
    for (i = 0; i < n; i++)
        printf(" %s", hosts[passing[i]].name);
    printf("\n");

    /* The per-host check, inline, also says what a host lacks. */
    for (i = 0; i < N_HOSTS; i++) {
        if (!vtpm_host_passes(required, host_traits[i], &missing)) {
            printf("  %s lacks ", hosts[i].name);
            traits_print(missing);
            printf("\n");
        }
    }
    return 0;
}

/* Asks the guard whether @op may run on the server built from @instance. */
static int
guard(const vtpm_filter *filter, vtpm_request *instance, vtpm_result *res,
      const char *op, const char *requester, const char *const *roles,
      size_t n_roles)
{
    vtpm_guard_request greq = {
        .instance = instance,
        .owner = "alice",
        .operation = vtpm_operation_from_name(op),
        .new_flavor = NULL,
        .requester = requester,
        .roles = roles,
        .n_roles = n_roles,
    };
    vtpm_status st = vtpm_filter_guard(filter, &greq, res);

    if (st != VTPM_OK) {
        fprintf(stderr, "filter_example: cannot guard '%s': %s\n", op,
                vtpm_status_name(st));
        return -1;
    }
    if (vtpm_result_accepted(res))
        printf("  %s by %s: allowed\n", op, requester);
    else
        printf("  %s by %s: refused: %s: %s\n", op, requester,
               vtpm_code_name(vtpm_result_code(res)), vtpm_result_message(res));
    return 0;
}

int
main(void)
{
    static const char *const admin_roles[] = { "member", "admin" };
    vtpm_traitset host_traits[N_HOSTS];
    size_t passing[N_HOSTS];
    vtpm_filter *filter = NULL;
    vtpm_request *req = NULL;
    vtpm_result *res = NULL;
    vtpm_error err = { 0 };
    int ret = EXIT_FAILURE;
    size_t i, n;

    /* Once, at scheduler start: the filter is immutable afterwards and can
     * be shared by every thread. */
    filter = vtpm_filter_new(VTPM_PROFILE_CURRENT, 0, &err);
    if (!filter) {
        fprintf(stderr, "filter_example: cannot create the filter: %s\n",
                err.message);
        goto out;
    }
    if (vtpm_filter_add_owner_override_role(filter, "admin") != VTPM_OK) {
        fprintf(stderr, "filter_example: cannot add the override role\n");
        goto out;
    }

    /* Once per thread: a request and a result, reused for every call. */
    req = vtpm_request_new();
    res = vtpm_result_new();
    if (!req || !res) {
        fprintf(stderr, "filter_example: out of memory\n");
        goto out;
    }

    /* Whenever the inventory changes: trait names become bits, once. */
    for (i = 0; i < N_HOSTS; i++) {
        for (n = 0; hosts[i].traits[n]; n++)
            ;
        host_traits[i] = vtpm_traitset_from_names(hosts[i].traits, n);
    }

    /* For every scheduling request. */
    for (i = 0; i < N_REQUESTS; i++) {
        if (schedule(filter, req, res, &requests[i], host_traits, passing) != 0)
            goto out;
    }

    /* Operations on a running server (alice's, from the first request:
     * TPM 2.0, secret security "user"). */
    printf("server of alice: %s\n", requests[0].what);
    if (request_fill(req, &requests[0]) != VTPM_OK ||
        guard(filter, req, res, "live-migrate", "alice", NULL, 0) != 0 ||
        guard(filter, req, res, "shelve", "alice", NULL, 0) != 0 ||
        guard(filter, req, res, "cold-migrate", "bob", NULL, 0) != 0 ||
        guard(filter, req, res, "cold-migrate", "carol", admin_roles, 2) != 0 ||
        guard(filter, req, res, "reboot", "alice", NULL, 0) != 0)
        goto out;
    ret = EXIT_SUCCESS;

out:
    vtpm_result_free(res);
    vtpm_request_free(req);
    vtpm_filter_free(filter);
    return ret;
}
