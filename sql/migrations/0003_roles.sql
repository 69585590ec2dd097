-- SPDX-License-Identifier: Apache-2.0
-- Who may do what: reporters publish their own host, readers read, only the owner writes.
--
--   vtpm_owner    owns every object; the only role that writes tables
--   vtpm_reporter member logins may call vtpm.publish() for the hosts bound to
--                 them in vtpm.reporter_bindings, and nothing else
--   vtpm_reader   schedulers and admins: SELECT on every table and view, and
--                 the read-only functions
SET LOCAL ROLE vtpm_owner;

GRANT USAGE ON SCHEMA vtpm TO vtpm_reporter, vtpm_reader;

-- Functions are executable by PUBLIC unless revoked; start from nothing.
ALTER DEFAULT PRIVILEGES FOR ROLE vtpm_owner IN SCHEMA vtpm REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA vtpm FROM PUBLIC;

GRANT EXECUTE ON FUNCTION vtpm.publish(text, uuid, boolean, text, jsonb, jsonb) TO vtpm_reporter;
GRANT EXECUTE ON FUNCTION vtpm.trait_mask(text[]), vtpm.trait_names(integer) TO vtpm_reader, vtpm_reporter;

GRANT SELECT ON ALL TABLES IN SCHEMA vtpm TO vtpm_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE vtpm_owner IN SCHEMA vtpm GRANT SELECT ON TABLES TO vtpm_reader;

/*
 * Creates (if needed) the login @p_login, makes it a reporter and binds it to
 * @p_host. @p_password may be NULL (certificate or peer authentication).
 * Run it as a role with CREATEROLE (a superuser, normally): it is SECURITY
 * INVOKER, so it can do nothing its caller could not. Returns true when the
 * binding is new.
 */
CREATE FUNCTION vtpm.bind_reporter(p_login text, p_host text, p_password text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_rows integer;
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
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_login) THEN
        EXECUTE format('CREATE ROLE %I LOGIN', p_login);
    ELSIF (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = p_login) THEN
        RAISE EXCEPTION 'role % is privileged; a reporter login must not be', quote_ident(p_login)
            USING ERRCODE = 'invalid_parameter_value';
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

-- Removes one binding (the login stays). Returns true if there was one.
CREATE FUNCTION vtpm.unbind_reporter(p_login text, p_host text) RETURNS boolean
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
    WITH d AS (DELETE FROM vtpm.reporter_bindings WHERE login = p_login AND host = p_host RETURNING 1)
    SELECT count(*) > 0 FROM d;
$fn$;
REVOKE EXECUTE ON FUNCTION vtpm.bind_reporter(text, text, text), vtpm.unbind_reporter(text, text),
    vtpm.purge_reports() FROM PUBLIC;
