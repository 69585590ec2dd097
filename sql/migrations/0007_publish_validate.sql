-- SPDX-License-Identifier: Apache-2.0
-- vtpm.publish() validates the traits document without a query: 0005's contract, less work per call.
--
-- 0005 checked the document with one query joining jsonb_each() to
-- vtpm.traits: an executor start, a snapshot and a join on every publish, and
-- in a new connection (one per `vtpm-reporter run`) a plan to build first.
-- The managed traits are part of the program (include/vtpm/traits.h), not
-- data: they are written below as a constant, in bit order, and this
-- migration refuses to run if vtpm.traits says otherwise. The document is
-- then checked with plain expressions: unknown keys by subtracting the seven
-- names, completeness with ?&, and each entry's shape in a loop of seven.
-- The binding is looked up only for logins that are not owners, as before.
-- Queries remain on the error paths only (to list the offending names).
-- Behaviour, errors and their order are 0005's (tests/sql/test_publish.c).
--
-- A later migration that adds a managed trait must replace this function.
SET LOCAL ROLE vtpm_owner;

DO $check$
DECLARE
    v_names text[];
BEGIN
    SELECT array_agg(t.name ORDER BY t.bit) INTO v_names
      FROM vtpm.traits t WHERE t.bit IS NOT NULL;
    IF v_names IS DISTINCT FROM '{COMPUTE_SECURITY_TPM_1_2,COMPUTE_SECURITY_TPM_2_0,COMPUTE_SECURITY_TPM_TIS,COMPUTE_SECURITY_TPM_CRB,COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER,COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST,COMPUTE_SECURITY_TPM_SECRET_SECURITY_DEPLOYMENT}'::text[] THEN
        RAISE EXCEPTION 'vtpm.traits does not hold the seven managed traits at bits 0 to 6: %', v_names;
    END IF;
END
$check$;

-- 0005's contract (see 0002 for the parameters and results).
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
-- One plan per statement and connection (see 0005).
SET plan_cache_mode = force_generic_plan
AS $fn$
DECLARE
    -- The managed traits; element i is bit i - 1 (checked above).
    c_managed CONSTANT text[] := '{COMPUTE_SECURITY_TPM_1_2,COMPUTE_SECURITY_TPM_2_0,'
        'COMPUTE_SECURITY_TPM_TIS,COMPUTE_SECURITY_TPM_CRB,'
        'COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER,COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST,'
        'COMPUTE_SECURITY_TPM_SECRET_SECURITY_DEPLOYMENT}';
    v_id bigint;
    v_uuid uuid;
    v_gen bigint;
    v_created boolean := false;
    v_old integer;
    v_new integer := 0;
    v_entry jsonb;
    v_bad boolean := false;
    v_names text;
BEGIN
    IF p_host IS NULL OR length(p_host) NOT BETWEEN 1 AND 255 OR p_host ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'invalid host name' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_inconclusive IS NULL THEN
        RAISE EXCEPTION 'inconclusive must be true or false' USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- The binding is the security boundary: checked against the login, not
    -- against anything the caller can SET.
    IF NOT pg_has_role(session_user, 'vtpm_owner', 'MEMBER') THEN
        IF NOT EXISTS (SELECT 1 FROM vtpm.reporter_bindings b
                        WHERE b.login = session_user AND b.host = p_host) THEN
            RAISE EXCEPTION 'login % is not bound to host %', quote_ident(session_user), quote_literal(p_host)
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;

    IF p_traits IS NULL OR jsonb_typeof(p_traits) <> 'object' THEN
        RAISE EXCEPTION 'traits must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- What is left after removing the managed names is unknown.
    IF p_traits - c_managed <> '{}'::jsonb THEN
        SELECT string_agg(quote_literal(k), ', ') INTO v_names
          FROM jsonb_object_keys(p_traits - c_managed) AS k;
        RAISE EXCEPTION 'not a managed TPM trait: %', v_names USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT p_inconclusive OR p_traits <> '{}'::jsonb THEN
        IF NOT p_traits ?& c_managed THEN
            RAISE EXCEPTION 'traits must name every managed TPM trait (got %)',
                (SELECT count(*) FROM jsonb_object_keys(p_traits))
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        FOR i IN 1 .. cardinality(c_managed) LOOP
            v_entry := p_traits -> c_managed[i];
            IF jsonb_typeof(v_entry) <> 'object'
               OR jsonb_typeof(v_entry -> 'present') IS DISTINCT FROM 'boolean'
               OR jsonb_typeof(v_entry -> 'code') IS DISTINCT FROM 'string'
               OR jsonb_typeof(v_entry -> 'reason') IS DISTINCT FROM 'string' THEN
                v_bad := true;
            ELSIF v_entry -> 'present' = 'true'::jsonb THEN
                v_new := v_new | (1 << (i - 1));
            END IF;
        END LOOP;
        IF v_bad THEN
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
