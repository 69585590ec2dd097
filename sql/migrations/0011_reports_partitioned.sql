-- SPDX-License-Identifier: Apache-2.0
-- vtpm.reports partitioned: reports that changed a trait in one table, the others by day, dropped a day at a time.
--
-- At 100,000 hosts publishing once per 300 s heartbeat, vtpm.reports takes
-- 28.8 million reports a day, 1.7 KB each (docs/benchmarks.md, "The reports
-- table at fleet size"). Deleting them one at a time when they expire, as
-- vtpm.publish() did, rewrites every page two weeks after it was written:
-- a full-page image in the WAL for each, as much WAL as the inserts
-- themselves, and a VACUUM over the whole table and its indexes to make the
-- space reusable. Now:
--
--   vtpm.reports                       PARTITION BY LIST (status)
--     vtpm.reports_changed             'changed': a few a day, kept change_retention
--                                      (365 days), deleted row by row as before
--     vtpm.reports_routine             'unchanged', 'inconclusive': PARTITION BY RANGE (reported_at)
--       vtpm.reports_routine_YYYYMMDD  one per UTC day, dropped whole by vtpm.purge_reports()
--       vtpm.reports_routine_default   rows of a day without a partition yet (purge moves them)
--
-- The contract stays: the same columns, vtpm.publish() unchanged (it inserts
-- through vtpm.reports and still deletes a host's expired reports on the
-- way, which finds nothing once purge_reports() runs daily), the views and
-- vtpm.history() read vtpm.reports, readers may SELECT every part.
-- vtpm.purge_reports(), to run daily (vtpm-inventory prune), creates the
-- next days' partitions and drops every day whose reports would reach
-- report_retention before the next run: routine reports are kept between
-- report_retention minus two days and report_retention. The primary key
-- becomes (id, status, reported_at), as partitioning requires; id stays
-- unique (an identity).
--
-- Applying it copies the existing reports into the new table, in the
-- migration's transaction: minutes for millions of reports. Purge first.
SET LOCAL ROLE vtpm_owner;

ALTER TABLE vtpm.reports RENAME TO reports_0010;
ALTER INDEX vtpm.reports_pkey RENAME TO reports_0010_pkey;
ALTER INDEX vtpm.reports_provider_time_idx RENAME TO reports_0010_provider_time_idx;
ALTER INDEX vtpm.reports_changes_idx RENAME TO reports_0010_changes_idx;

CREATE TABLE vtpm.reports (
    id bigint GENERATED ALWAYS AS IDENTITY,
    provider_id bigint NOT NULL REFERENCES vtpm.resource_providers (id) ON DELETE CASCADE,
    host text NOT NULL,
    reported_at timestamptz NOT NULL DEFAULT now(),
    reporter text NOT NULL,                       -- the login that published
    status text NOT NULL CHECK (status IN ('changed', 'unchanged', 'inconclusive')),
    inconclusive_reason text,
    generation bigint NOT NULL,                   -- after this report
    present text[] NOT NULL,                      -- managed traits present after it
    added text[] NOT NULL DEFAULT '{}',
    removed text[] NOT NULL DEFAULT '{}',
    traits jsonb NOT NULL,                        -- {trait: {present, code, reason}}
    facts jsonb,
    PRIMARY KEY (id, status, reported_at)
) PARTITION BY LIST (status);
CREATE INDEX reports_provider_time_idx ON vtpm.reports (provider_id, reported_at);

CREATE TABLE vtpm.reports_changed PARTITION OF vtpm.reports FOR VALUES IN ('changed');
CREATE INDEX reports_changed_time_idx ON vtpm.reports_changed (reported_at);
CREATE TABLE vtpm.reports_routine PARTITION OF vtpm.reports
    FOR VALUES IN ('unchanged', 'inconclusive') PARTITION BY RANGE (reported_at);
CREATE TABLE vtpm.reports_routine_default PARTITION OF vtpm.reports_routine DEFAULT;

/*
 * Makes sure UTC day @p_day of routine reports has its partition, moving its
 * rows out of the default partition first if it has any. Returns true when
 * it created the partition. SECURITY DEFINER: the partition belongs to
 * vtpm_owner whoever calls it (only the owner and superusers may).
 */
CREATE FUNCTION vtpm.reports_day_ensure(p_day date) RETURNS boolean
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_name text := 'reports_routine_' || to_char(p_day, 'YYYYMMDD');
    v_from timestamptz := p_day::timestamp AT TIME ZONE 'UTC';
    v_to timestamptz := (p_day + 1)::timestamp AT TIME ZONE 'UTC';
BEGIN
    IF to_regclass('vtpm.' || v_name) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE vtpm.%I (LIKE vtpm.reports_routine INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                   v_name);
    -- Attaching fails while the default partition holds rows of that day.
    EXECUTE format('WITH moved AS (DELETE FROM vtpm.reports_routine_default d '
                   'WHERE d.reported_at >= $1 AND d.reported_at < $2 RETURNING d.*) '
                   'INSERT INTO vtpm.%I SELECT * FROM moved', v_name) USING v_from, v_to;
    EXECUTE format('ALTER TABLE vtpm.reports_routine ATTACH PARTITION vtpm.%I FOR VALUES FROM (%L) TO (%L)',
                   v_name, v_from, v_to);
    RETURN true;
END
$fn$;

-- The days the existing reports need, and the next three.
SELECT vtpm.reports_day_ensure(d::date)
  FROM generate_series(coalesce((SELECT min(reported_at) AT TIME ZONE 'UTC'
                                   FROM vtpm.reports_0010 WHERE status <> 'changed'),
                                now() AT TIME ZONE 'UTC')::date,
                       (now() AT TIME ZONE 'UTC')::date + 3, interval '1 day') AS d;

INSERT INTO vtpm.reports OVERRIDING SYSTEM VALUE SELECT * FROM vtpm.reports_0010;
SELECT setval(pg_get_serial_sequence('vtpm.reports', 'id'),
              greatest((SELECT max(id) FROM vtpm.reports_0010), 1),
              (SELECT max(id) FROM vtpm.reports_0010) IS NOT NULL);

-- 0004's view, bound to the new table.
CREATE OR REPLACE VIEW vtpm.trait_changes AS
SELECT r.reported_at, r.host, r.generation, r.added, r.removed,
       (SELECT string_agg(replace(x, 'COMPUTE_SECURITY_', '') || ': ' || (r.traits -> x ->> 'reason'),
                          '; ')
          FROM unnest(r.removed) AS x) AS removed_because,
       r.reporter, r.id AS report_id
  FROM vtpm.reports r
 WHERE r.status = 'changed'
 ORDER BY r.reported_at DESC, r.id DESC;

DROP TABLE vtpm.reports_0010;

/*
 * Retention, to run daily (vtpm-inventory prune): creates the partitions of
 * today and the next three UTC days (and of any day the default partition
 * holds), drops each day of routine reports whose last moment is at least
 * report_retention minus two days old (so that none reaches report_retention
 * before the next daily run, and vtpm.publish() never has one to delete;
 * never today's),
 * deletes routine reports older than report_retention from the default
 * partition and changed reports older than change_retention. Returns the
 * number of reports removed: those deleted, plus those of the dropped days as
 * the planner's statistics count them (counting exactly would read them all).
 * SECURITY DEFINER, so that what it creates belongs to vtpm_owner whoever
 * calls it; only the owner and superusers may. Two runs at once take turns.
 */
CREATE OR REPLACE FUNCTION vtpm.purge_reports() RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_report_keep interval := (SELECT value FROM vtpm.settings WHERE name = 'report_retention');
    v_change_keep interval := (SELECT value FROM vtpm.settings WHERE name = 'change_retention');
    v_today date := (now() AT TIME ZONE 'UTC')::date;
    v_removed bigint := 0;
    v_rows bigint;
    p record;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('vtpm.purge_reports'));
    PERFORM vtpm.reports_day_ensure(d::date)
       FROM generate_series(v_today, v_today + 3, interval '1 day') AS d;
    -- Days that reached the default partition while purge did not run.
    PERFORM vtpm.reports_day_ensure(d.day)
       FROM (SELECT DISTINCT (reported_at AT TIME ZONE 'UTC')::date AS day
               FROM vtpm.reports_routine_default
              WHERE reported_at >= now() - v_report_keep) AS d;

    FOR p IN
        SELECT c.oid::regclass AS part, c.relname, greatest(c.reltuples, 0)::bigint AS estimate
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'vtpm.reports_routine'::regclass
           AND c.relname ~ '^reports_routine_[0-9]{8}$'
           AND (to_date(substr(c.relname, 17), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC'
               <= now() - greatest(v_report_keep - interval '2 days', interval '0')
    LOOP
        EXECUTE format('DROP TABLE %s', p.part);
        v_removed := v_removed + p.estimate;
    END LOOP;

    DELETE FROM vtpm.reports_routine_default WHERE reported_at < now() - v_report_keep;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    v_removed := v_removed + v_rows;
    DELETE FROM vtpm.reports_changed WHERE reported_at < now() - v_change_keep;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN v_removed + v_rows;
END
$fn$;

REVOKE EXECUTE ON FUNCTION vtpm.purge_reports(), vtpm.reports_day_ensure(date) FROM PUBLIC;
GRANT SELECT ON vtpm.reports TO vtpm_reader;
