/* SPDX-License-Identifier: Apache-2.0 */
/* All probes of a host, in one call: configuration in, facts out. */
#ifndef VTPM_REPORTER_PROBE_H
#define VTPM_REPORTER_PROBE_H

#include <stdbool.h>

#include "conf.h"
#include "facts.h"

/*
 * Runs the libvirt, swtpm and system probes, and the deep probe when @deep,
 * and fills @facts (zeroed first). facts->host is conf->host, or this host's
 * name. A probe that fails or cannot conclude says so in its part of the
 * facts; that is not an error here. The libvirt probe runs in a child
 * process that is killed after conf->libvirt_timeout seconds (libvirt is
 * then INCONCLUSIVE). Aborts on out of memory.
 */
void vtpm_probe_run(const vtpm_conf *conf, bool deep, vtpm_facts *facts);

#endif /* VTPM_REPORTER_PROBE_H */
