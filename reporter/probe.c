/* SPDX-License-Identifier: Apache-2.0 */
/* All probes of a host, in one call. */
#include "probe.h"

#include <string.h>
#include <unistd.h>

#include "command.h"
#include "log.h"
#include "probe_deep.h"
#include "probe_swtpm.h"
#include "probe_system.h"
#include "util.h"
#include "virt.h"

const char *
vtpm_probe_status_name(vtpm_probe_status status)
{
    switch (status) {
    case VTPM_PROBE_NOT_RUN:
        return "not_run";
    case VTPM_PROBE_OK:
        return "ok";
    case VTPM_PROBE_FAILED:
        return "failed";
    case VTPM_PROBE_INCONCLUSIVE:
        return "inconclusive";
    }
    return "unknown";
}

int
vtpm_probe_run(const vtpm_conf *conf, bool deep, vtpm_facts *facts)
{
    double t;

    memset(facts, 0, sizeof(*facts));
    if (conf->host && *conf->host) {
        vtpm_strfmt(facts->host, sizeof(facts->host), "%s", conf->host);
    } else if (gethostname(facts->host, sizeof(facts->host) - 1) < 0) {
        facts->host[0] = '\0';
    }
    facts->host[sizeof(facts->host) - 1] = '\0';

    t = vtpm_command_now();
    if (vtpm_virt_probe(conf, &facts->libvirt) < 0)
        return -1;
    vtpm_debug("libvirt probe: %s in %.1f ms%s%s", vtpm_probe_status_name(facts->libvirt.status),
               (vtpm_command_now() - t) * 1e3, facts->libvirt.error[0] ? ": " : "",
               facts->libvirt.error);
    t = vtpm_command_now();
    if (vtpm_swtpm_probe(conf, &facts->swtpm) < 0)
        return -1;
    vtpm_debug("swtpm probe: %s%s in %.1f ms%s%s", vtpm_probe_status_name(facts->swtpm.status),
               facts->swtpm.from_cache ? " (cached)" : "", (vtpm_command_now() - t) * 1e3,
               facts->swtpm.error[0] ? ": " : "", facts->swtpm.error);
    t = vtpm_command_now();
    if (vtpm_system_probe(conf, &facts->system) < 0)
        return -1;
    vtpm_debug("system probe: %s in %.1f ms", vtpm_probe_status_name(facts->system.status),
               (vtpm_command_now() - t) * 1e3);
    if (deep) {
        t = vtpm_command_now();
        if (vtpm_deep_probe(conf, &facts->swtpm, &facts->deep) < 0)
            return -1;
        vtpm_debug("deep probe: %s in %.1f ms", vtpm_probe_status_name(facts->deep.status),
                   (vtpm_command_now() - t) * 1e3);
    }
    return 0;
}
