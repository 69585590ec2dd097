/* SPDX-License-Identifier: Apache-2.0 */
/* The system probe: swtpm user and group, and the key manager. */
#ifndef VTPM_REPORTER_PROBE_SYSTEM_H
#define VTPM_REPORTER_PROBE_SYSTEM_H

#include "conf.h"
#include "facts.h"

/*
 * Fills @out: whether conf->swtpm_user and conf->swtpm_group exist (status
 * OK when both do, FAILED when one does not, INCONCLUSIVE when the user
 * database cannot be read), and the key manager:
 * key_manager_status FAILED when none is configured, OK when configured
 * (and, with conf->key_manager_check, when a GET of conf->key_manager_url
 * answered 200 or 300 with a JSON versions document), INCONCLUSIVE when
 * the check could not reach it or it answered anything else.
 * Aborts on out of memory.
 */
void vtpm_system_probe(const vtpm_conf *conf, vtpm_system_facts *out);

/*
 * The reachability check alone: GETs @url (CA file @ca_file, may be NULL)
 * within @timeout seconds and fills the key_manager_* fields of @out that
 * describe the answer (checked, reachable, http_status, status, error).
 */
void vtpm_system_key_manager_check(const char *url, const char *ca_file,
                                   double timeout, vtpm_system_facts *out);

#endif /* VTPM_REPORTER_PROBE_SYSTEM_H */
