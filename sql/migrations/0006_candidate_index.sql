-- SPDX-License-Identifier: Apache-2.0
-- Candidate queries from a narrow table that changes only when a host's traits do.
--
-- Until now candidates were read from vtpm.resource_providers, whose row is
-- rewritten by every report (last_report_at and friends). A page written
-- since the last VACUUM is not all-visible, so no index on it can answer a
-- query alone: fetching 50,000 matches at 100,000 hosts read some 4,000 heap
-- pages (42 ms). vtpm.trait_index holds one row per provider with its managed
-- trait bits and uuid, and a covering index over both. It is written only when
-- a provider is created or its trait set changes (rare), so its pages stay
-- all-visible between changes and the scheduler's question becomes an
-- index-only scan.
SET LOCAL ROLE vtpm_owner;

CREATE TABLE vtpm.trait_index (
    provider_id bigint PRIMARY KEY
        REFERENCES vtpm.resource_providers (id) ON DELETE CASCADE,
    tpm_bits integer NOT NULL,
    uuid uuid NOT NULL
);
CREATE INDEX trait_index_bits_idx ON vtpm.trait_index (tpm_bits) INCLUDE (uuid);
-- Index-only scans need the visibility map: let autovacuum set it again after
-- a few hundred changes, not after a fifth of the table (its default).
ALTER TABLE vtpm.trait_index SET (autovacuum_vacuum_scale_factor = 0,
                                  autovacuum_vacuum_threshold = 200,
                                  autovacuum_vacuum_insert_scale_factor = 0,
                                  autovacuum_vacuum_insert_threshold = 1000);

INSERT INTO vtpm.trait_index (provider_id, tpm_bits, uuid)
     SELECT id, tpm_bits, uuid FROM vtpm.resource_providers;

-- Kept by triggers rather than by vtpm.publish(): whoever writes
-- resource_providers (the owner repairing a row by hand included), the index
-- follows in the same transaction.
CREATE FUNCTION vtpm.trait_index_sync() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    INSERT INTO vtpm.trait_index AS ti (provider_id, tpm_bits, uuid)
         VALUES (NEW.id, NEW.tpm_bits, NEW.uuid)
    ON CONFLICT (provider_id) DO UPDATE
           SET tpm_bits = excluded.tpm_bits, uuid = excluded.uuid;
    RETURN NULL;
END
$fn$;

CREATE TRIGGER trait_index_insert
    AFTER INSERT ON vtpm.resource_providers
    FOR EACH ROW EXECUTE FUNCTION vtpm.trait_index_sync();
CREATE TRIGGER trait_index_update
    AFTER UPDATE OF tpm_bits, uuid ON vtpm.resource_providers
    FOR EACH ROW
    WHEN (OLD.tpm_bits IS DISTINCT FROM NEW.tpm_bits OR OLD.uuid IS DISTINCT FROM NEW.uuid)
    EXECUTE FUNCTION vtpm.trait_index_sync();

-- Nothing reads tpm_bits through this index any more, and without it a report
-- that changes the trait set no longer has to add four index entries for the
-- provider's new row version: the update can stay on its page (HOT).
DROP INDEX vtpm.resource_providers_tpm_bits_idx;

-- Every trait combination with all of @required and none of @forbidden: at
-- most 128 values, the keys of one index scan. Unknown names are an error.
CREATE FUNCTION vtpm.trait_masks(required text[], forbidden text[] DEFAULT '{}')
RETURNS integer[]
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    req integer := vtpm.trait_mask(coalesce(required, '{}'));
    forb integer := vtpm.trait_mask(coalesce(forbidden, '{}'));
BEGIN
    RETURN (SELECT coalesce(array_agg(b ORDER BY b), '{}') FROM generate_series(0, 127) AS b
             WHERE b & req = req AND b & forb = 0);
END
$fn$;

/*
 * The scheduler's question: the uuids of the providers that have every trait
 * in @required and none in @forbidden, at most @max_results of them (NULL:
 * all), in no particular order. A plain SQL function on purpose: the planner
 * inlines it into the caller's query, so the answer streams from the
 * index-only scan instead of being collected in a function's result store
 * first. It therefore runs with the caller's rights and search_path; every
 * name in it is schema-qualified.
 */
CREATE FUNCTION vtpm.candidate_uuids(required text[], forbidden text[] DEFAULT '{}',
                                     max_results integer DEFAULT NULL)
RETURNS SETOF uuid
LANGUAGE sql STABLE
AS $fn$
    SELECT ti.uuid FROM vtpm.trait_index ti
     WHERE ti.tpm_bits = ANY (vtpm.trait_masks(required, forbidden))
     LIMIT max_results
$fn$;

-- 0004's functions, same results, read from the new table. vtpm.candidates
-- plans its query with the actual masks on every call, as 0004's did: how
-- many hosts they match decides between a nested loop and a hash join.
CREATE OR REPLACE FUNCTION vtpm.candidates(required text[], forbidden text[] DEFAULT '{}',
                                           max_results integer DEFAULT NULL)
RETURNS TABLE (host text, uuid uuid, generation bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    RETURN QUERY EXECUTE
        'SELECT rp.name, rp.uuid, rp.generation
           FROM vtpm.trait_index ti JOIN vtpm.resource_providers rp ON rp.id = ti.provider_id
          WHERE ti.tpm_bits = ANY ($1) LIMIT $2'
        USING vtpm.trait_masks(required, forbidden), max_results;
END
$fn$;

CREATE OR REPLACE FUNCTION vtpm.candidate_count(required text[], forbidden text[] DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    masks integer[] := vtpm.trait_masks(required, forbidden);
BEGIN
    RETURN (SELECT count(*) FROM vtpm.trait_index ti WHERE ti.tpm_bits = ANY (masks));
END
$fn$;

REVOKE EXECUTE ON FUNCTION vtpm.trait_index_sync() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vtpm.trait_masks(text[], text[]),
    vtpm.candidate_uuids(text[], text[], integer) TO vtpm_reader;
-- SELECT on the table: 0003's default privileges grant it to vtpm_reader.
