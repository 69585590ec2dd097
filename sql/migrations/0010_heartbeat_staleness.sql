-- SPDX-License-Identifier: Apache-2.0
-- Staleness from the reporters' heartbeat: a host is stale once it missed its heartbeat, plus a grace.
--
-- Reporters skip a run whose probe found what they last published, until
-- their `heartbeat` (300 s by default) has passed. A healthy host that
-- changes nothing therefore reports every heartbeat, plus up to one timer
-- period and its random delay. 0001's single 'stale_after' (30 minutes)
-- knew nothing of that. Now:
--
--   stale  =  no report for longer than  heartbeat + heartbeat_grace
--
-- 'heartbeat' must match the reporters' own setting (vtpm-inventory
-- set-heartbeat changes both rows here; the reporters' configuration is the
-- operator's); 'heartbeat_grace' covers the timer's period and random delay
-- and the retries (the shipped timer: every 10 minutes, 60 s of random delay).
SET LOCAL ROLE vtpm_owner;

-- A negative duration would make every host stale, or none, without a word.
ALTER TABLE vtpm.settings ADD CONSTRAINT settings_value_range
    CHECK (value >= interval '0' AND value <= interval '3650 days');

-- An operator's own 'stale_after' is kept as the same total.
INSERT INTO vtpm.settings (name, value, description)
SELECT 'heartbeat', interval '300 seconds',
       'reporters publish an unchanged host at least this often (their heartbeat setting)'
UNION ALL
SELECT 'heartbeat_grace',
       coalesce((SELECT CASE WHEN s.value = interval '30 minutes' THEN NULL
                             ELSE greatest(s.value - interval '300 seconds', interval '0') END
                   FROM vtpm.settings s WHERE s.name = 'stale_after'),
                interval '11 minutes'),
       'a host is stale when its last report is older than heartbeat + this '
       '(the reporters'' timer period, its random delay and retries)';
DELETE FROM vtpm.settings WHERE name = 'stale_after';

/*
 * How long a host may go without a report before it is stale: heartbeat +
 * heartbeat_grace. Readers and the views use it.
 */
CREATE FUNCTION vtpm.stale_after() RETURNS interval
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT coalesce(sum(s.value), interval '0')
      FROM vtpm.settings s WHERE s.name IN ('heartbeat', 'heartbeat_grace');
$fn$;

/*
 * Records the reporters' heartbeat, @p_seconds (0: they publish every run),
 * and, when not NULL, the grace @p_grace_seconds. Returns the staleness
 * threshold that follows. SECURITY INVOKER: only the owner (or a superuser)
 * may write the settings.
 */
CREATE FUNCTION vtpm.set_heartbeat(p_seconds integer, p_grace_seconds integer DEFAULT NULL)
RETURNS interval
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF p_seconds IS NULL OR p_seconds NOT BETWEEN 0 AND 86400 THEN
        RAISE EXCEPTION 'heartbeat must be 0 to 86400 seconds' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_grace_seconds IS NOT NULL AND p_grace_seconds NOT BETWEEN 0 AND 86400 THEN
        RAISE EXCEPTION 'heartbeat grace must be 0 to 86400 seconds' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE vtpm.settings SET value = make_interval(secs => p_seconds) WHERE name = 'heartbeat';
    IF p_grace_seconds IS NOT NULL THEN
        UPDATE vtpm.settings SET value = make_interval(secs => p_grace_seconds)
         WHERE name = 'heartbeat_grace';
    END IF;
    RETURN vtpm.stale_after();
END
$fn$;

-- 0004's view, same columns, with the new threshold.
CREATE OR REPLACE VIEW vtpm.hosts AS
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
       rp.last_report_at IS NULL OR now() - rp.last_report_at > st.after AS stale,
       rp.last_status,
       rp.last_inconclusive_reason AS inconclusive_reason,
       rp.updated_at AS traits_changed_at,
       (SELECT string_agg(replace(t.name, 'COMPUTE_SECURITY_', '') || ': ' || s.reason,
                          '; ' ORDER BY t.bit)
          FROM vtpm.provider_trait_state s JOIN vtpm.traits t ON t.id = s.trait_id
         WHERE s.provider_id = rp.id AND NOT s.present) AS absent_reasons
  FROM vtpm.resource_providers rp
 CROSS JOIN (SELECT vtpm.stale_after() AS after) AS st;

REVOKE EXECUTE ON FUNCTION vtpm.stale_after(), vtpm.set_heartbeat(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vtpm.stale_after() TO vtpm_reader;
