-- SPDX-License-Identifier: Apache-2.0
-- A cheaper vtpm.publish(): 0002's contract in three to six statements instead of about twenty.
--
-- Where 0002's version spent its time (pg_stat_statements, auto_explain and
-- perf while bench/bench_inventory ran; figures in docs/benchmarks.md):
--   * vtpm.trait_names() up to three times per publish: a SQL function with a
--     SET clause is never inlined, so every call parsed and planned its query
--     again (about a fifth of the server's time);
--   * six queries to validate the traits document, two to read the settings,
--     and one to read back from provider_traits the managed traits that
--     tpm_bits already mirrors: each a separate executor start, and a
--     separate plan in every new connection (`vtpm-reporter run` connects
--     once per report);
--   * an upsert of all seven reasons on every report, which locks and
--     rewrites nothing but still visits seven rows through ON CONFLICT.
-- Now: one query validates (an error message costs a second one), one locks
-- the provider and reads its managed traits from tpm_bits, provider_traits is
-- written only when the set changes, reasons only where they differ, and one
-- statement updates the provider, records the report and applies retention.
-- Behaviour, errors and their order are 0002's (tests/sql/test_publish.c).
SET LOCAL ROLE vtpm_owner;

-- Reasons are rewritten in place when a trait flips: leave room on each page
-- so that the new row version stays on it (a HOT update, no index entry).
-- Applies to pages written from now on.
ALTER TABLE vtpm.provider_trait_state SET (fillfactor = 70);

-- Seven rows never reach autovacuum's threshold: without statistics the
-- planner takes vtpm.traits for a thousand rows and plans for that.
ANALYZE vtpm.traits;

/*
 * Publishes one host's report; the contract is 0002's (see there):
 *   p_host, p_uuid, p_inconclusive, p_inconclusive_reason, p_traits, p_facts
 * Returns status, generation, added, removed.
 * The managed traits before the report are read from tpm_bits of the locked
 * provider row. publish() is the only writer of both tpm_bits and the managed
 * rows of provider_traits and writes them together, and it writes the managed
 * rows as exactly the reported set whenever that set changes.
 */
CREATE OR REPLACE FUNCTION vtpm.publish(
    p_host text,
    p_uuid uuid,
    p_inconclusive boolean,
    p_inconclusive_reason text,
    p_traits jsonb,
    p_facts jsonb,
    OUT status text,
    OUT generation bigint,
    OUT added text[],
    OUT removed text[])
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- One plan per statement and connection. Left to choose, the plan cache plans
-- the write statement again on every call of an unchanged report, because
-- knowing that the trait set did not change makes a custom plan look cheaper.
SET plan_cache_mode = force_generic_plan
AS $fn$
DECLARE
    v_id bigint;
    v_uuid uuid;
    v_gen bigint;
    v_created boolean := false;
    v_old integer;
    v_new integer;
    v_bound boolean;
    v_managed bigint;
    v_keys bigint;
    v_unknown bigint;
    v_bad bigint;
    v_names text;
BEGIN
    IF p_host IS NULL OR length(p_host) NOT BETWEEN 1 AND 255 OR p_host ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'invalid host name' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_inconclusive IS NULL THEN
        RAISE EXCEPTION 'inconclusive must be true or false' USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- The binding and the whole traits document in one query; the names
    -- for an error message are looked up only when there is an error.
    SELECT pg_has_role(session_user, 'vtpm_owner', 'MEMBER')
               OR EXISTS (SELECT 1 FROM vtpm.reporter_bindings b
                           WHERE b.login = session_user AND b.host = p_host),
           (SELECT count(*) FROM vtpm.traits m WHERE m.bit IS NOT NULL),
           count(e.key),
           count(e.key) FILTER (WHERE t.bit IS NULL),
           count(e.key) FILTER (
               WHERE jsonb_typeof(e.value) <> 'object'
                  OR jsonb_typeof(e.value -> 'present') IS DISTINCT FROM 'boolean'
                  OR jsonb_typeof(e.value -> 'code') IS DISTINCT FROM 'string'
                  OR jsonb_typeof(e.value -> 'reason') IS DISTINCT FROM 'string'),
           coalesce(bit_or(1 << t.bit) FILTER (WHERE e.value -> 'present' = 'true'::jsonb), 0)
      INTO v_bound, v_managed, v_keys, v_unknown, v_bad, v_new
      FROM jsonb_each(CASE WHEN jsonb_typeof(p_traits) = 'object' THEN p_traits ELSE '{}' END) AS e
      LEFT JOIN vtpm.traits t ON t.name = e.key AND t.bit IS NOT NULL;

    -- The binding is the security boundary: checked against the login, not
    -- against anything the caller can SET.
    IF NOT v_bound THEN
        RAISE EXCEPTION 'login % is not bound to host %', quote_ident(session_user), quote_literal(p_host)
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_traits IS NULL OR jsonb_typeof(p_traits) <> 'object' THEN
        RAISE EXCEPTION 'traits must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_unknown > 0 THEN
        SELECT string_agg(quote_literal(k), ', ') INTO v_names
          FROM jsonb_object_keys(p_traits) AS k
         WHERE NOT EXISTS (SELECT 1 FROM vtpm.traits t WHERE t.name = k AND t.bit IS NOT NULL);
        RAISE EXCEPTION 'not a managed TPM trait: %', v_names USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT p_inconclusive OR v_keys > 0 THEN
        IF v_keys <> v_managed THEN
            RAISE EXCEPTION 'traits must name every managed TPM trait (got %)', v_keys
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF v_bad > 0 THEN
            SELECT string_agg(quote_literal(e.key), ', ') INTO v_names
              FROM jsonb_each(p_traits) AS e
             WHERE jsonb_typeof(e.value) <> 'object'
                OR jsonb_typeof(e.value -> 'present') IS DISTINCT FROM 'boolean'
                OR jsonb_typeof(e.value -> 'code') IS DISTINCT FROM 'string'
                OR jsonb_typeof(e.value -> 'reason') IS DISTINCT FROM 'string';
            RAISE EXCEPTION 'trait needs present (boolean), code and reason (strings): %', v_names
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;

    -- Find and lock the provider, or create it. The locked row is the latest
    -- version even when another publish of this host committed meanwhile.
    LOOP
        SELECT rp.id, rp.uuid, rp.generation, rp.tpm_bits INTO v_id, v_uuid, v_gen, v_old
          FROM vtpm.resource_providers rp WHERE rp.name = p_host FOR UPDATE;
        EXIT WHEN FOUND;
        INSERT INTO vtpm.resource_providers (uuid, name)
             VALUES (coalesce(p_uuid, gen_random_uuid()), p_host)
        ON CONFLICT (name) DO NOTHING
        RETURNING id, uuid, resource_providers.generation, tpm_bits INTO v_id, v_uuid, v_gen, v_old;
        IF FOUND THEN
            v_created := true;
            EXIT;
        END IF;
    END LOOP;
    IF p_uuid IS NOT NULL AND p_uuid <> v_uuid THEN
        RAISE EXCEPTION 'host % is provider %, not %', quote_literal(p_host), v_uuid, p_uuid
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    IF p_inconclusive THEN
        status := 'inconclusive';
        v_new := v_old;
    ELSE
        status := CASE WHEN v_new <> v_old OR v_created THEN 'changed' ELSE 'unchanged' END;
        IF v_new <> v_old THEN
            v_gen := v_gen + 1;
        END IF;
    END IF;
    generation := v_gen;

    -- The managed rows of provider_traits become exactly the reported set.
    IF v_new <> v_old THEN
        WITH gone AS (
            DELETE FROM vtpm.provider_traits pt
             USING vtpm.traits t
             WHERE pt.provider_id = v_id AND pt.trait_id = t.id
               AND t.bit IS NOT NULL AND (v_new & (1 << t.bit)) = 0
        )
        INSERT INTO vtpm.provider_traits (provider_id, trait_id)
             SELECT v_id, t.id FROM vtpm.traits t
              WHERE t.bit IS NOT NULL AND (v_new & (1 << t.bit)) <> 0
        ON CONFLICT DO NOTHING;
    END IF;

    -- Reasons: only rows whose content differs are written (and locked).
    IF NOT p_inconclusive THEN
        INSERT INTO vtpm.provider_trait_state AS s
               (provider_id, trait_id, present, reason_code, reason)
             SELECT v_id, t.id, e.value -> 'present' = 'true'::jsonb,
                    e.value ->> 'code', e.value ->> 'reason'
               FROM jsonb_each(p_traits) AS e
               JOIN vtpm.traits t ON t.name = e.key
               LEFT JOIN vtpm.provider_trait_state o ON o.provider_id = v_id AND o.trait_id = t.id
              WHERE o.provider_id IS NULL
                 OR (o.present, o.reason_code, o.reason) IS DISTINCT FROM
                    (e.value -> 'present' = 'true'::jsonb, e.value ->> 'code', e.value ->> 'reason')
        ON CONFLICT (provider_id, trait_id) DO UPDATE
               SET present = excluded.present,
                   reason_code = excluded.reason_code,
                   reason = excluded.reason,
                   since = CASE WHEN s.present = excluded.present THEN s.since ELSE now() END;
    END IF;

    -- The provider, the report and retention, in one statement.
    WITH names AS (
        SELECT coalesce(array_agg(t.name ORDER BY t.bit)
                            FILTER (WHERE (v_new & (1 << t.bit)) <> 0), '{}') AS present,
               coalesce(array_agg(t.name ORDER BY t.bit)
                            FILTER (WHERE (v_new & ~v_old & (1 << t.bit)) <> 0), '{}') AS added,
               coalesce(array_agg(t.name ORDER BY t.bit)
                            FILTER (WHERE (v_old & ~v_new & (1 << t.bit)) <> 0), '{}') AS removed
          FROM vtpm.traits t WHERE t.bit IS NOT NULL
    ), provider AS (
        UPDATE vtpm.resource_providers rp
           SET generation = v_gen,
               tpm_bits = v_new,
               updated_at = CASE WHEN v_new <> v_old THEN now() ELSE rp.updated_at END,
               last_report_at = now(),
               last_status = status,
               last_inconclusive_reason = CASE WHEN p_inconclusive THEN p_inconclusive_reason END,
               last_conclusive_at = CASE WHEN p_inconclusive THEN rp.last_conclusive_at ELSE now() END,
               last_reporter = session_user
         WHERE rp.id = v_id
    ), report AS (
        INSERT INTO vtpm.reports (provider_id, host, reporter, status, inconclusive_reason,
                                  generation, present, added, removed, traits, facts)
             SELECT v_id, p_host, session_user, status,
                    CASE WHEN p_inconclusive THEN coalesce(p_inconclusive_reason, '') END,
                    v_gen, n.present, n.added, n.removed, p_traits, p_facts
               FROM names n
    ), expired AS (
        -- Retention, for this host only: cheap on the (provider_id,
        -- reported_at) index. The report inserted above is not seen here.
        DELETE FROM vtpm.reports r
         WHERE r.provider_id = v_id
           AND r.reported_at < now() - least(
                   (SELECT s.value FROM vtpm.settings s WHERE s.name = 'report_retention'),
                   (SELECT s.value FROM vtpm.settings s WHERE s.name = 'change_retention'))
           AND (r.status <> 'changed'
                OR r.reported_at < now() - (SELECT s.value FROM vtpm.settings s
                                             WHERE s.name = 'change_retention'))
    )
    SELECT n.added, n.removed INTO added, removed FROM names n;

    IF status = 'changed' THEN
        PERFORM pg_notify('vtpm_traits', json_build_object(
            'host', p_host, 'uuid', v_uuid, 'generation', v_gen,
            'added', added, 'removed', removed)::text);
    END IF;
END
$fn$;
