/* SPDX-License-Identifier: Apache-2.0 */
/* The libvirt probe: connection, versions and domain capabilities through libvirt's C API. */
#include "virt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "domcaps.h"
#include "log.h"
#include "util.h"

/* libvirt prints every error to stderr unless told otherwise; we report
 * errors ourselves, once, in the facts. */
static void
virt_error_ignore(void *opaque, virErrorPtr error)
{
    (void)opaque;
    (void)error;
}

static const char *
virt_error_message(void)
{
    const char *msg = virGetLastErrorMessage();

    return msg && *msg ? msg : "unknown libvirt error";
}

/* Errors that mean libvirtd did not answer, rather than answered "no". */
static bool
virt_error_is_transient(void)
{
    virErrorPtr e = virGetLastError();

    if (!e)
        return true;
    switch (e->code) {
    case VIR_ERR_RPC:
    case VIR_ERR_SYSTEM_ERROR:
    case VIR_ERR_NO_CONNECT:
    case VIR_ERR_INVALID_CONN:
    case VIR_ERR_OPERATION_TIMEOUT:
    case VIR_ERR_AUTH_FAILED:
    case VIR_ERR_AUTH_UNAVAILABLE:
    case VIR_ERR_OPERATION_ABORTED:
    case VIR_ERR_NO_MEMORY:
    case VIR_ERR_OPERATION_DENIED: /* read-only or unauthorised: we could not ask */
        return true;
    default:
        return false;
    }
}

static void
virt_setup(void)
{
    virSetErrorFunc(NULL, virt_error_ignore);
}

/*
 * libvirt refuses virConnectGetDomainCapabilities() on a read-only
 * connection, so this opens a read-write one, as Nova does, and only ever
 * calls getters on it. When that is not allowed (not root, no polkit rule),
 * a read-only connection still gives the versions, and the domain
 * capabilities call then says why it was refused.
 */
static virConnectPtr
virt_open(const char *uri)
{
    virConnectPtr conn = virConnectOpen(uri);

    if (!conn) {
        virErrorPtr e = virGetLastError();

        if (e && (e->code == VIR_ERR_AUTH_FAILED || e->code == VIR_ERR_AUTH_CANCELLED ||
                  e->code == VIR_ERR_AUTH_UNAVAILABLE || e->code == VIR_ERR_OPERATION_DENIED ||
                  (e->code == VIR_ERR_SYSTEM_ERROR && e->int1 == EACCES)))
            conn = virConnectOpenReadOnly(uri);
    }
    return conn;
}

static const char *
host_arch(struct utsname *u)
{
    if (uname(u) < 0)
        return NULL;
    return u->machine;
}

void
vtpm_virt_facts_init(const vtpm_conf *conf, vtpm_libvirt_facts *out)
{
    struct utsname u;

    memset(out, 0, sizeof(*out));
    out->status = VTPM_PROBE_INCONCLUSIVE;
    vtpm_strfmt(out->virt_type, sizeof(out->virt_type), "%s",
                conf->virt_type ? conf->virt_type : "kvm");
    vtpm_strfmt(out->arch, sizeof(out->arch), "%s", host_arch(&u) ? u.machine : "");
}

int
vtpm_virt_probe(const vtpm_conf *conf, vtpm_libvirt_facts *out)
{
    const char *uri = conf->uri ? conf->uri : "qemu:///system";
    const char *virt_type = conf->virt_type ? conf->virt_type : "kvm";
    unsigned long libver = 0, hvver = 0;
    char hypervisor[32] = "", arch[32] = "", perr[200];
    virConnectPtr conn;
    const char *type;
    char *xml = NULL;

    virt_setup();
    vtpm_virt_facts_init(conf, out);
    vtpm_strfmt(arch, sizeof(arch), "%s", out->arch);

    conn = virt_open(uri);
    if (!conn) {
        vtpm_strfmt(out->error, sizeof(out->error),
                    "cannot connect to libvirt at '%s': %s", uri, virt_error_message());
        return 0;
    }

    type = virConnectGetType(conn);
    if (type)
        vtpm_strfmt(hypervisor, sizeof(hypervisor), "%s", type);
    if (virConnectGetLibVersion(conn, &libver) < 0 ||
        virConnectGetVersion(conn, &hvver) < 0) {
        vtpm_strfmt(out->error, sizeof(out->error), "cannot get versions from '%s': %s",
                    uri, virt_error_message());
        virConnectClose(conn);
        return 0;
    }

    xml = virConnectGetDomainCapabilities(conn, NULL, arch[0] ? arch : NULL, NULL,
                                          virt_type, 0);
    if (!xml) {
        out->status = virt_error_is_transient() ? VTPM_PROBE_INCONCLUSIVE
                                                : VTPM_PROBE_FAILED;
        vtpm_strfmt(out->error, sizeof(out->error),
                    "no domain capabilities for virt type '%s' on %s: %s",
                    virt_type, arch[0] ? arch : "this host", virt_error_message());
    } else if (vtpm_domcaps_parse(xml, strlen(xml), out, perr, sizeof(perr)) < 0) {
        out->status = VTPM_PROBE_FAILED;
        vtpm_strfmt(out->error, sizeof(out->error),
                    "cannot read domain capabilities of '%s': %s", uri, perr);
    } else {
        out->status = VTPM_PROBE_OK;
        out->error[0] = '\0';
    }
    /* The parser fills what the document says; the connection facts are ours. */
    vtpm_strfmt(out->hypervisor, sizeof(out->hypervisor), "%s", hypervisor);
    out->libvirt_version = libver;
    out->hypervisor_version = hvver;
    if (!out->arch[0])
        vtpm_strfmt(out->arch, sizeof(out->arch), "%s", arch);
    if (!out->virt_type[0])
        vtpm_strfmt(out->virt_type, sizeof(out->virt_type), "%s", virt_type);
    free(xml);
    virConnectClose(conn);
    return 0;
}
