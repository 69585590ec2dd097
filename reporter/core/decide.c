/* SPDX-License-Identifier: Apache-2.0 */
/* decide(): the seven managed traits of a host from its facts, each with its reason. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <vtpm/filter.h>

#include "decide.h"
#include "util.h"

#define SECRET_BIT(mode) (1u << (mode))

const char *const vtpm_decide_reason_codes[] = {
    /* present */
    "ok", "ok_swtpm_only", "ok_assumed",
    /* the configuration */
    "swtpm_disabled", "virt_type_unsupported", "key_manager_not_configured",
    /* a probe could not conclude */
    "inconclusive",
    /* the host as a whole */
    "libvirt_failed", "libvirt_tpm_unsupported", "libvirt_no_emulator", "swtpm_missing",
    "swtpm_user_missing", "swtpm_group_missing", "key_manager_failed", "swtpm_failed",
    "swtpm_no_passphrase_fd",
    /* one trait */
    "swtpm_no_tpm_1_2", "swtpm_no_tpm_2_0", "libvirt_no_tpm_1_2", "libvirt_no_tpm_2_0",
    "deep_probe_failed", "no_tpm_version", "libvirt_no_tpm_tis", "libvirt_no_tpm_crb",
    "crb_needs_tpm_2_0", "qemu_no_tpm_crb", "secret_security_not_configured",
    NULL,
};

char *
vtpm_version_format(unsigned long version, char *buf, size_t size)
{
    if (version == 0)
        return vtpm_strfmt(buf, size, "unknown");
    return vtpm_strfmt(buf, size, "%lu.%lu.%lu", version / 1000000, (version / 1000) % 1000,
                       version % 1000);
}

static void decide_set(vtpm_report *report, vtpm_trait trait, bool present, const char *code,
                       const char *fmt, ...) VTPM_PRINTF(5, 6);

static void
decide_set(vtpm_report *report, vtpm_trait trait, bool present, const char *code,
           const char *fmt, ...)
{
    vtpm_trait_decision *d = &report->traits[trait];
    va_list ap;

    d->state = present ? VTPM_TRAIT_STATE_PRESENT : VTPM_TRAIT_STATE_ABSENT;
    d->reason_code = code;
    va_start(ap, fmt);
    vtpm_vstrfmt(d->reason, sizeof(d->reason), fmt, ap);
    va_end(ap);
}

/* Every trait absent for one reason: the host cannot run any vTPM. */
static void decide_all_absent(vtpm_report *report, const char *code, const char *fmt, ...)
    VTPM_PRINTF(3, 4);

static void
decide_all_absent(vtpm_report *report, const char *code, const char *fmt, ...)
{
    char reason[256];
    va_list ap;

    va_start(ap, fmt);
    vtpm_vstrfmt(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    for (int t = 0; t < VTPM_TRAIT_COUNT; t++)
        decide_set(report, (vtpm_trait)t, false, code, "%s", reason);
}

static bool
decide_virt_type_ok(const char *virt_type)
{
    return virt_type && (strcmp(virt_type, "kvm") == 0 || strcmp(virt_type, "qemu") == 0);
}

/* Joins the search path for messages. */
static const char *
decide_search_path(const vtpm_conf *conf, char *buf, size_t size)
{
    size_t used = 0;

    buf[0] = '\0';
    for (char **p = conf->swtpm_search_path; p && *p; p++) {
        int n = snprintf(buf + used, size - used, "%s%s", used ? ":" : "", *p);

        if (n < 0 || (size_t)n >= size - used) {
            memcpy(buf + size - 4, "...", 4);
            break;
        }
        used += (size_t)n;
    }
    return buf[0] ? buf : "(empty)";
}

/*
 * Why the report cannot be concluded, or NULL. Only probes the answer depends
 * on count: the caller has already settled what the configuration alone decides.
 */
static const char *
decide_inconclusive(const vtpm_facts *facts, const vtpm_conf *conf, char *buf, size_t size)
{
    const vtpm_libvirt_facts *lv = &facts->libvirt;
    const vtpm_swtpm_facts *sw = &facts->swtpm;
    const vtpm_system_facts *sys = &facts->system;
    const vtpm_deep_facts *deep = &facts->deep;

    if (lv->status == VTPM_PROBE_NOT_RUN)
        return vtpm_strfmt(buf, size, "libvirt was not probed");
    if (lv->status == VTPM_PROBE_INCONCLUSIVE)
        return vtpm_strfmt(buf, size, "libvirt did not answer: %s",
                           lv->error[0] ? lv->error : "no detail");
    if (sw->status == VTPM_PROBE_NOT_RUN)
        return vtpm_strfmt(buf, size, "swtpm was not probed");
    if (sw->status == VTPM_PROBE_INCONCLUSIVE)
        return vtpm_strfmt(buf, size, "swtpm capabilities unknown: %s",
                           sw->error[0] ? sw->error : "no detail");
    if (sys->status == VTPM_PROBE_NOT_RUN)
        return vtpm_strfmt(buf, size, "the swtpm user and group were not checked");
    if (sys->status == VTPM_PROBE_INCONCLUSIVE)
        return vtpm_strfmt(buf, size, "cannot tell whether swtpm user '%s' and group '%s' exist",
                           conf->swtpm_user, conf->swtpm_group);
    if (conf->key_manager_check) {
        if (sys->key_manager_status == VTPM_PROBE_NOT_RUN)
            return vtpm_strfmt(buf, size, "the key manager was not checked");
        if (sys->key_manager_status == VTPM_PROBE_INCONCLUSIVE)
            return vtpm_strfmt(buf, size, "key manager %s unreachable: %s",
                               conf->key_manager_url ? conf->key_manager_url : "",
                               sys->key_manager_error[0] ? sys->key_manager_error
                                                         : "no detail");
    }
    if (deep->status == VTPM_PROBE_INCONCLUSIVE)
        return vtpm_strfmt(buf, size, "deep probe could not conclude: %s",
                           deep->error_2_0[0]   ? deep->error_2_0
                           : deep->error_1_2[0] ? deep->error_1_2
                                                : "no detail");
    if (deep->tpm_2_0 == VTPM_PROBE_INCONCLUSIVE)
        return vtpm_strfmt(buf, size, "deep probe of TPM 2.0 could not conclude: %s",
                           deep->error_2_0[0] ? deep->error_2_0 : "no detail");
    if (deep->tpm_1_2 == VTPM_PROBE_INCONCLUSIVE)
        return vtpm_strfmt(buf, size, "deep probe of TPM 1.2 could not conclude: %s",
                           deep->error_1_2[0] ? deep->error_1_2 : "no detail");
    return NULL;
}

/* "swtpm 0.7.1", "swtpm (version unknown)", "swtpm_setup (no capabilities printed)". */
static const char *
decide_binary_label(const char *name, bool printed_caps, const char *version, char *buf,
                    size_t size)
{
    if (!printed_caps)
        return vtpm_strfmt(buf, size, "%s (no capabilities printed)", name);
    if (!version[0])
        return vtpm_strfmt(buf, size, "%s (version unknown)", name);
    return vtpm_strfmt(buf, size, "%s %s", name, version);
}

/*
 * Nova always asks for an encrypted TPM state. libvirt passes the passphrase
 * to swtpm_setup (--pwdfile-fd) and swtpm (--key pwdfd=) on a file
 * descriptor, and refuses to start the TPM when the binary's
 * --print-capabilities lacks the feature; it takes a binary whose
 * --print-capabilities fails as one without features. Returns false, with
 * every trait set absent, when one of the two is missing.
 */
static bool
decide_passphrase_fd(const vtpm_swtpm_facts *sw, vtpm_report *report)
{
    char swtpm[64], setup[64];

    if (sw->pwd_fd && sw->setup_pwdfile_fd)
        return true;
    decide_binary_label("swtpm", true, sw->version, swtpm, sizeof(swtpm));
    decide_binary_label("swtpm_setup", sw->setup_caps, sw->setup_version, setup,
                        sizeof(setup));
    if (!sw->pwd_fd && !sw->setup_pwdfile_fd)
        decide_all_absent(report, "swtpm_no_passphrase_fd",
                          "%s and %s cannot read a passphrase from a file descriptor "
                          "(no cmdarg-pwd-fd, no cmdarg-pwdfile-fd), which libvirt needs for "
                          "the encrypted TPM state Nova requests", swtpm, setup);
    else
        decide_all_absent(report, "swtpm_no_passphrase_fd",
                          "%s cannot read a passphrase from a file descriptor (no %s), which "
                          "libvirt needs for the encrypted TPM state Nova requests",
                          sw->pwd_fd ? setup : swtpm,
                          sw->pwd_fd ? "cmdarg-pwdfile-fd" : "cmdarg-pwd-fd");
    return false;
}

/*
 * The host-wide requirements that probes settle. Returns false, with every
 * trait set absent, when one of them fails.
 */
static bool
decide_host_requirements(const vtpm_facts *facts, const vtpm_conf *conf, vtpm_report *report)
{
    const vtpm_libvirt_facts *lv = &facts->libvirt;
    const vtpm_swtpm_facts *sw = &facts->swtpm;
    const vtpm_system_facts *sys = &facts->system;
    char lver[32], path[160];
    const vtpm_binary_facts *bins[] = { &sw->swtpm, &sw->swtpm_setup, &sw->swtpm_ioctl };
    static const char *const bin_names[] = { "swtpm", "swtpm_setup", "swtpm_ioctl" };

    vtpm_version_format(lv->libvirt_version, lver, sizeof(lver));
    if (lv->status == VTPM_PROBE_FAILED) {
        decide_all_absent(report, "libvirt_failed", "libvirt cannot run %s domains: %s",
                          conf->virt_type, lv->error[0] ? lv->error : "no detail");
        return false;
    }
    if (lv->tpm_element && !lv->tpm_supported) {
        decide_all_absent(report, "libvirt_tpm_unsupported",
                          "libvirt %s reports <tpm supported='no'> for %s on %s", lver,
                          lv->virt_type[0] ? lv->virt_type : conf->virt_type,
                          lv->arch[0] ? lv->arch : "this host");
        return false;
    }
    if (lv->tpm_element && !lv->backend_emulator) {
        decide_all_absent(report, "libvirt_no_emulator",
                          "libvirt %s lists no 'emulator' TPM backend, so it cannot run swtpm",
                          lver);
        return false;
    }
    /* libvirt older than 8.0 says nothing about TPM: the binaries decide */
    for (size_t i = 0; i < VTPM_N_ELEMENTS(bins); i++) {
        if (!bins[i]->found) {
            decide_all_absent(report, "swtpm_missing", "%s not found on the search path %s",
                              bin_names[i], decide_search_path(conf, path, sizeof(path)));
            return false;
        }
    }
    if (!sys->user_exists) {
        decide_all_absent(report, "swtpm_user_missing", "swtpm user '%s' does not exist",
                          conf->swtpm_user);
        return false;
    }
    if (!sys->group_exists) {
        decide_all_absent(report, "swtpm_group_missing", "swtpm group '%s' does not exist",
                          conf->swtpm_group);
        return false;
    }
    if (conf->key_manager_check && sys->key_manager_status == VTPM_PROBE_FAILED) {
        decide_all_absent(report, "key_manager_failed", "key manager %s is not usable: %s",
                          conf->key_manager_url ? conf->key_manager_url : "",
                          sys->key_manager_error[0] ? sys->key_manager_error : "no detail");
        return false;
    }
    if (sw->status == VTPM_PROBE_FAILED) {
        decide_all_absent(report, "swtpm_failed", "swtpm capabilities unreadable: %s",
                          sw->error[0] ? sw->error : "no detail");
        return false;
    }
    return decide_passphrase_fd(sw, report);
}

/* One TPM version trait. Returns whether it is present. */
static bool
decide_version(const vtpm_facts *facts, vtpm_report *report, vtpm_trait trait, const char *name)
{
    const vtpm_libvirt_facts *lv = &facts->libvirt;
    const vtpm_swtpm_facts *sw = &facts->swtpm;
    const vtpm_deep_facts *deep = &facts->deep;
    bool is_1_2 = trait == VTPM_TRAIT_TPM_1_2;
    bool in_swtpm = is_1_2 ? sw->tpm_1_2 : sw->tpm_2_0;
    bool in_libvirt = is_1_2 ? lv->backend_1_2 : lv->backend_2_0;
    vtpm_probe_status deep_status = is_1_2 ? deep->tpm_1_2 : deep->tpm_2_0;
    const char *deep_error = is_1_2 ? deep->error_1_2 : deep->error_2_0;
    char swver[48], lver[32];
    const char *deep_note = deep_status == VTPM_PROBE_OK ? "; deep probe passed" : "";

    if (sw->version[0])
        vtpm_strfmt(swver, sizeof(swver), "swtpm %s", sw->version);
    else
        vtpm_strfmt(swver, sizeof(swver), "swtpm (version unknown)");
    vtpm_version_format(lv->libvirt_version, lver, sizeof(lver));

    /* swtpm first: libvirt >= 8.6 derives backendVersion from it, and the
     * swtpm build is what the operator can change */
    if (!in_swtpm) {
        decide_set(report, trait, false, is_1_2 ? "swtpm_no_tpm_1_2" : "swtpm_no_tpm_2_0",
                   "%s was built without TPM %s (features: %s)", swver, name,
                   sw->features[0] ? sw->features : "none");
        return false;
    }
    if (lv->backend_version_element && !in_libvirt) {
        decide_set(report, trait, false, is_1_2 ? "libvirt_no_tpm_1_2" : "libvirt_no_tpm_2_0",
                   "libvirt %s does not list TPM %s as a backendVersion", lver, name);
        return false;
    }
    if (deep_status == VTPM_PROBE_FAILED) {
        decide_set(report, trait, false, "deep_probe_failed",
                   "a real swtpm for TPM %s failed: %s", name,
                   deep_error[0] ? deep_error : "no detail");
        return false;
    }
    if (lv->backend_version_element)
        decide_set(report, trait, true, "ok", "%s and libvirt %s support TPM %s%s", swver, lver,
                   name, deep_note);
    else
        decide_set(report, trait, true, "ok_swtpm_only",
                   "%s supports TPM %s (libvirt %s lists no versions before 8.6)%s", swver,
                   name, lver, deep_note);
    return true;
}

/* True for the architectures where QEMU has a tpm-crb device. */
static bool
decide_arch_has_crb(const char *arch)
{
    return strcmp(arch, "x86_64") == 0 || strcmp(arch, "i686") == 0;
}

static void
decide_models(const vtpm_facts *facts, vtpm_report *report, bool tpm_2_0)
{
    const vtpm_libvirt_facts *lv = &facts->libvirt;
    char lver[32], qver[32];

    vtpm_version_format(lv->libvirt_version, lver, sizeof(lver));
    vtpm_version_format(lv->hypervisor_version, qver, sizeof(qver));
    if (lv->tpm_element) {
        if (lv->model_tis)
            decide_set(report, VTPM_TRAIT_TPM_TIS, true, "ok", "libvirt %s lists tpm-tis", lver);
        else
            decide_set(report, VTPM_TRAIT_TPM_TIS, false, "libvirt_no_tpm_tis",
                       "libvirt %s does not list the tpm-tis model", lver);
    } else {
        /* libvirt < 8.0 lists no models; every QEMU libvirt 7 drives has tpm-tis */
        decide_set(report, VTPM_TRAIT_TPM_TIS, true, "ok_assumed",
                   "libvirt %s lists no TPM models before 8.0; QEMU %s has tpm-tis", lver,
                   qver);
    }

    if (!tpm_2_0) {
        decide_set(report, VTPM_TRAIT_TPM_CRB, false, "crb_needs_tpm_2_0",
                   "tpm-crb needs TPM 2.0, which this host lacks");
    } else if (lv->tpm_element) {
        if (lv->model_crb)
            decide_set(report, VTPM_TRAIT_TPM_CRB, true, "ok", "libvirt %s lists tpm-crb", lver);
        else
            decide_set(report, VTPM_TRAIT_TPM_CRB, false, "libvirt_no_tpm_crb",
                       "libvirt %s does not list the tpm-crb model", lver);
    } else if (!decide_arch_has_crb(lv->arch)) {
        decide_set(report, VTPM_TRAIT_TPM_CRB, false, "qemu_no_tpm_crb",
                   "QEMU has no tpm-crb device on %s", lv->arch[0] ? lv->arch : "this host");
    } else if (lv->hypervisor_version < 2012000) {
        decide_set(report, VTPM_TRAIT_TPM_CRB, false, "qemu_no_tpm_crb",
                   "QEMU %s is older than 2.12, which added tpm-crb", qver);
    } else {
        decide_set(report, VTPM_TRAIT_TPM_CRB, true, "ok_assumed",
                   "libvirt %s lists no TPM models before 8.0; QEMU %s has tpm-crb", lver,
                   qver);
    }
}

static void
decide_secret_security(const vtpm_conf *conf, vtpm_report *report)
{
    static const struct {
        vtpm_trait trait;
        vtpm_secret_security mode;
        const char *name;
    } modes[] = {
        { VTPM_TRAIT_SECRET_SECURITY_USER, VTPM_SECRET_SECURITY_USER, "user" },
        { VTPM_TRAIT_SECRET_SECURITY_HOST, VTPM_SECRET_SECURITY_HOST, "host" },
        { VTPM_TRAIT_SECRET_SECURITY_DEPLOYMENT, VTPM_SECRET_SECURITY_DEPLOYMENT, "deployment" },
    };

    for (size_t i = 0; i < VTPM_N_ELEMENTS(modes); i++) {
        if (conf->supported_secret_security & SECRET_BIT(modes[i].mode))
            decide_set(report, modes[i].trait, true, "ok",
                       "supported_tpm_secret_security lists %s", modes[i].name);
        else
            decide_set(report, modes[i].trait, false, "secret_security_not_configured",
                       "supported_tpm_secret_security does not list %s", modes[i].name);
    }
}

void
vtpm_decide(const vtpm_facts *facts, const vtpm_conf *conf, vtpm_report *report)
{
    char why[256];
    bool v12, v20;

    memset(report, 0, sizeof(*report));
    vtpm_strfmt(report->host, sizeof(report->host), "%s",
                facts->host[0] ? facts->host : conf->host ? conf->host : "");
    if (conf->provider_uuid)
        vtpm_strfmt(report->provider_uuid, sizeof(report->provider_uuid), "%s",
                    conf->provider_uuid);
    report->facts_json = NULL;

    /* what the configuration alone decides needs no probe */
    if (!conf->swtpm_enabled) {
        decide_all_absent(report, "swtpm_disabled", "swtpm_enabled is false in the configuration");
        return;
    }
    if (!decide_virt_type_ok(conf->virt_type)) {
        decide_all_absent(report, "virt_type_unsupported",
                          "virt_type '%s' cannot run a vTPM (needs kvm or qemu)",
                          conf->virt_type ? conf->virt_type : "");
        return;
    }
    if (!conf->key_manager_backend) {
        decide_all_absent(report, "key_manager_not_configured",
                          "no key manager configured (key_manager.backend), so TPM state "
                          "cannot be encrypted");
        return;
    }

    if (decide_inconclusive(facts, conf, why, sizeof(why))) {
        report->inconclusive = true;
        vtpm_strfmt(report->inconclusive_reason, sizeof(report->inconclusive_reason), "%s",
                    why);
        decide_all_absent(report, "inconclusive", "not decided: %s", why);
        return;
    }
    if (!decide_host_requirements(facts, conf, report))
        return;

    v12 = decide_version(facts, report, VTPM_TRAIT_TPM_1_2, "1.2");
    v20 = decide_version(facts, report, VTPM_TRAIT_TPM_2_0, "2.0");
    if (!v12 && !v20) {
        for (int t = VTPM_TRAIT_TPM_TIS; t < VTPM_TRAIT_COUNT; t++)
            decide_set(report, (vtpm_trait)t, false, "no_tpm_version",
                       "no TPM version is usable on this host");
        return;
    }
    decide_models(facts, report, v20);
    decide_secret_security(conf, report);
}

static void decide_warn(vtpm_warnings *out, const char *fmt, ...) VTPM_PRINTF(2, 3);

static void
decide_warn(vtpm_warnings *out, const char *fmt, ...)
{
    va_list ap;

    if (out->count >= VTPM_WARNINGS_MAX)
        return;
    va_start(ap, fmt);
    vtpm_vstrfmt(out->text[out->count], sizeof(out->text[0]), fmt, ap);
    va_end(ap);
    out->count++;
}

void
vtpm_decide_warnings(const vtpm_facts *facts, const vtpm_conf *conf, vtpm_warnings *out)
{
    const vtpm_libvirt_facts *lv = &facts->libvirt;
    const vtpm_swtpm_facts *sw = &facts->swtpm;
    char lver[32];

    memset(out, 0, sizeof(*out));
    if (!conf->swtpm_enabled || !decide_virt_type_ok(conf->virt_type))
        return;
    vtpm_version_format(lv->libvirt_version, lver, sizeof(lver));
    if (lv->status == VTPM_PROBE_OK && !lv->tpm_element)
        decide_warn(out, "libvirt %s is older than 8.0: no TPM capabilities; "
                         "relying on the swtpm binaries and the QEMU version", lver);
    else if (lv->status == VTPM_PROBE_OK && lv->tpm_supported && !lv->backend_version_element)
        decide_warn(out, "libvirt %s is older than 8.6: no TPM backend versions; "
                         "relying on swtpm's own capabilities", lver);
    /* where Nova, trusting libvirt alone, advertises a version swtpm lacks */
    if (lv->status == VTPM_PROBE_OK && sw->status == VTPM_PROBE_OK && lv->tpm_supported) {
        if (!sw->tpm_1_2 && (!lv->backend_version_element || lv->backend_1_2))
            decide_warn(out, "Nova would advertise COMPUTE_SECURITY_TPM_1_2 here, but swtpm "
                             "was built without TPM 1.2");
        if (!sw->tpm_2_0 && (!lv->backend_version_element || lv->backend_2_0))
            decide_warn(out, "Nova would advertise COMPUTE_SECURITY_TPM_2_0 here, but swtpm "
                             "was built without TPM 2.0");
    }
    /* Nova advertises TPM traits whenever swtpm_enabled is set */
    if (sw->status == VTPM_PROBE_OK && !sw->pwd_fd)
        decide_warn(out, "Nova would advertise TPM traits here, but libvirt refuses the "
                         "encrypted TPM state Nova asks for: swtpm has no cmdarg-pwd-fd");
    if (sw->status == VTPM_PROBE_OK && !sw->setup_pwdfile_fd)
        decide_warn(out, "Nova would advertise TPM traits here, but libvirt refuses the "
                         "encrypted TPM state Nova asks for: swtpm_setup %s",
                    sw->setup_caps ? "has no cmdarg-pwdfile-fd" : "printed no capabilities");
    if (sw->status == VTPM_PROBE_OK && !sw->version[0])
        decide_warn(out, "swtpm does not report its version (older than 0.7)");
    if (conf->key_manager_backend && !conf->key_manager_check)
        decide_warn(out, "key manager reachability not checked (key_manager.check: false)");
}
