-- SPDX-License-Identifier: Apache-2.0
-- Pooled publishing: one shared login, per-host keys the database verifies (HMAC-SHA256), no replays.
--
-- PgBouncer keeps one pool per login, so one login per host (0003) means one
-- pool per host and no reuse. Here every reporter may log in as one shared
-- login whose only right is vtpm.publish_signed(); what a report may change
-- is decided by the key that signed it, in the database:
--
--   vtpm_keys.keys    each host's keys (at most two valid: a rollover), the
--                     secret erased when revoked. Schema vtpm_keys is the
--                     owner's alone: no other role has USAGE on it, so
--                     vtpm_reader and the shared login cannot read a key;
--                     vtpm.host_keys shows ids and dates without secrets.
--   vtpm_keys.hosts   each host's last accepted sequence (report time in
--                     microseconds): a report not newer is a replay.
--   vtpm.publish_signed(key_id, seq, host, uuid, inconclusive, reason,
--                     traits, facts, signature) verifies HMAC-SHA256 over the
--                     canonical message of its arguments as sent (text: no
--                     JSON canonical form is needed), then publishes.
--   vtpm.host_key_create / _rotate / _revoke, vtpm.pool_login: for
--                     vtpm-inventory, run by a superuser.
--
-- vtpm.publish()'s body moves to vtpm.publish_report(), which both entry
-- points call; vtpm.publish() keeps its contract, errors and their order.
-- The message format and the threat model are in docs/inventory.md.

-- pgcrypto (HMAC, random bytes) in a schema of its own, unless the database
-- has it already; the wrappers below find it wherever it is. Trusted since
-- PostgreSQL 13: a database owner may create it, too.
DO $ext$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pgcrypto') THEN
        CREATE SCHEMA vtpm_crypto;
        REVOKE ALL ON SCHEMA vtpm_crypto FROM PUBLIC;
        GRANT USAGE ON SCHEMA vtpm_crypto TO vtpm_owner;
        CREATE EXTENSION pgcrypto SCHEMA vtpm_crypto;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vtpm_pool_publisher') THEN
        CREATE ROLE vtpm_pool_publisher NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- a concurrent migration of another database created the role
END
$ext$;

CREATE SCHEMA vtpm_keys AUTHORIZATION vtpm_owner;
REVOKE ALL ON SCHEMA vtpm_keys FROM PUBLIC;

SET LOCAL ROLE vtpm_owner;

DO $wrap$
DECLARE
    v_schema text := (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                       WHERE e.extname = 'pgcrypto');
BEGIN
    EXECUTE format('CREATE FUNCTION vtpm_keys.hmac_sha256(p_key bytea, p_message bytea) RETURNS bytea '
                   'LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS %L',
                   format('SELECT %I.hmac($2, $1, %L)', v_schema, 'sha256'));
    EXECUTE format('CREATE FUNCTION vtpm_keys.random_bytes(p_count integer) RETURNS bytea '
                   'LANGUAGE sql VOLATILE STRICT SET search_path = pg_catalog, pg_temp AS %L',
                   format('SELECT %I.gen_random_bytes($1)', v_schema));
END
$wrap$;

INSERT INTO vtpm.settings (name, value, description) VALUES
    ('signed_max_skew', '5 minutes',
     'a signed report whose time differs more from the database''s clock is refused');

-- One row per host that has had a key: the newest report time accepted.
CREATE TABLE vtpm_keys.hosts (
    host text PRIMARY KEY
        CHECK (length(host) BETWEEN 1 AND 255 AND host !~ '[[:cntrl:]]'),
    last_seq bigint NOT NULL DEFAULT 0,
    last_report_at timestamptz
);

CREATE TABLE vtpm_keys.keys (
    key_id text PRIMARY KEY CHECK (key_id ~ '^[0-9a-f]{16}$'),
    host text NOT NULL REFERENCES vtpm_keys.hosts (host) ON DELETE CASCADE,
    secret bytea CHECK (octet_length(secret) = 32),   -- NULL once revoked
    created_at timestamptz NOT NULL DEFAULT now(),
    first_used_at timestamptz,
    last_used_at timestamptz,
    revoked_at timestamptz,
    revoked_why text,
    CHECK ((secret IS NULL) = (revoked_at IS NOT NULL))
);
CREATE INDEX keys_host_idx ON vtpm_keys.keys (host);

-- For admins and vtpm_reader: which keys exist, no secret.
CREATE VIEW vtpm.host_keys AS
    SELECT k.host, k.key_id, k.created_at, k.first_used_at, k.last_used_at,
           k.revoked_at, k.revoked_why, h.last_seq, h.last_report_at
      FROM vtpm_keys.keys k JOIN vtpm_keys.hosts h ON h.host = k.host;
GRANT SELECT ON vtpm.host_keys TO vtpm_reader;

/*
 * The message a report's signature covers, as bytes: a netstring
 * ("<octets>:<UTF-8 text>,") of "vtpm-publish-v1" and then of each argument
 * as sent, NULL as "". Unambiguous without escaping: each field says its
 * length. docs/inventory.md, "Pooled publishing", is the reference; the
 * reporter's writer is reporter/publish/pg/signing_key.c.
 */
CREATE FUNCTION vtpm_keys.signed_message(p_key_id text, p_seq text, p_host text, p_uuid text,
                                         p_inconclusive text, p_inconclusive_reason text,
                                         p_traits text, p_facts text)
RETURNS bytea
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT string_agg(convert_to(octet_length(convert_to(coalesce(f, ''), 'UTF8'))::text || ':', 'UTF8')
                      || convert_to(coalesce(f, ''), 'UTF8') || '\x2c'::bytea, ''::bytea ORDER BY i)
      FROM unnest(ARRAY['vtpm-publish-v1', p_key_id, p_seq, p_host, p_uuid, p_inconclusive,
                        p_inconclusive_reason, p_traits, p_facts]) WITH ORDINALITY AS a(f, i);
$fn$;

/*
 * 0008's vtpm.publish(), for whoever its caller vouches for. @p_reporter is
 * recorded as the report's reporter. When @p_login is not NULL and @p_owner
 * is false, @p_login must be bound to @p_host (the direct mode); the signed
 * mode passes NULL: the key has said which host may be published. @p_owner:
 * the caller may choose a new provider's UUID. Nobody may execute it; only
 * vtpm.publish() and vtpm.publish_signed() call it, as its owner.
 */
CREATE FUNCTION vtpm.publish_report(
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
        SELECT rp.id, rp.uuid, rp.generation, rp.tpm_bits INTO v_id, v_uuid, v_gen, v_old
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
               last_reporter = p_reporter
         WHERE rp.id = v_id
    ), report AS (
        INSERT INTO vtpm.reports (provider_id, host, reporter, status, inconclusive_reason,
                                  generation, present, added, removed, traits, facts)
             SELECT v_id, p_host, p_reporter, status,
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

-- 0008's contract, now a wrapper: the binding is checked for session_user.
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
AS $fn$
    SELECT * FROM vtpm.publish_report(session_user, session_user,
                                      pg_has_role(session_user, 'vtpm_owner', 'MEMBER'),
                                      p_host, p_uuid, p_inconclusive, p_inconclusive_reason,
                                      p_traits, p_facts);
$fn$;

/*
 * Publishes a report signed with a host key. Every argument is text, exactly
 * as the reporter signed it: @p_seq the report's time in microseconds since
 * the Unix epoch, @p_uuid "" or the provider UUID, @p_inconclusive "true" or
 * "false", @p_signature HMAC-SHA256 of vtpm_keys.signed_message(...) in
 * lower-case hex. Refused with SQLSTATE 42501: an unknown or revoked key, a
 * signature that does not verify, a host that is not the key's, a report
 * time not after the host's last accepted one (a replay) or too far from the
 * database's clock (setting signed_max_skew). Malformed arguments: 22023.
 * A key's first accepted report revokes the host's other keys (the end of a
 * rollover). Then the report is published as vtpm.publish() does, recorded
 * as from "LOGIN key KEY_ID".
 */
CREATE FUNCTION vtpm.publish_signed(
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
    v_first timestamptz;
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

    -- Every change to a host's keys and sequence locks its row first: a
    -- revocation committed meanwhile is seen by the second read.
    SELECT k.host INTO v_host FROM vtpm_keys.keys k WHERE k.key_id = p_key_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown key %', p_key_id USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT h.last_seq INTO v_last FROM vtpm_keys.hosts h WHERE h.host = v_host FOR UPDATE;
    SELECT k.secret, k.first_used_at INTO v_secret, v_first FROM vtpm_keys.keys k WHERE k.key_id = p_key_id;
    IF v_secret IS NULL THEN
        RAISE EXCEPTION 'key % is revoked', p_key_id USING ERRCODE = 'insufficient_privilege';
    END IF;

    -- Compared as HMACs under a fresh random key, so that the time the
    -- comparison takes says nothing about the expected signature.
    v_blind := vtpm_keys.random_bytes(32);
    IF vtpm_keys.hmac_sha256(v_blind, vtpm_keys.hmac_sha256(v_secret,
           vtpm_keys.signed_message(p_key_id, p_seq, p_host, p_uuid, p_inconclusive,
                                    p_inconclusive_reason, p_traits, p_facts)))
       <> vtpm_keys.hmac_sha256(v_blind, decode(p_signature, 'hex')) THEN
        RAISE EXCEPTION 'the signature does not verify with key %', p_key_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_host IS DISTINCT FROM v_host THEN
        RAISE EXCEPTION 'key % may not publish host %', p_key_id, quote_literal(p_host)
            USING ERRCODE = 'insufficient_privilege';
    END IF;

    v_seq := p_seq::bigint;
    v_now := (extract(epoch FROM now()) * 1000000)::bigint;
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

    UPDATE vtpm_keys.hosts h SET last_seq = v_seq, last_report_at = now() WHERE h.host = v_host;
    UPDATE vtpm_keys.keys k SET last_used_at = now(), first_used_at = coalesce(k.first_used_at, now())
     WHERE k.key_id = p_key_id;
    IF v_first IS NULL THEN
        UPDATE vtpm_keys.keys k
           SET secret = NULL, revoked_at = now(), revoked_why = format('superseded by key %s', p_key_id)
         WHERE k.host = v_host AND k.key_id <> p_key_id AND k.revoked_at IS NULL;
    END IF;

    SELECT r.status, r.generation, r.added, r.removed INTO status, generation, added, removed
      FROM vtpm.publish_report(format('%s key %s', session_user, p_key_id), NULL, false, p_host,
                               nullif(p_uuid, '')::uuid, p_inconclusive::boolean,
                               nullif(p_inconclusive_reason, ''), p_traits::jsonb,
                               nullif(p_facts, '')::jsonb) AS r;
END
$fn$;

-- A host name as the inventory accepts it, or an error.
CREATE FUNCTION vtpm_keys.check_host(p_host text) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF p_host IS NULL OR length(p_host) NOT BETWEEN 1 AND 255 OR p_host ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'invalid host name' USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$fn$;

-- A new key for @p_host (locked by the caller): its id and secret (hex).
CREATE FUNCTION vtpm_keys.issue(p_host text, OUT key_id text, OUT secret text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_secret bytea := vtpm_keys.random_bytes(32);
BEGIN
    INSERT INTO vtpm_keys.keys (key_id, host, secret)
         VALUES (encode(vtpm_keys.random_bytes(8), 'hex'), p_host, v_secret)
      RETURNING keys.key_id INTO key_id;
    secret := encode(v_secret, 'hex');
END
$fn$;

/*
 * Creates the first key of @p_host, which must have no valid key; @p_uuid,
 * when given, is its provider's UUID, fixed as bind_reporter does. Returns
 * the key's id and its secret (hex): shown once, stored only here.
 */
CREATE FUNCTION vtpm.host_key_create(p_host text, p_uuid uuid DEFAULT NULL,
                                     OUT key_id text, OUT secret text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_uuid uuid;
    v_keys text;
BEGIN
    PERFORM vtpm_keys.check_host(p_host);
    INSERT INTO vtpm_keys.hosts (host) VALUES (p_host) ON CONFLICT DO NOTHING;
    PERFORM 1 FROM vtpm_keys.hosts h WHERE h.host = p_host FOR UPDATE;
    SELECT string_agg(k.key_id, ', ') INTO v_keys FROM vtpm_keys.keys k
     WHERE k.host = p_host AND k.revoked_at IS NULL;
    IF v_keys IS NOT NULL THEN
        RAISE EXCEPTION 'host % has a key already (%): rotate it instead', quote_literal(p_host), v_keys
            USING ERRCODE = 'duplicate_object';
    END IF;
    IF p_uuid IS NOT NULL THEN
        SELECT rp.uuid INTO v_uuid FROM vtpm.resource_providers rp WHERE rp.name = p_host;
        IF NOT FOUND THEN
            IF EXISTS (SELECT 1 FROM vtpm.resource_providers rp WHERE rp.uuid = p_uuid) THEN
                RAISE EXCEPTION 'uuid % is another host''s provider', p_uuid
                    USING ERRCODE = 'unique_violation';
            END IF;
            INSERT INTO vtpm.resource_providers (uuid, name) VALUES (p_uuid, p_host);
        ELSIF v_uuid <> p_uuid THEN
            RAISE EXCEPTION 'host % is provider %, not %', quote_literal(p_host), v_uuid, p_uuid
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
    SELECT i.key_id, i.secret INTO key_id, secret FROM vtpm_keys.issue(p_host) i;
END
$fn$;

/*
 * Adds a second key to @p_host, which must have exactly one valid key: both
 * are valid until the new one is first used (or the old one is revoked).
 */
CREATE FUNCTION vtpm.host_key_rotate(p_host text, OUT key_id text, OUT secret text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_keys text[];
BEGIN
    PERFORM vtpm_keys.check_host(p_host);
    PERFORM 1 FROM vtpm_keys.hosts h WHERE h.host = p_host FOR UPDATE;
    SELECT array_agg(k.key_id ORDER BY k.created_at) INTO v_keys FROM vtpm_keys.keys k
     WHERE k.host = p_host AND k.revoked_at IS NULL;
    IF v_keys IS NULL THEN
        RAISE EXCEPTION 'host % has no valid key to rotate: create one', quote_literal(p_host)
            USING ERRCODE = 'undefined_object';
    END IF;
    IF cardinality(v_keys) > 1 THEN
        RAISE EXCEPTION 'host % is in a rollover already (keys %): revoke one first',
            quote_literal(p_host), array_to_string(v_keys, ', ')
            USING ERRCODE = 'object_in_use';
    END IF;
    SELECT i.key_id, i.secret INTO key_id, secret FROM vtpm_keys.issue(p_host) i;
END
$fn$;

/*
 * Revokes key @p_key_id of @p_host, or every valid key of @p_host when it is
 * NULL; the secrets are erased. Returns how many keys were revoked; refuses
 * when there was none to revoke.
 */
CREATE FUNCTION vtpm.host_key_revoke(p_host text, p_key_id text DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_rows integer;
BEGIN
    PERFORM vtpm_keys.check_host(p_host);
    PERFORM 1 FROM vtpm_keys.hosts h WHERE h.host = p_host FOR UPDATE;
    UPDATE vtpm_keys.keys k SET secret = NULL, revoked_at = now(), revoked_why = 'revoked by ' || session_user
     WHERE k.host = p_host AND k.revoked_at IS NULL AND (p_key_id IS NULL OR k.key_id = p_key_id);
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    IF v_rows = 0 THEN
        RAISE EXCEPTION 'host % has no valid key%', quote_literal(p_host),
            CASE WHEN p_key_id IS NULL THEN '' ELSE ' ' || quote_literal(p_key_id) END
            USING ERRCODE = 'undefined_object';
    END IF;
    RETURN v_rows;
END
$fn$;

/*
 * Creates (if needed) the shared publishing login @p_login and makes it a
 * member of vtpm_pool_publisher; @p_password may be NULL (certificate
 * authentication). Refuses a login that holds anything else, as
 * bind_reporter does: it would let every host that knows the shared
 * password use it. Returns true when the login was created.
 */
CREATE FUNCTION vtpm.pool_login(p_login text, p_password text DEFAULT NULL) RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_role oid;
    v_powers text[];
BEGIN
    IF p_login IS NULL OR p_login !~ '^[a-z_][a-z0-9_.-]{0,62}$' THEN
        RAISE EXCEPTION 'invalid login name %: use lower-case letters, digits, _ . -', quote_literal(coalesce(p_login, ''))
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_login IN ('vtpm_owner', 'vtpm_reporter', 'vtpm_reader', 'vtpm_pool_publisher') THEN
        RAISE EXCEPTION 'login % is a group role', p_login USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT oid INTO v_role FROM pg_roles WHERE rolname = p_login;
    IF v_role IS NULL THEN
        EXECUTE format('CREATE ROLE %I LOGIN', p_login);
    ELSE
        SELECT array_remove(ARRAY[
                   CASE WHEN r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolreplication
                             OR r.rolbypassrls THEN 'role attributes' END,
                   CASE WHEN EXISTS (SELECT 1 FROM pg_shdepend d
                                      WHERE d.refclassid = 'pg_authid'::regclass AND d.refobjid = r.oid
                                        AND d.deptype IN ('o', 'a'))
                        THEN 'objects it owns or has privileges on' END], NULL)
               || coalesce((SELECT array_agg('member of ' || quote_ident(g.rolname) ORDER BY g.rolname)
                              FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                             WHERE m.member = r.oid AND g.rolname <> 'vtpm_pool_publisher'), '{}')
          INTO v_powers
          FROM pg_roles r WHERE r.oid = v_role;
        IF cardinality(v_powers) > 0 THEN
            RAISE EXCEPTION 'role % holds more than vtpm_pool_publisher (%); the shared login must hold nothing else',
                quote_ident(p_login), array_to_string(v_powers, ', ')
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
    IF p_password IS NOT NULL THEN
        EXECUTE format('ALTER ROLE %I PASSWORD %L', p_login, p_password);
    END IF;
    EXECUTE format('GRANT vtpm_pool_publisher TO %I', p_login);
    RETURN v_role IS NULL;
END
$fn$;

REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA vtpm FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA vtpm_keys FROM PUBLIC;
GRANT USAGE ON SCHEMA vtpm TO vtpm_pool_publisher;
GRANT EXECUTE ON FUNCTION vtpm.publish_signed(text, text, text, text, text, text, text, text, text)
    TO vtpm_pool_publisher;
