-- SPDX-License-Identifier: Apache-2.0
-- A changed report's writes in one statement; the facts check means the same in every session.
--
-- vtpm.publish_report() (0012) is redefined; signatures, contracts, errors
-- and their order are unchanged.
--   * A report that changes a trait rewrote the provider's managed rows of
--     provider_traits in one statement and its reasons in provider_trait_state
--     in another. Now one statement does both (data-modifying CTEs): measured
--     through PgBouncer with 16 signed reporters, about 30 us less database
--     CPU per changed report (about 800 -> 770 us), unchanged reports as before
--     (docs/benchmarks.md, "What changed: migration 0014").
--   * The documents' text forms are made once per report, not two or three
--     times, and the facts are searched for an escaped control character
--     only when they hold a backslash at all.
--   * PL/pgSQL compiles a function's body in the session that first calls
--     it, and reads its string literals under that session's
--     standard_conforming_strings. With it off (a database or role default
--     kept from an old application, or a reporter's PGOPTIONS), the facts
--     check's pattern lost its backslashes and matched nearly any text:
--     every report with facts was refused as holding control characters.
--     The pattern is now an E'' literal, read the same under either setting
--     (tests/sql/test_roles.c).
SET LOCAL ROLE vtpm_owner;

/*
 * 0012's vtpm.publish_report() (see there and 0009). Only vtpm.publish() and
 * vtpm.publish_signed() call it; they set search_path and plan_cache_mode.
 */
CREATE OR REPLACE FUNCTION vtpm.publish_report(
    p_reporter text,
    p_login text,
    p_owner boolean,
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
LANGUAGE plpgsql VOLATILE
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
    v_present text[] := '{}';
    v_digest bytea;
    v_retention_at timestamptz;
    v_owner boolean := coalesce(p_owner, false);
    v_traits_text text;
    v_facts_text text;
    v_new_doc boolean;
    -- Limits (docs/inventory.md): a hostile reporter cannot store more.
    c_text_max CONSTANT integer := 1000;     -- a reason, the inconclusive reason (characters)
    c_traits_max CONSTANT integer := 16384;  -- the traits document (bytes of its text)
    c_facts_max CONSTANT integer := 65536;   -- the facts document (bytes of its text)
BEGIN
    IF p_host IS NULL OR length(p_host) NOT BETWEEN 1 AND 255 OR p_host ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'invalid host name' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_inconclusive IS NULL THEN
        RAISE EXCEPTION 'inconclusive must be true or false' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF length(p_inconclusive_reason) > c_text_max OR p_inconclusive_reason ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'inconclusive reason must be at most % characters, without control characters',
            c_text_max USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- The direct mode's security boundary: the login's binding (the login
    -- is session_user, never anything the caller can SET).
    IF NOT v_owner AND p_login IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM vtpm.reporter_bindings b
                        WHERE b.login = p_login AND b.host = p_host) THEN
            RAISE EXCEPTION 'login % is not bound to host %', quote_ident(p_login), quote_literal(p_host)
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;

    IF p_traits IS NULL OR jsonb_typeof(p_traits) <> 'object' THEN
        RAISE EXCEPTION 'traits must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_traits_text := p_traits::text;
    IF octet_length(v_traits_text) > c_traits_max THEN
        RAISE EXCEPTION 'traits document larger than % bytes', c_traits_max
            USING ERRCODE = 'program_limit_exceeded';
    END IF;
    IF p_facts IS NOT NULL THEN
        v_facts_text := p_facts::text;
        IF octet_length(v_facts_text) > c_facts_max THEN
            RAISE EXCEPTION 'facts document larger than % bytes', c_facts_max
                USING ERRCODE = 'program_limit_exceeded';
        END IF;
        -- jsonb prints a control character in a string as an escape: an odd
        -- run of backslashes before u00XX, u007f or one of n r t b f.
        -- A control character can only be there as an escape, after a
        -- backslash. The literals are E'' strings: this body is compiled in
        -- the caller's session, and a plain literal's backslashes would mean
        -- something else under standard_conforming_strings = off.
        IF strpos(v_facts_text, E'\\') > 0
           AND v_facts_text ~ E'(^|[^\\\\])(\\\\\\\\)*\\\\(u00[01][0-9a-fA-F]|u007[fF]|[nrtbf])' THEN
            RAISE EXCEPTION 'facts must not contain control characters'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
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
               OR jsonb_typeof(v_entry -> 'reason') IS DISTINCT FROM 'string'
               OR v_entry - '{present,code,reason}'::text[] <> '{}'::jsonb
               OR (v_entry ->> 'code') !~ '^[a-z0-9_]{0,64}$'
               OR length(v_entry ->> 'reason') > c_text_max
               OR (v_entry ->> 'reason') ~ '[[:cntrl:]]' THEN
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
                OR jsonb_typeof(e.value -> 'reason') IS DISTINCT FROM 'string'
                OR e.value - '{present,code,reason}'::text[] <> '{}'::jsonb
                OR (e.value ->> 'code') !~ '^[a-z0-9_]{0,64}$'
                OR length(e.value ->> 'reason') > c_text_max
                OR (e.value ->> 'reason') ~ '[[:cntrl:]]';
            RAISE EXCEPTION 'trait needs present (boolean), code (at most 64 of a-z, 0-9, _) and reason '
                '(at most % characters, no control characters), and nothing else: %', c_text_max, v_names
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;

    -- Find and lock the provider, or create it. The locked row is the latest
    -- version even when another publish of this host committed meanwhile.
    LOOP
        SELECT rp.id, rp.uuid, rp.generation, rp.tpm_bits, rp.traits_digest, rp.retention_at
          INTO v_id, v_uuid, v_gen, v_old, v_digest, v_retention_at
          FROM vtpm.resource_providers rp WHERE rp.name = p_host FOR UPDATE;
        EXIT WHEN FOUND;
        -- A reporter may not choose the UUID of a new provider: it could take
        -- the one another host (Nova's compute node) reports later. The owner
        -- fixes it at bind time (vtpm.bind_reporter(..., p_uuid)), which
        -- creates the provider; the message names no other provider.
        IF p_uuid IS NOT NULL AND NOT v_owner THEN
            RAISE EXCEPTION 'host % has no provider yet: its UUID is set when the owner binds the reporter or creates its key',
                quote_literal(p_host) USING ERRCODE = 'insufficient_privilege';
        END IF;
        INSERT INTO vtpm.resource_providers (uuid, name)
             VALUES (coalesce(p_uuid, gen_random_uuid()), p_host)
        ON CONFLICT (name) DO NOTHING
        RETURNING id, uuid, resource_providers.generation, tpm_bits, traits_digest, retention_at
             INTO v_id, v_uuid, v_gen, v_old, v_digest, v_retention_at;
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

    -- The managed rows of provider_traits become exactly the reported set,
    -- and the reasons are stored when the traits document is not the one
    -- this provider last stored (its SHA-256, in jsonb's normal form), only
    -- the rows whose content differs (and so locked). A report that changes
    -- a trait does both: one statement.
    v_new_doc := NOT p_inconclusive
                 AND v_digest IS DISTINCT FROM sha256(convert_to(v_traits_text, 'UTF8'));
    IF v_new <> v_old OR v_new_doc THEN
        IF v_new_doc THEN
            v_digest := sha256(convert_to(v_traits_text, 'UTF8'));
        END IF;
        WITH gone AS (
            DELETE FROM vtpm.provider_traits pt
             USING vtpm.traits t
             WHERE v_new <> v_old AND pt.provider_id = v_id AND pt.trait_id = t.id
               AND t.bit IS NOT NULL AND (v_new & (1 << t.bit)) = 0
        ), came AS (
            INSERT INTO vtpm.provider_traits (provider_id, trait_id)
                 SELECT v_id, t.id FROM vtpm.traits t
                  WHERE v_new <> v_old AND t.bit IS NOT NULL AND (v_new & (1 << t.bit)) <> 0
            ON CONFLICT DO NOTHING
        )
        INSERT INTO vtpm.provider_trait_state AS s
               (provider_id, trait_id, present, reason_code, reason)
             SELECT v_id, t.id, e.value -> 'present' = 'true'::jsonb,
                    e.value ->> 'code', e.value ->> 'reason'
               FROM jsonb_each(p_traits) AS e
               JOIN vtpm.traits t ON t.name = e.key
               LEFT JOIN vtpm.provider_trait_state o ON o.provider_id = v_id AND o.trait_id = t.id
              WHERE v_new_doc
                AND (o.provider_id IS NULL
                     OR (o.present, o.reason_code, o.reason) IS DISTINCT FROM
                        (e.value -> 'present' = 'true'::jsonb, e.value ->> 'code', e.value ->> 'reason'))
        ON CONFLICT (provider_id, trait_id) DO UPDATE
               SET present = excluded.present,
                   reason_code = excluded.reason_code,
                   reason = excluded.reason,
                   since = CASE WHEN s.present = excluded.present THEN s.since ELSE now() END;
    END IF;

    -- The names behind the bits, in bit order.
    added := '{}';
    removed := '{}';
    FOR i IN 1 .. cardinality(c_managed) LOOP
        IF v_new & (1 << (i - 1)) <> 0 THEN
            v_present := v_present || c_managed[i];
            IF v_old & (1 << (i - 1)) = 0 THEN
                added := added || c_managed[i];
            END IF;
        ELSIF v_old & (1 << (i - 1)) <> 0 THEN
            removed := removed || c_managed[i];
        END IF;
    END LOOP;

    -- Retention, for this host only, where vtpm.purge_reports() does not
    -- drop whole days: the default partition (days purge never made) and
    -- the reports that changed a trait; once a day, as retention counts in
    -- days. Cheap on their (provider_id, reported_at) indexes.
    IF v_retention_at IS NULL OR v_retention_at < now() - interval '1 day' THEN
        WITH expired_routine AS (
            DELETE FROM vtpm.reports_routine_default r
             WHERE r.provider_id = v_id
               AND r.reported_at < now() - (SELECT s.value FROM vtpm.settings s
                                             WHERE s.name = 'report_retention')
        )
        DELETE FROM vtpm.reports_changed r
         WHERE r.provider_id = v_id
           AND r.reported_at < now() - (SELECT s.value FROM vtpm.settings s
                                         WHERE s.name = 'change_retention');
        v_retention_at := now();
    END IF;

    -- The provider and the report, in one statement.
    WITH provider AS (
        UPDATE vtpm.resource_providers rp
           SET generation = v_gen,
               tpm_bits = v_new,
               updated_at = CASE WHEN v_new <> v_old THEN now() ELSE rp.updated_at END,
               last_report_at = now(),
               last_status = status,
               last_inconclusive_reason = CASE WHEN p_inconclusive THEN p_inconclusive_reason END,
               last_conclusive_at = CASE WHEN p_inconclusive THEN rp.last_conclusive_at ELSE now() END,
               last_reporter = p_reporter,
               traits_digest = v_digest,
               retention_at = v_retention_at
         WHERE rp.id = v_id
    )
    INSERT INTO vtpm.reports (provider_id, host, reporter, status, inconclusive_reason,
                              generation, present, added, removed, traits, facts)
         VALUES (v_id, p_host, p_reporter, status,
                 CASE WHEN p_inconclusive THEN coalesce(p_inconclusive_reason, '') END,
                 v_gen, v_present, added, removed, p_traits, p_facts);

    IF status = 'changed' THEN
        PERFORM pg_notify('vtpm_traits', json_build_object(
            'host', p_host, 'uuid', v_uuid, 'generation', v_gen,
            'added', added, 'removed', removed)::text);
    END IF;
END
$fn$;

ALTER FUNCTION vtpm.publish_report(text, text, boolean, text, uuid, boolean, text, jsonb, jsonb) RESET ALL;
