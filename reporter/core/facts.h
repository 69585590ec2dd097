/* SPDX-License-Identifier: Apache-2.0 */
/* Facts: everything the probes found on a host, the input of decide(). */
#ifndef VTPM_REPORTER_FACTS_H
#define VTPM_REPORTER_FACTS_H

#include <stdbool.h>

/* The outcome of one probe. */
typedef enum {
    VTPM_PROBE_NOT_RUN = 0,   /* not attempted (disabled in config, or not needed) */
    VTPM_PROBE_OK = 1,        /* ran and concluded; the fields below are valid */
    VTPM_PROBE_FAILED = 2,    /* ran and concluded negatively (e.g. binary missing) */
    VTPM_PROBE_INCONCLUSIVE = 3 /* could not conclude (daemon down, timeout, ...) */
} vtpm_probe_status;

/* The name of @status as printed in reports: "ok", "failed", ... Static. */
const char *vtpm_probe_status_name(vtpm_probe_status status);

/* libvirt: connection, versions and domain capabilities. */
typedef struct {
    vtpm_probe_status status;
    char error[256];               /* why, when not OK */
    char hypervisor[32];           /* "QEMU" */
    unsigned long libvirt_version; /* major * 1000000 + minor * 1000 + micro */
    unsigned long hypervisor_version;
    char arch[32];                 /* "x86_64" */
    char virt_type[16];            /* the domain type asked for: "kvm", "qemu" */
    /* <tpm> in domain capabilities */
    bool tpm_element;              /* false: libvirt older than 8.0 */
    bool tpm_supported;            /* <tpm supported='yes'> */
    bool model_tis;                /* model enum has tpm-tis */
    bool model_crb;                /* model enum has tpm-crb */
    bool backend_emulator;         /* backendModel enum has emulator */
    bool backend_version_element;  /* false: libvirt older than 8.6 */
    bool backend_1_2;              /* backendVersion enum has 1.2 */
    bool backend_2_0;              /* backendVersion enum has 2.0 */
} vtpm_libvirt_facts;

/* One swtpm-family binary. */
typedef struct {
    bool found;
    char path[512];
} vtpm_binary_facts;

/* swtpm: binaries and capabilities. */
typedef struct {
    vtpm_probe_status status;
    char error[256];
    vtpm_binary_facts swtpm, swtpm_setup, swtpm_ioctl;
    char version[32];              /* from --print-capabilities, "" if unknown */
    bool tpm_1_2;                  /* feature "tpm-1.2" */
    bool tpm_2_0;                  /* feature "tpm-2.0" */
    char features[512];            /* all features, comma-separated, for messages */
    bool from_cache;
    /* swtpm_setup --print-capabilities: libvirt needs its cmdarg-pwdfile-fd
     * to create the encrypted TPM state that Nova always asks for. */
    bool setup_caps;               /* swtpm_setup printed its capabilities */
    char setup_version[32];
    char setup_features[512];
    /* libvirt hands the state passphrase over on a file descriptor and
     * refuses an encrypted vTPM without these features */
    bool pwd_fd;                   /* swtpm has "cmdarg-pwd-fd" */
    bool setup_pwdfile_fd;         /* swtpm_setup has "cmdarg-pwdfile-fd" */
} vtpm_swtpm_facts;

/* The swtpm user and group, and the key manager. */
typedef struct {
    vtpm_probe_status status;      /* of the user/group check */
    char user[64], group[64];
    bool user_exists, group_exists;
    vtpm_probe_status key_manager_status;
    bool key_manager_configured;
    bool key_manager_checked;      /* reachability was asked for */
    bool key_manager_reachable;
    long key_manager_http_status;
    char key_manager_error[256];
} vtpm_system_facts;

/* The deep probe: a real swtpm started and spoken to. */
typedef struct {
    vtpm_probe_status status;      /* NOT_RUN unless --deep */
    vtpm_probe_status tpm_1_2, tpm_2_0; /* per version */
    char error_1_2[256], error_2_0[256];
} vtpm_deep_facts;

typedef struct {
    char host[256];
    vtpm_libvirt_facts libvirt;
    vtpm_swtpm_facts swtpm;
    vtpm_system_facts system;
    vtpm_deep_facts deep;
} vtpm_facts;

#endif /* VTPM_REPORTER_FACTS_H */
