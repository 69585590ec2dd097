/* SPDX-License-Identifier: Apache-2.0 */
/* Parse libvirt's domain-capabilities XML into the TPM facts of a host. */
#ifndef VTPM_REPORTER_DOMCAPS_H
#define VTPM_REPORTER_DOMCAPS_H

#include <stddef.h>

#include "facts.h"

/*
 * Parses the domain-capabilities document @xml (@len bytes, need not be
 * NUL-terminated) and fills the domain-capability fields of @out:
 * tpm_element, tpm_supported, model_*, backend_* (all reset first), and arch
 * and virt_type (the <arch> and <domain> elements) when the document has
 * them. The connection fields (status, hypervisor, versions) are left
 * untouched; the caller owns them.
 *
 * Tolerant of what older libvirt prints: no <tpm> element (libvirt < 8.0)
 * sets tpm_element false; no backendVersion enum (libvirt < 8.6) sets
 * backend_version_element false. Unknown elements and values are skipped.
 *
 * Returns 0 on success, or -1 when @xml is not a domain-capabilities
 * document, with a one-line message in @err (@errlen bytes).
 */
int vtpm_domcaps_parse(const char *xml, size_t len, vtpm_libvirt_facts *out,
                       char *err, size_t errlen);

#endif /* VTPM_REPORTER_DOMCAPS_H */
