-- SPDX-License-Identifier: Apache-2.0
-- Three sample hosts for scripts/demo.sh, published through vtpm.publish() like any reporter.
CREATE FUNCTION pg_temp.sample_trait(present boolean, code text, reason text) RETURNS jsonb
LANGUAGE sql AS $$ SELECT jsonb_build_object('present', present, 'code', code, 'reason', reason) $$;

-- sample-no-tpm12: swtpm built without TPM 1.2, as some distributions ship it.
SELECT status, generation FROM vtpm.publish('sample-no-tpm12', NULL, false, NULL, jsonb_build_object(
  'COMPUTE_SECURITY_TPM_1_2', pg_temp.sample_trait(false, 'swtpm_no_tpm_1_2', 'swtpm 0.8.2 was built without TPM 1.2 (features: tpm-2.0, cmdarg-pwd-fd)'),
  'COMPUTE_SECURITY_TPM_2_0', pg_temp.sample_trait(true, 'ok', 'libvirt and swtpm support TPM 2.0'),
  'COMPUTE_SECURITY_TPM_TIS', pg_temp.sample_trait(true, 'ok', 'libvirt offers model tpm-tis'),
  'COMPUTE_SECURITY_TPM_CRB', pg_temp.sample_trait(true, 'ok', 'libvirt offers model tpm-crb'),
  'COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER', pg_temp.sample_trait(true, 'ok', 'configured'),
  'COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST', pg_temp.sample_trait(true, 'ok', 'configured'),
  'COMPUTE_SECURITY_TPM_SECRET_SECURITY_DEPLOYMENT', pg_temp.sample_trait(false, 'secret_security_not_configured', 'deployment is not in supported_tpm_secret_security')),
  '{"sample": true}');

-- sample-old-libvirt: libvirt 7.x has no <tpm> in its domain capabilities and no CRB here.
SELECT status, generation FROM vtpm.publish('sample-old-libvirt', NULL, false, NULL, jsonb_build_object(
  'COMPUTE_SECURITY_TPM_1_2', pg_temp.sample_trait(true, 'ok', 'swtpm supports TPM 1.2'),
  'COMPUTE_SECURITY_TPM_2_0', pg_temp.sample_trait(true, 'ok', 'swtpm supports TPM 2.0'),
  'COMPUTE_SECURITY_TPM_TIS', pg_temp.sample_trait(true, 'ok', 'tpm-tis assumed: libvirt older than 8.0 reports no models'),
  'COMPUTE_SECURITY_TPM_CRB', pg_temp.sample_trait(false, 'libvirt_no_crb', 'libvirt 7.0.0 does not report model tpm-crb'),
  'COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER', pg_temp.sample_trait(true, 'ok', 'configured'),
  'COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST', pg_temp.sample_trait(false, 'secret_security_not_configured', 'host is not in supported_tpm_secret_security'),
  'COMPUTE_SECURITY_TPM_SECRET_SECURITY_DEPLOYMENT', pg_temp.sample_trait(false, 'secret_security_not_configured', 'deployment is not in supported_tpm_secret_security')),
  '{"sample": true}');

-- sample-no-swtpm: swtpm_enabled is false in its configuration.
SELECT status, generation FROM vtpm.publish('sample-no-swtpm', NULL, false, NULL, (
  SELECT jsonb_object_agg(t, pg_temp.sample_trait(false, 'swtpm_disabled', 'swtpm_enabled is false in the configuration'))
    FROM unnest(ARRAY['COMPUTE_SECURITY_TPM_1_2','COMPUTE_SECURITY_TPM_2_0','COMPUTE_SECURITY_TPM_TIS',
                      'COMPUTE_SECURITY_TPM_CRB','COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER',
                      'COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST',
                      'COMPUTE_SECURITY_TPM_SECRET_SECURITY_DEPLOYMENT']) AS t),
  '{"sample": true}');
