-- SPDX-License-Identifier: Apache-2.0
-- A cheaper publish: the host lookup uses its index again, signing helpers are inlined, fewer statements per signed report.
--
-- Measured with pg_stat_statements, auto_explain and perf while signed
-- reports arrived through PgBouncer (docs/benchmarks.md, "Pooled
-- publishing"):
--   * vtpm.publish() and vtpm.publish_signed() pass session_user, a "name"
--     whose collation is C, among the text arguments of publish_report();
--     PostgreSQL then runs publish_report() with C as the collation of all
--     its text parameters, and `rp.name = p_host` could not use the index on
--     resource_providers.name (default collation): every report read the
--     whole table, 0.2 ms at 6,000 hosts and linear in the fleet's size.
--     Both callers now pass text in the default collation.
--   * The signing helpers of 0009 (SQL functions with a SET clause) were
--     never inlined: each call in each transaction parsed and planned its
--     body again, six per report. Now they have SQL-standard bodies, bound
--     when created and inlined into publish_signed()'s expressions.
--   * publish_signed() read and locked the key and the host's sequence in
--     four statements and wrote them in two: now one and one.
--   * Retention inside a publish deleted from vtpm.reports, whose generic
--     plan locks and opens every daily partition, on every report; 0011's
--     vtpm.purge_reports() drops those days whole. A publish now deletes a
--     host's expired reports only where purge does not drop days (the
--     default partition and the reports that changed a trait), and at most
--     once a day per host: retention counts in days.
-- Contracts, errors and their order are unchanged (tests/sql, tests/reporter).
SET LOCAL ROLE vtpm_owner;

DO $wrap$
DECLARE
    v_schema text := (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                       WHERE e.extname = 'pgcrypto');
BEGIN
    EXECUTE format('CREATE OR REPLACE FUNCTION vtpm_keys.hmac_sha256(p_key bytea, p_message bytea) '
                   'RETURNS bytea LANGUAGE sql IMMUTABLE STRICT RETURN %I.hmac(p_message, p_key, %L)',
                   v_schema, 'sha256');
    EXECUTE format('CREATE OR REPLACE FUNCTION vtpm_keys.random_bytes(p_count integer) '
                   'RETURNS bytea LANGUAGE sql VOLATILE STRICT RETURN %I.gen_random_bytes(p_count)',
                   v_schema);
END
$wrap$;
-- None of 0009's SET clauses may remain: one alone would stop inlining.
ALTER FUNCTION vtpm_keys.hmac_sha256(bytea, bytea) RESET ALL;
ALTER FUNCTION vtpm_keys.random_bytes(integer) RESET ALL;

-- One field of the signed message: "<octets>:<UTF-8 text>," (NULL as "").
CREATE FUNCTION vtpm_keys.netstring(p_field text) RETURNS bytea
LANGUAGE sql STABLE
RETURN pg_catalog.convert_to(pg_catalog.octet_length(pg_catalog.convert_to(coalesce(p_field, ''), 'UTF8'))::text
                             OPERATOR(pg_catalog.||) ':', 'UTF8')
       OPERATOR(pg_catalog.||) pg_catalog.convert_to(coalesce(p_field, ''), 'UTF8')
       OPERATOR(pg_catalog.||) '\x2c'::bytea;

-- 0009's message, byte for byte (docs/inventory.md, "Pooled publishing").
CREATE OR REPLACE FUNCTION vtpm_keys.signed_message(p_key_id text, p_seq text, p_host text, p_uuid text,
                                                    p_inconclusive text, p_inconclusive_reason text,
                                                    p_traits text, p_facts text)
RETURNS bytea
LANGUAGE sql STABLE
RETURN vtpm_keys.netstring('vtpm-publish-v1') OPERATOR(pg_catalog.||) vtpm_keys.netstring(p_key_id)
       OPERATOR(pg_catalog.||) vtpm_keys.netstring(p_seq) OPERATOR(pg_catalog.||) vtpm_keys.netstring(p_host)
       OPERATOR(pg_catalog.||) vtpm_keys.netstring(p_uuid)
       OPERATOR(pg_catalog.||) vtpm_keys.netstring(p_inconclusive)
       OPERATOR(pg_catalog.||) vtpm_keys.netstring(p_inconclusive_reason)
       OPERATOR(pg_catalog.||) vtpm_keys.netstring(p_traits)
       OPERATOR(pg_catalog.||) vtpm_keys.netstring(p_facts);
ALTER FUNCTION vtpm_keys.signed_message(text, text, text, text, text, text, text, text) RESET ALL;

-- Each key's newest accepted report time now sits on the key's own row: the
-- one row a signed publish verifies, checks and writes, in one statement.
-- 0009 kept it per host (vtpm_keys.hosts) and took four statements to lock
-- and read both rows in an order safe against a revocation. Per key is as
-- strict: a host's keys overlap only in a rollover, and the new key's first
-- report revokes the others. The view keeps its columns.
ALTER TABLE vtpm_keys.keys ADD COLUMN last_seq bigint NOT NULL DEFAULT 0;
UPDATE vtpm_keys.keys k SET last_seq = h.last_seq FROM vtpm_keys.hosts h WHERE h.host = k.host;
DROP VIEW vtpm.host_keys;
ALTER TABLE vtpm_keys.hosts DROP COLUMN last_seq, DROP COLUMN last_report_at;
CREATE VIEW vtpm.host_keys AS
    SELECT k.host, k.key_id, k.created_at, k.first_used_at, k.last_used_at,
           k.revoked_at, k.revoked_why,
           max(k.last_seq) OVER host AS last_seq, max(k.last_used_at) OVER host AS last_report_at
      FROM vtpm_keys.keys k
    WINDOW host AS (PARTITION BY k.host);
GRANT SELECT ON vtpm.host_keys TO vtpm_reader;

-- 0009's wrapper, its login passed as text in the default collation, and the
-- plan cache mode publish_report() relies on (it sets none of its own).
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
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $fn$
    SELECT * FROM vtpm.publish_report(session_user::text COLLATE "default",
                                      session_user::text COLLATE "default",
                                      pg_has_role(session_user, 'vtpm_owner', 'MEMBER'),
                                      p_host, p_uuid, p_inconclusive, p_inconclusive_reason,
                                      p_traits, p_facts);
$fn$;

-- traits_digest: the SHA-256 of the traits document whose reasons
-- provider_trait_state holds; a report with the same document writes no
-- reason (NULL: unknown). retention_at: when a publish last deleted this
-- host's expired reports (NULL: never).
ALTER TABLE vtpm.resource_providers ADD COLUMN traits_digest bytea,
                                    ADD COLUMN retention_at timestamptz;

/*
 * 0009's vtpm.publish_report() (see there), in fewer statements: reasons are
 * compared only when the traits document changed, the trait names come from
 * the bits without a query, and retention deletes only where
 * vtpm.purge_reports() does not drop whole days, once a day. No SET clause: entering and
 * leaving one costs each call, and its only callers, vtpm.publish() and
 * vtpm.publish_signed(), set search_path and plan_cache_mode for it (nobody
 * else may execute it).
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
    IF octet_length(p_traits::text) > c_traits_max THEN
        RAISE EXCEPTION 'traits document larger than % bytes', c_traits_max
            USING ERRCODE = 'program_limit_exceeded';
    END IF;
    IF p_facts IS NOT NULL THEN
        IF octet_length(p_facts::text) > c_facts_max THEN
            RAISE EXCEPTION 'facts document larger than % bytes', c_facts_max
                USING ERRCODE = 'program_limit_exceeded';
        END IF;
        -- jsonb prints a control character in a string as an escape: an odd
        -- run of backslashes before u00XX, u007f or one of n r t b f.
        IF p_facts::text ~ '(^|[^\\])(\\\\)*\\(u00[01][0-9a-fA-F]|u007[fF]|[nrtbf])' THEN
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

    -- Reasons: only when the traits document is not the one this provider
    -- last stored (its SHA-256, in jsonb's normal form), and then only rows
    -- whose content differs are written (and locked).
    IF NOT p_inconclusive AND v_digest IS DISTINCT FROM sha256(convert_to(p_traits::text, 'UTF8')) THEN
        v_digest := sha256(convert_to(p_traits::text, 'UTF8'));
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

/*
 * 0009's vtpm.publish_signed() (see there): the key verified, checked for
 * replay and written in one statement; publish_report() called in an
 * expression.
 */
CREATE OR REPLACE FUNCTION vtpm.publish_signed(
    p_key_id text,
    p_seq text,
    p_host text,
    p_uuid text,
    p_inconclusive text,
    p_inconclusive_reason text,
    p_traits text,
    p_facts text,
    p_signature text,
    OUT status text,
    OUT generation bigint,
    OUT added text[],
    OUT removed text[])
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $fn$
DECLARE
    v_host text;
    v_secret bytea;
    v_first_use boolean;
    v_signature bytea;
    v_report record;
    v_seq bigint;
    v_last bigint;
    v_now bigint;
    v_skew interval;
    v_blind bytea;
    -- Nothing longer is hashed; publish_report() applies the real limits.
    c_doc_max CONSTANT integer := 4 * 65536;
BEGIN
    IF p_key_id IS NULL OR p_key_id !~ '^[0-9a-f]{16}$' THEN
        RAISE EXCEPTION 'key id must be 16 hexadecimal digits' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_seq IS NULL OR p_seq !~ '^[1-9][0-9]{0,17}$' THEN
        RAISE EXCEPTION 'sequence must be a positive decimal number' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_signature IS NULL OR p_signature !~ '^[0-9a-f]{64}$' THEN
        RAISE EXCEPTION 'signature must be 64 lower-case hexadecimal digits'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_inconclusive IS NULL OR p_inconclusive NOT IN ('true', 'false') THEN
        RAISE EXCEPTION 'inconclusive must be true or false' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF octet_length(p_traits) > c_doc_max OR octet_length(p_facts) > c_doc_max
       OR octet_length(p_host) > 1024 OR octet_length(p_uuid) > 64
       OR octet_length(p_inconclusive_reason) > 8192 THEN
        RAISE EXCEPTION 'report too large' USING ERRCODE = 'program_limit_exceeded';
    END IF;

    v_seq := p_seq::bigint;
    v_now := (extract(epoch FROM now()) * 1000000)::bigint;
    v_blind := vtpm_keys.random_bytes(32);
    v_signature := vtpm_keys.hmac_sha256(v_blind, decode(p_signature, 'hex'));

    -- Verified, checked for replay and recorded in one statement on the
    -- key's row: a revocation (or the end of a rollover) or another report
    -- of the host committed meanwhile is waited for and then seen by the
    -- conditions. Signatures are compared as HMACs under a fresh random key,
    -- so that the time the comparison takes says nothing about the expected
    -- signature.
    UPDATE vtpm_keys.keys k
       SET last_seq = v_seq, last_used_at = now(), first_used_at = coalesce(k.first_used_at, now())
     WHERE k.key_id = p_key_id
       AND k.secret IS NOT NULL
       AND vtpm_keys.hmac_sha256(v_blind, vtpm_keys.hmac_sha256(k.secret,
               vtpm_keys.signed_message(p_key_id, p_seq, p_host, p_uuid, p_inconclusive,
                                        p_inconclusive_reason, p_traits, p_facts))) = v_signature
       AND k.host = p_host
       AND abs(v_seq - v_now) <= extract(epoch FROM (SELECT s.value FROM vtpm.settings s
                                                      WHERE s.name = 'signed_max_skew')) * 1000000
       AND k.last_seq < v_seq
    RETURNING k.first_used_at = now() INTO v_first_use;
    IF NOT FOUND THEN
        -- Why, in the order the checks are documented.
        SELECT k.host, k.secret, k.last_seq INTO v_host, v_secret, v_last
          FROM vtpm_keys.keys k WHERE k.key_id = p_key_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'unknown key %', p_key_id USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF v_secret IS NULL THEN
            RAISE EXCEPTION 'key % is revoked', p_key_id USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF vtpm_keys.hmac_sha256(v_blind, vtpm_keys.hmac_sha256(v_secret,
               vtpm_keys.signed_message(p_key_id, p_seq, p_host, p_uuid, p_inconclusive,
                                        p_inconclusive_reason, p_traits, p_facts))) <> v_signature THEN
            RAISE EXCEPTION 'the signature does not verify with key %', p_key_id
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF p_host IS DISTINCT FROM v_host THEN
            RAISE EXCEPTION 'key % may not publish host %', p_key_id, quote_literal(p_host)
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        SELECT s.value INTO v_skew FROM vtpm.settings s WHERE s.name = 'signed_max_skew';
        IF abs(v_seq - v_now) > extract(epoch FROM v_skew) * 1000000 THEN
            RAISE EXCEPTION 'report time is % s from the database''s clock (at most % s): check the host''s clock',
                round((v_seq - v_now) / 1000000.0, 1), extract(epoch FROM v_skew)
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF v_seq <= v_last THEN
            RAISE EXCEPTION 'report % of host % is not newer than the last one accepted (%): a replay',
                v_seq, quote_literal(v_host), v_last USING ERRCODE = 'insufficient_privilege';
        END IF;
        -- Nothing above failed now, but did when the update looked: a change
        -- committed in between. The reporter's next run publishes again.
        RAISE EXCEPTION 'key % changed while its report was checked: try again', p_key_id
            USING ERRCODE = 'serialization_failure';
    END IF;

    -- A key's first report ends its host's rollover: the other keys are
    -- revoked. (The only path that writes two keys' rows; a revocation of
    -- all the host's keys at that very moment may meet it in a deadlock,
    -- which PostgreSQL breaks by failing one of them.)
    IF v_first_use THEN
        UPDATE vtpm_keys.keys k
           SET secret = NULL, revoked_at = now(), revoked_why = format('superseded by key %s', p_key_id)
         WHERE k.host = p_host AND k.key_id <> p_key_id AND k.revoked_at IS NULL;
    END IF;

    -- The reporter's name in the database's default collation: session_user
    -- is a "name", whose C collation would otherwise become that of every
    -- text argument inside publish_report(), and its host lookup could no
    -- longer use the index on resource_providers.name.
    -- Called in an expression, not a query: no executor for the call itself.
    v_report := vtpm.publish_report(format('%s key %s', session_user, p_key_id) COLLATE "default",
                                    NULL, false, p_host, nullif(p_uuid, '')::uuid,
                                    p_inconclusive::boolean, nullif(p_inconclusive_reason, ''),
                                    p_traits::jsonb, nullif(p_facts, '')::jsonb);
    status := v_report.status;
    generation := v_report.generation;
    added := v_report.added;
    removed := v_report.removed;
END
$fn$;

REVOKE EXECUTE ON FUNCTION vtpm_keys.netstring(text) FROM PUBLIC;
