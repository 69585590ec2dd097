-- SPDX-License-Identifier: Apache-2.0
-- Hardening: provider UUIDs fixed by the owner, reporter logins with no other power, grants that work, bounded reports.
--
-- 1. A reporter login could create its host's provider under any UUID, also
--    the one another host (Nova's compute node UUID) would report later,
--    locking that host out. Now only the owner chooses a UUID: bind_reporter
--    takes it and creates the provider; vtpm.publish() refuses a UUID from a
--    reporter for a provider that does not exist yet.
-- 2. bind_reporter refused superusers and CREATEROLE only; a reporter login
--    must hold nothing but vtpm_reporter (no attribute, no other membership,
--    no object it owns or has privileges on).
-- 3. vtpm_reporter could execute trait_mask() and trait_names(), which then
--    failed on vtpm.traits: the grant is gone (a reporter calls publish only).
--    And every function created after 0003 was executable by PUBLIC: 0003's
--    per-schema default privileges could not revoke the global default. The
--    default is now revoked for everything vtpm_owner creates, and PUBLIC
--    loses EXECUTE on what exists; the explicit grants to vtpm_reader stay.
-- 4. vtpm.publish() bounds every text and document and refuses control
--    characters, which reach admins' terminals through psql.
SET LOCAL ROLE vtpm_owner;

REVOKE EXECUTE ON FUNCTION vtpm.trait_mask(text[]), vtpm.trait_names(integer) FROM vtpm_reporter;
ALTER DEFAULT PRIVILEGES FOR ROLE vtpm_owner REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA vtpm FROM PUBLIC;

DROP FUNCTION vtpm.bind_reporter(text, text, text);

/*
 * Creates (if needed) the login @p_login, makes it a reporter and binds it to
 * @p_host. @p_password may be NULL (certificate or peer authentication).
 * @p_uuid, when given, is the host's provider UUID (Nova's compute node
 * UUID): the provider is created with it, or must already have it. Refuses a
 * login that holds anything besides vtpm_reporter. Run it as a role with
 * CREATEROLE (a superuser, normally): it is SECURITY INVOKER, so it can do
 * nothing its caller could not. Returns true when the binding is new.
 */
CREATE FUNCTION vtpm.bind_reporter(p_login text, p_host text, p_password text DEFAULT NULL,
                                   p_uuid uuid DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_rows integer;
    v_role oid;
    v_powers text[];
    v_uuid uuid;
BEGIN
    IF p_login IS NULL OR p_login !~ '^[a-z_][a-z0-9_.-]{0,62}$' THEN
        RAISE EXCEPTION 'invalid login name %: use lower-case letters, digits, _ . -', quote_literal(coalesce(p_login, ''))
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_login IN ('vtpm_owner', 'vtpm_reporter', 'vtpm_reader') THEN
        RAISE EXCEPTION 'login % is a group role', p_login USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_host IS NULL OR length(p_host) NOT BETWEEN 1 AND 255 OR p_host ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'invalid host name' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT oid INTO v_role FROM pg_roles WHERE rolname = p_login;
    IF v_role IS NULL THEN
        EXECUTE format('CREATE ROLE %I LOGIN', p_login);
    ELSE
        -- Everything the login holds besides vtpm_reporter, each with its name.
        SELECT array_remove(ARRAY[
                   CASE WHEN r.rolsuper THEN 'SUPERUSER' END,
                   CASE WHEN r.rolcreaterole THEN 'CREATEROLE' END,
                   CASE WHEN r.rolcreatedb THEN 'CREATEDB' END,
                   CASE WHEN r.rolreplication THEN 'REPLICATION' END,
                   CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END], NULL)
               || coalesce((SELECT array_agg('member of ' || quote_ident(g.rolname) ORDER BY g.rolname)
                              FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                             WHERE m.member = r.oid AND g.rolname <> 'vtpm_reporter'), '{}')
               || coalesce((SELECT array_agg(DISTINCT CASE d.deptype WHEN 'o' THEN 'owns objects'
                                                      ELSE 'holds privileges on objects' END)
                              FROM pg_shdepend d
                             WHERE d.refclassid = 'pg_authid'::regclass AND d.refobjid = r.oid
                               AND d.deptype IN ('o', 'a')), '{}')
          INTO v_powers
          FROM pg_roles r WHERE r.oid = v_role;
        IF cardinality(v_powers) > 0 THEN
            RAISE EXCEPTION 'role % holds more than vtpm_reporter (%); a reporter login must hold nothing else',
                quote_ident(p_login), array_to_string(v_powers, ', ')
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
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
    IF p_password IS NOT NULL THEN
        EXECUTE format('ALTER ROLE %I PASSWORD %L', p_login, p_password);
    END IF;
    EXECUTE format('GRANT vtpm_reporter TO %I', p_login);
    INSERT INTO vtpm.reporter_bindings (login, host) VALUES (p_login, p_host)
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN v_rows > 0;
END
$fn$;
REVOKE EXECUTE ON FUNCTION vtpm.bind_reporter(text, text, text, uuid) FROM PUBLIC;

-- 0007's contract, with the limits and the UUID rule above.
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
    v_owner boolean;
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

    -- The binding is the security boundary: checked against the login, not
    -- against anything the caller can SET.
    v_owner := pg_has_role(session_user, 'vtpm_owner', 'MEMBER');
    IF NOT v_owner THEN
        IF NOT EXISTS (SELECT 1 FROM vtpm.reporter_bindings b
                        WHERE b.login = session_user AND b.host = p_host) THEN
            RAISE EXCEPTION 'login % is not bound to host %', quote_ident(session_user), quote_literal(p_host)
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
            RAISE EXCEPTION 'host % has no provider yet: its UUID is set when the owner binds the reporter',
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
