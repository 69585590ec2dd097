-- SPDX-License-Identifier: Apache-2.0
-- Admin views and functions: hosts with their TPM traits, candidates, history.
SET LOCAL ROLE vtpm_owner;

-- One row per host: every TPM trait as a column, freshness, and why traits are absent.
CREATE VIEW vtpm.hosts AS
SELECT rp.name AS host,
       rp.uuid,
       rp.generation,
       rp.tpm_bits & 1 <> 0 AS tpm_1_2,
       rp.tpm_bits & 2 <> 0 AS tpm_2_0,
       rp.tpm_bits & 4 <> 0 AS tis,
       rp.tpm_bits & 8 <> 0 AS crb,
       rp.tpm_bits & 16 <> 0 AS secret_user,
       rp.tpm_bits & 32 <> 0 AS secret_host,
       rp.tpm_bits & 64 <> 0 AS secret_deployment,
       rp.last_report_at,
       date_trunc('second', now() - rp.last_report_at) AS age,
       rp.last_report_at IS NULL
           OR now() - rp.last_report_at > (SELECT value FROM vtpm.settings WHERE name = 'stale_after')
           AS stale,
       rp.last_status,
       rp.last_inconclusive_reason AS inconclusive_reason,
       rp.updated_at AS traits_changed_at,
       (SELECT string_agg(replace(t.name, 'COMPUTE_SECURITY_', '') || ': ' || s.reason,
                          '; ' ORDER BY t.bit)
          FROM vtpm.provider_trait_state s JOIN vtpm.traits t ON t.id = s.trait_id
         WHERE s.provider_id = rp.id AND NOT s.present) AS absent_reasons
  FROM vtpm.resource_providers rp;

-- One row per host and managed trait: state, reason, and since when.
CREATE VIEW vtpm.host_traits AS
SELECT rp.name AS host, t.name AS trait, t.bit,
       coalesce(s.present, rp.tpm_bits & (1 << t.bit) <> 0) AS present,
       s.reason_code, s.reason, s.since
  FROM vtpm.resource_providers rp
  CROSS JOIN vtpm.traits t
  LEFT JOIN vtpm.provider_trait_state s ON s.provider_id = rp.id AND s.trait_id = t.id
 WHERE t.bit IS NOT NULL;

-- Every report that changed a trait, newest first, with the reasons of what was removed.
CREATE VIEW vtpm.trait_changes AS
SELECT r.reported_at, r.host, r.generation, r.added, r.removed,
       (SELECT string_agg(replace(x, 'COMPUTE_SECURITY_', '') || ': ' || (r.traits -> x ->> 'reason'),
                          '; ')
          FROM unnest(r.removed) AS x) AS removed_because,
       r.reporter, r.id AS report_id
  FROM vtpm.reports r
 WHERE r.status = 'changed'
 ORDER BY r.reported_at DESC, r.id DESC;

-- Hosts that have every trait in @required and none in @forbidden (managed
-- traits only; an unknown name is an error), at most @max_results of them
-- (NULL: all; a scheduler wants a bounded list, as Nova's
-- max_placement_results). The mask column turns this into one index scan over
-- tpm_bits: at most 128 trait combinations qualify, computed once per call.
CREATE FUNCTION vtpm.candidates(required text[], forbidden text[] DEFAULT '{}',
                                max_results integer DEFAULT NULL)
RETURNS TABLE (host text, uuid uuid, generation bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    req integer := vtpm.trait_mask(coalesce(required, '{}'));
    forb integer := vtpm.trait_mask(coalesce(forbidden, '{}'));
    masks integer[];
BEGIN
    SELECT array_agg(b) INTO masks FROM generate_series(0, 127) AS b
     WHERE b & req = req AND b & forb = 0;
    -- EXECUTE plans with the actual masks every time: a generic plan would
    -- not know how selective they are and scan the whole table.
    RETURN QUERY EXECUTE
        'SELECT rp.name, rp.uuid, rp.generation FROM vtpm.resource_providers rp
          WHERE rp.tpm_bits = ANY ($1) LIMIT $2'
        USING masks, max_results;
END
$fn$;

-- The number of candidates, without fetching them.
CREATE FUNCTION vtpm.candidate_count(required text[], forbidden text[] DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    req integer := vtpm.trait_mask(coalesce(required, '{}'));
    forb integer := vtpm.trait_mask(coalesce(forbidden, '{}'));
    masks integer[];
    n bigint;
BEGIN
    SELECT array_agg(b) INTO masks FROM generate_series(0, 127) AS b
     WHERE b & req = req AND b & forb = 0;
    EXECUTE 'SELECT count(*) FROM vtpm.resource_providers rp WHERE rp.tpm_bits = ANY ($1)'
       INTO n USING masks;
    RETURN n;
END
$fn$;

-- The reports of one host since @since, newest first.
CREATE FUNCTION vtpm.history(p_host text, since timestamptz DEFAULT now() - interval '7 days')
RETURNS TABLE (reported_at timestamptz, status text, generation bigint, present text[],
               added text[], removed text[], inconclusive_reason text, reporter text,
               facts jsonb)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT r.reported_at, r.status, r.generation, r.present, r.added, r.removed,
           r.inconclusive_reason, r.reporter, r.facts
      FROM vtpm.reports r JOIN vtpm.resource_providers rp ON rp.id = r.provider_id
     WHERE rp.name = p_host AND r.reported_at >= since
     ORDER BY r.reported_at DESC, r.id DESC;
$fn$;

GRANT SELECT ON vtpm.hosts, vtpm.host_traits, vtpm.trait_changes TO vtpm_reader;
GRANT EXECUTE ON FUNCTION vtpm.candidates(text[], text[], integer), vtpm.candidate_count(text[], text[]),
    vtpm.history(text, timestamptz) TO vtpm_reader;
