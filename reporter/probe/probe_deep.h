/* SPDX-License-Identifier: Apache-2.0 */
/* The deep probe: start a real swtpm and speak TPM commands to it. */
#ifndef VTPM_REPORTER_PROBE_DEEP_H
#define VTPM_REPORTER_PROBE_DEEP_H

#include "conf.h"
#include "facts.h"

/*
 * For each TPM version swtpm claims (@swtpm, from vtpm_swtpm_probe(); 2.0 is
 * also tried when swtpm printed no capabilities at all), starts
 * `swtpm socket` in a private temporary folder (as conf->swtpm_user when run
 * as root), sends a startup and a GetRandom command over its socket, checks
 * the response codes, stops it through its control channel (or a signal)
 * and removes the folder. Every step is bounded by conf->swtpm_timeout.
 *
 * Fills @out: tpm_1_2 and tpm_2_0 are OK, FAILED (error_* says which step
 * and what swtpm printed) or NOT_RUN; status is OK when every version tried
 * worked, FAILED when one did not, INCONCLUSIVE when this host could not
 * even set up the test (no temporary folder). Returns 0, or -1 on
 * out-of-memory.
 */
int vtpm_deep_probe(const vtpm_conf *conf, const vtpm_swtpm_facts *swtpm,
                    vtpm_deep_facts *out);

#endif /* VTPM_REPORTER_PROBE_DEEP_H */
