-- SPDX-License-Identifier: Apache-2.0
-- Questions admins ask of the inventory; scripts/admin-questions.sh prints each with its answer.
-- Each question is a "-- Q:" line followed by one query ending in ";".

-- Q: Which hosts can take a TPM 2.0 + CRB server (secret security user) right now?
SELECT host FROM vtpm.candidates('{COMPUTE_SECURITY_TPM_2_0,COMPUTE_SECURITY_TPM_CRB,COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER}') ORDER BY host;

-- Q: Every host with its TPM traits, at a glance
SELECT host, tpm_1_2, tpm_2_0, tis, crb, secret_user AS s_user, secret_host AS s_host, secret_deployment AS s_depl, stale FROM vtpm.hosts ORDER BY host;

-- Q: Why can the other hosts not take a TPM 2.0 + CRB server?
SELECT host, replace(trait, 'COMPUTE_SECURITY_', '') AS trait, reason FROM vtpm.host_traits WHERE NOT present AND trait IN ('COMPUTE_SECURITY_TPM_2_0', 'COMPUTE_SECURITY_TPM_CRB') ORDER BY host, bit;

-- Q: Which hosts lost a TPM trait in the last day, and why?
SELECT to_char(reported_at, 'YYYY-MM-DD HH24:MI:SS') AS reported_at, host, removed, removed_because FROM vtpm.trait_changes WHERE removed <> '{}' AND reported_at > now() - interval '1 day';

-- Q: Which hosts missed their heartbeat (no report for heartbeat + grace: vtpm.stale_after())?
SELECT host, to_char(last_report_at, 'YYYY-MM-DD HH24:MI:SS') AS last_report_at, age, vtpm.stale_after() AS stale_after FROM vtpm.hosts WHERE stale ORDER BY last_report_at NULLS FIRST;

-- Q: Whose last probe could not conclude, and why? (Their traits stay as they were.)
SELECT host, inconclusive_reason FROM vtpm.hosts WHERE last_status = 'inconclusive' ORDER BY host;

-- Q: Where can a live-migratable vTPM server (TPM 2.0, secret security host) go, counting only hosts that reported recently?
SELECT c.host FROM vtpm.candidates('{COMPUTE_SECURITY_TPM_2_0,COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST}') AS c JOIN vtpm.hosts AS h USING (host) WHERE NOT h.stale ORDER BY c.host;

-- Q: How many hosts have each TPM trait?
SELECT replace(trait, 'COMPUTE_SECURITY_', '') AS trait, count(*) FILTER (WHERE present) AS with_trait, count(*) FILTER (WHERE NOT present) AS without FROM vtpm.host_traits GROUP BY trait, bit ORDER BY bit;

-- Q: What happened on sample-no-tpm12 (its change history)?
SELECT to_char(reported_at, 'HH24:MI:SS') AS at, status, generation, replace(array_to_string(added, ' '), 'COMPUTE_SECURITY_', '') AS added, replace(array_to_string(removed, ' '), 'COMPUTE_SECURITY_', '') AS removed FROM vtpm.history('sample-no-tpm12');

-- Q: What did the probe find on the most recently reporting real host (swtpm version, CRB in libvirt's domain capabilities, swtpm user)?
SELECT host, facts -> 'swtpm' ->> 'version' AS swtpm, facts -> 'libvirt' ->> 'libvirt_version' AS libvirt, facts -> 'libvirt' ->> 'model_crb' AS crb_in_domcaps, facts -> 'system' ->> 'user_exists' AS swtpm_user_exists FROM (SELECT rp.name AS host, r.facts FROM vtpm.reports r JOIN vtpm.resource_providers rp ON rp.id = r.provider_id WHERE r.status <> 'inconclusive' AND r.facts ? 'libvirt' ORDER BY r.reported_at DESC LIMIT 1) AS last;

-- Q: Which login may publish which host?
SELECT login, host, to_char(created_at, 'YYYY-MM-DD HH24:MI:SS') AS since FROM vtpm.reporter_bindings ORDER BY login;

-- Q: Which hosts carry traits this project does not manage (set by someone else, never touched by publish)?
SELECT rp.name AS host, t.name AS trait FROM vtpm.provider_traits pt JOIN vtpm.traits t ON t.id = pt.trait_id JOIN vtpm.resource_providers rp ON rp.id = pt.provider_id WHERE t.bit IS NULL ORDER BY 1, 2;
