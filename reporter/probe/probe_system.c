/* SPDX-License-Identifier: Apache-2.0 */
/* The system probe: users and groups through NSS, the key manager over HTTP. */
#include "probe_system.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "alloc.h"
#include "http.h"
#include "log.h"
#include "util.h"

/* A versions document is a few hundred bytes. */
#define KEY_MANAGER_BODY_MAX ((size_t)64 * 1024)
/* Seconds, when the configuration gives none. */
#define KEY_MANAGER_TIMEOUT_DEFAULT 5.0

/* Whether user (or, with @group, group) @name exists: 1: it does, 0: it does
 * not, -1: cannot tell (errno set). */
static int
nss_name_exists(const char *name, bool group)
{
    size_t size = 1024;

    for (;;) {
        struct passwd pw, *pw_found = NULL;
        struct group gr, *gr_found = NULL;
        char *buf = vtpm_alloc_calloc(1, size);
        int rc;

        rc = group ? getgrnam_r(name, &gr, buf, size, &gr_found)
                   : getpwnam_r(name, &pw, buf, size, &pw_found);
        free(buf);
        if (rc == ERANGE && size < (1u << 20)) {
            size *= 4;
            continue;
        }
        if (rc == 0)
            return pw_found || gr_found ? 1 : 0;
        /* Several NSS modules report "not found" as one of these. */
        if (rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM)
            return 0;
        errno = rc;
        return -1;
    }
}

void
vtpm_system_key_manager_check(const char *url, const char *ca_file, double timeout,
                              vtpm_system_facts *out)
{
    static const char *const headers[] = { "Accept: application/json", NULL };
    vtpm_http_response resp = {0};
    vtpm_http_conf hc = {
        .ca_file = ca_file,
        /* libcurl reads the bundle only for https, and then calls a missing
         * one "error setting certificate file", which read as "unreachable":
         * the adapter opens it first, named by its setting, whatever the URL.
         * Still inconclusive: a wrong path must not take the traits away. */
        .ca_file_name = "key_manager.ca_file",
        .verify = true,
        .body_max = KEY_MANAGER_BODY_MAX,
    };
    char quoted[200];
    vtpm_http *http;
    json_t *doc;
    bool ok;

    out->key_manager_checked = true;
    out->key_manager_reachable = false;
    out->key_manager_http_status = 0;
    out->key_manager_status = VTPM_PROBE_INCONCLUSIVE;
    vtpm_quote(quoted, sizeof(quoted), url ? url : "");
    if (!url || !*url) {
        out->key_manager_status = VTPM_PROBE_FAILED;
        vtpm_strfmt(out->key_manager_error, sizeof(out->key_manager_error),
                    "key manager check asked for, but no endpoint URL is configured");
        return;
    }
    hc.timeout = hc.connect_timeout = timeout > 0 ? timeout : KEY_MANAGER_TIMEOUT_DEFAULT;
    http = vtpm_http_new(&hc, out->key_manager_error, sizeof(out->key_manager_error));
    if (!http)
        return;
    if (vtpm_http_request(http, "GET", url, headers, NULL, &resp) < 0) {
        vtpm_strfmt(out->key_manager_error, sizeof(out->key_manager_error),
                    "key manager at %s unreachable: %s", quoted, resp.error);
        goto cleanup;
    }
    out->key_manager_http_status = resp.status;
    if (resp.status != 200 && resp.status != 300) {
        vtpm_strfmt(out->key_manager_error, sizeof(out->key_manager_error),
                    "key manager at %s answered HTTP %ld", quoted, resp.status);
        goto cleanup;
    }
    doc = json_loadb(resp.body, resp.body_len, 0, NULL);
    ok = json_is_object(doc) && json_object_get(doc, "versions");
    json_decref(doc);
    if (!ok) {
        vtpm_strfmt(out->key_manager_error, sizeof(out->key_manager_error),
                    "key manager at %s answered HTTP %ld without a versions document",
                    quoted, resp.status);
        goto cleanup;
    }
    out->key_manager_reachable = true;
    out->key_manager_status = VTPM_PROBE_OK;
    out->key_manager_error[0] = '\0';

cleanup:
    vtpm_http_response_clear(&resp);
    vtpm_http_free(http);
}

void
vtpm_system_probe(const vtpm_conf *conf, vtpm_system_facts *out)
{
    const char *user = conf->swtpm_user ? conf->swtpm_user : "tss";
    const char *group = conf->swtpm_group ? conf->swtpm_group : "tss";
    int u, g;

    vtpm_strfmt(out->user, sizeof(out->user), "%s", user);
    vtpm_strfmt(out->group, sizeof(out->group), "%s", group);
    u = nss_name_exists(user, false);
    if (u < 0 && errno == ENOMEM)
        vtpm_alloc_abort();
    g = nss_name_exists(group, true);
    if (g < 0 && errno == ENOMEM)
        vtpm_alloc_abort();
    out->user_exists = u == 1;
    out->group_exists = g == 1;
    if (u < 0 || g < 0) {
        out->status = VTPM_PROBE_INCONCLUSIVE;
        VTPM_DEBUG("cannot read the user database: %s", strerror(errno));
    } else {
        out->status = u && g ? VTPM_PROBE_OK : VTPM_PROBE_FAILED;
    }

    out->key_manager_configured = conf->key_manager_backend && *conf->key_manager_backend;
    if (!out->key_manager_configured) {
        out->key_manager_status = VTPM_PROBE_FAILED;
        vtpm_strfmt(out->key_manager_error, sizeof(out->key_manager_error),
                    "no key manager configured");
    } else if (conf->key_manager_check) {
        vtpm_system_key_manager_check(conf->key_manager_url, conf->key_manager_ca_file,
                                      conf->key_manager_timeout, out);
    } else {
        out->key_manager_status = VTPM_PROBE_OK;
    }
}
