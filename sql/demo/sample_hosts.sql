-- SPDX-License-Identifier: Apache-2.0
-- Sample hosts for scripts/demo.sh, published through vtpm.publish() like any reporter.
CREATE FUNCTION pg_temp.sample_trait(present boolean, code text, reason text) RETURNS jsonb
LANGUAGE sql AS $$ SELECT jsonb_build_object('present', present, 'code', code, 'reason', reason) $$;

-- What a reporter on a libvirt 9.0 host with swtpm 0.8.2 says of trait @t.
CREATE FUNCTION pg_temp.sample_probed(t text, present boolean) RETURNS jsonb
LANGUAGE sql AS $$
SELECT CASE
  WHEN present THEN pg_temp.sample_trait(true, 'ok', CASE
      WHEN t LIKE '%SECRET_SECURITY_%' THEN 'supported_tpm_secret_security lists ' || lower(replace(t, 'COMPUTE_SECURITY_TPM_SECRET_SECURITY_', ''))
      WHEN t LIKE '%TPM_1_2' OR t LIKE '%TPM_2_0' THEN 'swtpm 0.8.2 and libvirt 9.0.0 support TPM ' || replace(replace(t, 'COMPUTE_SECURITY_TPM_', ''), '_', '.')
      ELSE 'libvirt 9.0.0 lists tpm-' || lower(replace(t, 'COMPUTE_SECURITY_TPM_', '')) END)
  WHEN t LIKE '%SECRET_SECURITY_%' THEN pg_temp.sample_trait(false, 'secret_security_not_configured',
      'supported_tpm_secret_security does not list ' || lower(replace(t, 'COMPUTE_SECURITY_TPM_SECRET_SECURITY_', '')))
  WHEN t LIKE '%TPM_1_2' THEN pg_temp.sample_trait(false, 'swtpm_no_tpm_1_2', 'swtpm 0.8.2 was built without TPM 1.2 (features: tpm-2.0,cmdarg-pwd-fd,cmdarg-seccomp)')
  WHEN t LIKE '%TPM_2_0' THEN pg_temp.sample_trait(false, 'swtpm_no_tpm_2_0', 'swtpm 0.8.2 was built without TPM 2.0')
  ELSE pg_temp.sample_trait(false, 'libvirt_no_tpm_' || lower(replace(t, 'COMPUTE_SECURITY_TPM_', '')),
      'libvirt 9.0.0 does not list the tpm-' || lower(replace(t, 'COMPUTE_SECURITY_TPM_', '')) || ' model')
END $$;

-- sample-no-tpm12: first reported with TPM 1.2; then swtpm was upgraded to a
-- build without TPM 1.2, as some distributions ship it, and the trait went away.
SELECT status, generation FROM vtpm.publish('sample-no-tpm12', NULL, false, NULL, jsonb_build_object(
  'COMPUTE_SECURITY_TPM_1_2', pg_temp.sample_trait(true, 'ok', 'swtpm 0.7.3 and libvirt 9.0.0 support TPM 1.2'),
  'COMPUTE_SECURITY_TPM_2_0', pg_temp.sample_trait(true, 'ok', 'swtpm 0.7.3 and libvirt 9.0.0 support TPM 2.0'),
  'COMPUTE_SECURITY_TPM_TIS', pg_temp.sample_trait(true, 'ok', 'libvirt 9.0.0 lists tpm-tis'),
  'COMPUTE_SECURITY_TPM_CRB', pg_temp.sample_trait(true, 'ok', 'libvirt 9.0.0 lists tpm-crb'),
  'COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER', pg_temp.sample_trait(true, 'ok', 'supported_tpm_secret_security lists user'),
  'COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST', pg_temp.sample_trait(true, 'ok', 'supported_tpm_secret_security lists host'),
  'COMPUTE_SECURITY_TPM_SECRET_SECURITY_DEPLOYMENT', pg_temp.sample_trait(false, 'secret_security_not_configured', 'supported_tpm_secret_security does not list deployment')),
  '{"sample": true, "swtpm": {"version": "0.7.3"}}');
SELECT status, generation FROM vtpm.publish('sample-no-tpm12', NULL, false, NULL, jsonb_build_object(
  'COMPUTE_SECURITY_TPM_1_2', pg_temp.sample_trait(false, 'swtpm_no_tpm_1_2', 'swtpm 0.8.2 was built without TPM 1.2 (features: tpm-2.0,cmdarg-pwd-fd,cmdarg-seccomp)'),
  'COMPUTE_SECURITY_TPM_2_0', pg_temp.sample_trait(true, 'ok', 'swtpm 0.8.2 and libvirt 9.0.0 support TPM 2.0'),
  'COMPUTE_SECURITY_TPM_TIS', pg_temp.sample_trait(true, 'ok', 'libvirt 9.0.0 lists tpm-tis'),
  'COMPUTE_SECURITY_TPM_CRB', pg_temp.sample_trait(true, 'ok', 'libvirt 9.0.0 lists tpm-crb'),
  'COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER', pg_temp.sample_trait(true, 'ok', 'supported_tpm_secret_security lists user'),
  'COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST', pg_temp.sample_trait(true, 'ok', 'supported_tpm_secret_security lists host'),
  'COMPUTE_SECURITY_TPM_SECRET_SECURITY_DEPLOYMENT', pg_temp.sample_trait(false, 'secret_security_not_configured', 'supported_tpm_secret_security does not list deployment')),
  '{"sample": true, "swtpm": {"version": "0.8.2"}}');

-- sample-old-libvirt: libvirt 7.x has no <tpm> in its domain capabilities; its QEMU is too old for CRB.
SELECT status, generation FROM vtpm.publish('sample-old-libvirt', NULL, false, NULL, jsonb_build_object(
  'COMPUTE_SECURITY_TPM_1_2', pg_temp.sample_trait(true, 'ok_swtpm_only', 'swtpm 0.5.2 supports TPM 1.2 (libvirt 7.0.0 lists no versions before 8.6)'),
  'COMPUTE_SECURITY_TPM_2_0', pg_temp.sample_trait(true, 'ok_swtpm_only', 'swtpm 0.5.2 supports TPM 2.0 (libvirt 7.0.0 lists no versions before 8.6)'),
  'COMPUTE_SECURITY_TPM_TIS', pg_temp.sample_trait(true, 'ok_assumed', 'libvirt 7.0.0 lists no TPM models before 8.0; QEMU 2.11.1 has tpm-tis'),
  'COMPUTE_SECURITY_TPM_CRB', pg_temp.sample_trait(false, 'qemu_no_tpm_crb', 'QEMU 2.11.1 is older than 2.12, which added tpm-crb'),
  'COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER', pg_temp.sample_trait(true, 'ok', 'supported_tpm_secret_security lists user'),
  'COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST', pg_temp.sample_trait(false, 'secret_security_not_configured', 'supported_tpm_secret_security does not list host'),
  'COMPUTE_SECURITY_TPM_SECRET_SECURITY_DEPLOYMENT', pg_temp.sample_trait(false, 'secret_security_not_configured', 'supported_tpm_secret_security does not list deployment')),
  '{"sample": true, "swtpm": {"version": "0.5.2"}}');

-- sample-libvirt-down: reported fine once, then libvirtd stopped answering; an
-- inconclusive report changes no trait.
SELECT status, generation FROM vtpm.publish('sample-libvirt-down', NULL, false, NULL, (
  SELECT jsonb_object_agg(t, pg_temp.sample_probed(t, t NOT LIKE '%DEPLOYMENT'))
    FROM unnest(ARRAY['COMPUTE_SECURITY_TPM_1_2','COMPUTE_SECURITY_TPM_2_0','COMPUTE_SECURITY_TPM_TIS',
                      'COMPUTE_SECURITY_TPM_CRB','COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER',
                      'COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST',
                      'COMPUTE_SECURITY_TPM_SECRET_SECURITY_DEPLOYMENT']) AS t),
  '{"sample": true}');
SELECT status, generation FROM vtpm.publish('sample-libvirt-down', NULL, true,
  'libvirt did not answer: cannot connect to libvirt at ''qemu:///system'': Failed to connect socket to ''/var/run/libvirt/libvirt-sock'': Connection refused',
  '{}', '{"sample": true}');

-- sample-no-swtpm: swtpm_enabled is false in its configuration.
SELECT status, generation FROM vtpm.publish('sample-no-swtpm', NULL, false, NULL, (
  SELECT jsonb_object_agg(t, pg_temp.sample_trait(false, 'swtpm_disabled', 'swtpm_enabled is false in the configuration'))
    FROM unnest(ARRAY['COMPUTE_SECURITY_TPM_1_2','COMPUTE_SECURITY_TPM_2_0','COMPUTE_SECURITY_TPM_TIS',
                      'COMPUTE_SECURITY_TPM_CRB','COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER',
                      'COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST',
                      'COMPUTE_SECURITY_TPM_SECRET_SECURITY_DEPLOYMENT']) AS t),
  '{"sample": true}');

-- sample-quiet: a host whose reporter stopped running. Its report time is moved
-- back an hour (as the demo's superuser; no reporter can do this) so that the
-- staleness columns have something to show.
SELECT status, generation FROM vtpm.publish('sample-quiet', NULL, false, NULL, (
  SELECT jsonb_object_agg(t, pg_temp.sample_probed(t, t LIKE '%2_0' OR t LIKE '%TIS' OR t LIKE '%USER'))
    FROM unnest(ARRAY['COMPUTE_SECURITY_TPM_1_2','COMPUTE_SECURITY_TPM_2_0','COMPUTE_SECURITY_TPM_TIS',
                      'COMPUTE_SECURITY_TPM_CRB','COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER',
                      'COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST',
                      'COMPUTE_SECURITY_TPM_SECRET_SECURITY_DEPLOYMENT']) AS t),
  '{"sample": true}');
UPDATE vtpm.resource_providers SET last_report_at = last_report_at - interval '1 hour'
 WHERE name = 'sample-quiet';
UPDATE vtpm.reports SET reported_at = reported_at - interval '1 hour'
 WHERE provider_id = (SELECT id FROM vtpm.resource_providers WHERE name = 'sample-quiet');
