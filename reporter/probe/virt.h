/* SPDX-License-Identifier: Apache-2.0 */
/* The libvirt probe: a thin adapter over the libvirt C API. */
#ifndef VTPM_REPORTER_VIRT_H
#define VTPM_REPORTER_VIRT_H

#include "conf.h"
#include "facts.h"

/*
 * Connects to conf->uri and fills @out: hypervisor type, libvirt and
 * hypervisor versions, host architecture, and the TPM part of the domain
 * capabilities for conf->virt_type on that architecture. The connection is
 * read-write when allowed, because libvirt refuses domain capabilities to
 * read-only connections; only getters are ever called on it.
 *
 * @out->status: OK when the domain capabilities were read and parsed;
 * INCONCLUSIVE when libvirtd does not answer (cannot connect, connection
 * lost); FAILED when libvirt answers that it has no domain capabilities for
 * this virt type (e.g. "kvm" without /dev/kvm, or "lxc" on a QEMU URI) or
 * prints a document we cannot read. @out->error says why.
 * Returns 0, or -1 on out-of-memory.
 */
int vtpm_virt_probe(const vtpm_conf *conf, vtpm_libvirt_facts *out);

/*
 * Sets @out to what is known before libvirt is asked: INCONCLUSIVE, the
 * virt type asked for and this host's architecture, no error text yet.
 * vtpm_virt_probe() starts from this; so does a caller whose probe never
 * came back.
 */
void vtpm_virt_facts_init(const vtpm_conf *conf, vtpm_libvirt_facts *out);

#endif /* VTPM_REPORTER_VIRT_H */
