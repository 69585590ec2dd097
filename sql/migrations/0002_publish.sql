-- SPDX-License-Identifier: Apache-2.0
-- vtpm.publish(): the one way reporters write, in one round trip.
SET LOCAL ROLE vtpm_owner;

-- The bit mask of @names, which must all be managed traits.
CREATE FUNCTION vtpm.trait_mask(names text[]) RETURNS integer
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    mask integer := 0;
    unknown text;
BEGIN
    SELECT string_agg(quote_literal(n), ', ') INTO unknown
      FROM unnest(names) AS n
     WHERE NOT EXISTS (SELECT 1 FROM vtpm.traits t WHERE t.name = n AND t.bit IS NOT NULL);
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'not a managed TPM trait: %', unknown
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT coalesce(bit_or(1 << t.bit), 0) INTO mask
      FROM vtpm.traits t WHERE t.name = ANY (names) AND t.bit IS NOT NULL;
    RETURN mask;
END
$fn$;

-- The managed trait names in @mask, in bit order.
CREATE FUNCTION vtpm.trait_names(mask integer) RETURNS text[]
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT coalesce(array_agg(t.name ORDER BY t.bit), '{}')
      FROM vtpm.traits t WHERE t.bit IS NOT NULL AND mask & (1 << t.bit) <> 0;
$fn$;

/*
 * Publishes one host's report.
 *   p_host     provider name (the host name); a reporter login must be bound
 *              to it in vtpm.reporter_bindings (owners may publish any host)
 *   p_uuid     provider UUID, NULL to keep the existing one or make one up
 *   p_inconclusive, p_inconclusive_reason
 *              an inconclusive report is recorded and changes no trait
 *   p_traits   {"COMPUTE_SECURITY_TPM_1_2": {"present": false,
 *               "code": "swtpm_no_tpm_1_2", "reason": "..."}, ...}
 *              with exactly the seven managed traits (may be {} when
 *              inconclusive)
 *   p_facts    what the probe found, stored with the report
 * Returns status 'changed' (a trait changed or the provider is new),
 * 'unchanged' or 'inconclusive', the generation after the report, and the
 * traits added and removed. Sends NOTIFY vtpm_traits on change.
 * Concurrent publishes of one host are serialised by the provider's row lock,
 * so the last committed report wins and each real change bumps the
 * generation exactly once.
 */
CREATE FUNCTION vtpm.publish(
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
AS $fn$
DECLARE
    v_id bigint;
    v_uuid uuid;
    v_gen bigint;
    v_created boolean := false;
    v_old integer;
    v_new integer := 0;
    v_bad text;
    v_count integer;
    v_report_retention interval;
    v_change_retention interval;
BEGIN
    IF p_host IS NULL OR length(p_host) NOT BETWEEN 1 AND 255 OR p_host ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'invalid host name' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_inconclusive IS NULL THEN
        RAISE EXCEPTION 'inconclusive must be true or false' USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- The binding is the security boundary: checked against the login, not
    -- against anything the caller can SET.
    IF NOT pg_has_role(session_user, 'vtpm_owner', 'MEMBER')
       AND NOT EXISTS (SELECT 1 FROM vtpm.reporter_bindings b
                        WHERE b.login = session_user AND b.host = p_host) THEN
        RAISE EXCEPTION 'login % is not bound to host %', quote_ident(session_user), quote_literal(p_host)
            USING ERRCODE = 'insufficient_privilege';
    END IF;

    -- Validate the traits document: an object of the seven managed traits.
    IF p_traits IS NULL OR jsonb_typeof(p_traits) <> 'object' THEN
        RAISE EXCEPTION 'traits must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT string_agg(quote_literal(k), ', ') INTO v_bad
      FROM jsonb_object_keys(p_traits) AS k
     WHERE NOT EXISTS (SELECT 1 FROM vtpm.traits t WHERE t.name = k AND t.bit IS NOT NULL);
    IF v_bad IS NOT NULL THEN
        RAISE EXCEPTION 'not a managed TPM trait: %', v_bad USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT count(*) INTO v_count FROM jsonb_object_keys(p_traits);
    IF NOT p_inconclusive OR v_count > 0 THEN
        IF v_count <> (SELECT count(*) FROM vtpm.traits t WHERE t.bit IS NOT NULL) THEN
            RAISE EXCEPTION 'traits must name every managed TPM trait (got %)', v_count
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        SELECT string_agg(quote_literal(e.key), ', ') INTO v_bad
          FROM jsonb_each(p_traits) AS e
         WHERE jsonb_typeof(e.value) <> 'object'
            OR jsonb_typeof(e.value -> 'present') IS DISTINCT FROM 'boolean'
            OR jsonb_typeof(e.value -> 'code') IS DISTINCT FROM 'string'
            OR jsonb_typeof(e.value -> 'reason') IS DISTINCT FROM 'string';
        IF v_bad IS NOT NULL THEN
            RAISE EXCEPTION 'trait needs present (boolean), code and reason (strings): %', v_bad
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        SELECT coalesce(bit_or(1 << t.bit), 0) INTO v_new
          FROM jsonb_each(p_traits) AS e JOIN vtpm.traits t ON t.name = e.key
         WHERE (e.value ->> 'present')::boolean;
    END IF;

    -- Find and lock the provider, or create it.
    LOOP
        SELECT rp.id, rp.uuid, rp.generation INTO v_id, v_uuid, v_gen
          FROM vtpm.resource_providers rp WHERE rp.name = p_host FOR UPDATE;
        EXIT WHEN FOUND;
        INSERT INTO vtpm.resource_providers (uuid, name)
             VALUES (coalesce(p_uuid, gen_random_uuid()), p_host)
        ON CONFLICT (name) DO NOTHING
        RETURNING id, uuid, resource_providers.generation INTO v_id, v_uuid, v_gen;
        IF FOUND THEN
            v_created := true;
            EXIT;
        END IF;
    END LOOP;
    IF p_uuid IS NOT NULL AND p_uuid <> v_uuid THEN
        RAISE EXCEPTION 'host % is provider %, not %', quote_literal(p_host), v_uuid, p_uuid
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT coalesce(bit_or(1 << t.bit), 0) INTO v_old
      FROM vtpm.provider_traits pt JOIN vtpm.traits t ON t.id = pt.trait_id
     WHERE pt.provider_id = v_id AND t.bit IS NOT NULL;

    added := '{}';
    removed := '{}';
    IF p_inconclusive THEN
        status := 'inconclusive';
        v_new := v_old;
    ELSE
        IF v_new <> v_old THEN
            added := vtpm.trait_names(v_new & ~v_old);
            removed := vtpm.trait_names(v_old & ~v_new);
            DELETE FROM vtpm.provider_traits pt
             USING vtpm.traits t
             WHERE pt.provider_id = v_id AND pt.trait_id = t.id
               AND t.bit IS NOT NULL AND (v_old & ~v_new) & (1 << t.bit) <> 0;
            INSERT INTO vtpm.provider_traits (provider_id, trait_id)
                 SELECT v_id, t.id FROM vtpm.traits t
                  WHERE t.bit IS NOT NULL AND (v_new & ~v_old) & (1 << t.bit) <> 0;
            v_gen := v_gen + 1;
        END IF;
        status := CASE WHEN v_new <> v_old OR v_created THEN 'changed' ELSE 'unchanged' END;

        -- Reasons: only rows whose content differs are written.
        INSERT INTO vtpm.provider_trait_state AS s
               (provider_id, trait_id, present, reason_code, reason)
             SELECT v_id, t.id, (e.value ->> 'present')::boolean,
                    e.value ->> 'code', e.value ->> 'reason'
               FROM jsonb_each(p_traits) AS e JOIN vtpm.traits t ON t.name = e.key
        ON CONFLICT (provider_id, trait_id) DO UPDATE
               SET present = excluded.present,
                   reason_code = excluded.reason_code,
                   reason = excluded.reason,
                   since = CASE WHEN s.present = excluded.present THEN s.since ELSE now() END
             WHERE (s.present, s.reason_code, s.reason)
                   IS DISTINCT FROM (excluded.present, excluded.reason_code, excluded.reason);
    END IF;
    generation := v_gen;

    UPDATE vtpm.resource_providers rp
       SET generation = v_gen,
           tpm_bits = v_new,
           updated_at = CASE WHEN v_new <> v_old THEN now() ELSE rp.updated_at END,
           last_report_at = now(),
           last_status = status,
           last_inconclusive_reason = CASE WHEN p_inconclusive THEN p_inconclusive_reason END,
           last_conclusive_at = CASE WHEN p_inconclusive THEN rp.last_conclusive_at ELSE now() END,
           last_reporter = session_user
     WHERE rp.id = v_id;

    INSERT INTO vtpm.reports (provider_id, host, reporter, status, inconclusive_reason,
                              generation, present, added, removed, traits, facts)
         VALUES (v_id, p_host, session_user, status,
                 CASE WHEN p_inconclusive THEN coalesce(p_inconclusive_reason, '') END,
                 v_gen, vtpm.trait_names(v_new), added, removed, p_traits, p_facts);

    -- Retention, for this host only: cheap on the (provider_id, reported_at) index.
    SELECT s.value INTO v_report_retention FROM vtpm.settings s WHERE s.name = 'report_retention';
    SELECT s.value INTO v_change_retention FROM vtpm.settings s WHERE s.name = 'change_retention';
    DELETE FROM vtpm.reports r
     WHERE r.provider_id = v_id
       AND r.reported_at < now() - least(v_report_retention, v_change_retention)
       AND (r.status <> 'changed' OR r.reported_at < now() - v_change_retention);

    IF status = 'changed' THEN
        PERFORM pg_notify('vtpm_traits', json_build_object(
            'host', p_host, 'uuid', v_uuid, 'generation', v_gen,
            'added', added, 'removed', removed)::text);
    END IF;
END
$fn$;

-- Deletes reports older than the retention settings, for every host (run it
-- from cron for hosts that stopped reporting). Returns the number deleted.
CREATE FUNCTION vtpm.purge_reports() RETURNS bigint
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
    WITH s AS (
        SELECT (SELECT value FROM vtpm.settings WHERE name = 'report_retention') AS report_keep,
               (SELECT value FROM vtpm.settings WHERE name = 'change_retention') AS change_keep
    ), d AS (
        DELETE FROM vtpm.reports r USING s
         WHERE r.reported_at < now() - least(s.report_keep, s.change_keep)
           AND (r.status <> 'changed' OR r.reported_at < now() - s.change_keep)
        RETURNING 1
    )
    SELECT count(*) FROM d;
$fn$;
