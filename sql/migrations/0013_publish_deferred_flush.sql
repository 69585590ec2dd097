-- SPDX-License-Identifier: Apache-2.0
-- A publish that changed a trait may commit without waiting for its WAL; vtpm.flush() then waits for it.
--
-- A report that changes a trait notifies the scheduler caches (NOTIFY
-- vtpm_traits). PostgreSQL queues notifications in commit order: a
-- notifying transaction holds one cluster-wide lock from just before its
-- commit until after it, and so through the WAL flush of its commit record
-- and, with synchronous replication, the standby's confirmation. Changed
-- reports therefore commit one after another, each waiting for the last
-- one's flush: measured with 0012 through PgBouncer with 16 reporters on
-- two cores, 1,160-1,290 changed publishes/s with the notification,
-- 1,730-1,940/s with it removed (docs/benchmarks.md, "Fleet").
--
-- A caller may now pass p_durable => false. A report that changed a trait
-- (status 'changed') then commits with synchronous_commit off for its own
-- transaction: the lock is held for the commit record's insertion only,
-- and the caller waits for durability afterwards, outside the lock, by
-- calling vtpm.flush() in a new transaction. vtpm.flush() writes one WAL
-- record of its own and commits with the session's synchronous_commit: its
-- commit is flushed (and confirmed by the synchronous standbys) only with
-- everything before it, the deferred report included. Flushes of many
-- callers share one fsync, as commits do.
--
-- Until vtpm.flush() returns, a crash may lose the report; its caller has
-- not been told it is stored and publishes again (a report is a full
-- snapshot). Other sessions may see the report before it is durable, as
-- they may see any commit before a synchronous standby confirms it.
-- Reports that change nothing, or are inconclusive, send no notification
-- and commit as before. Without p_durable (the signatures of 0002 and
-- 0009) nothing changes.
SET LOCAL ROLE vtpm_owner;

-- Waits until every transaction committed before it is as durable as the
-- session's synchronous_commit makes a commit. A transaction that only
-- takes an ID writes no WAL and would commit without any wait; a
-- transactional logical message is WAL that commits like a row.
CREATE FUNCTION vtpm.flush() RETURNS pg_lsn
LANGUAGE sql VOLATILE
RETURN pg_catalog.pg_logical_emit_message(true, 'vtpm', 'flush');

COMMENT ON FUNCTION vtpm.flush() IS
    'Waits until the reports committed before it are durable (after a publish with p_durable => false).';

/*
 * 0002's vtpm.publish() with p_durable: false commits a changed report
 * without waiting for its WAL (see above); the caller calls vtpm.flush().
 */
CREATE FUNCTION vtpm.publish(
    p_host text,
    p_uuid uuid,
    p_inconclusive boolean,
    p_inconclusive_reason text,
    p_traits jsonb,
    p_facts jsonb,
    p_durable boolean,
    OUT status text,
    OUT generation bigint,
    OUT added text[],
    OUT removed text[])
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_report record;
BEGIN
    IF p_durable IS NULL THEN
        RAISE EXCEPTION 'durable must be true or false' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Called in an expression, not a query: no executor for the call itself.
    v_report := vtpm.publish(p_host, p_uuid, p_inconclusive, p_inconclusive_reason, p_traits, p_facts);
    status := v_report.status;
    generation := v_report.generation;
    added := v_report.added;
    removed := v_report.removed;
    -- Local to the transaction; a SET clause on this function would undo it on return.
    IF NOT p_durable AND status = 'changed' THEN
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
END
$fn$;

/*
 * 0009's vtpm.publish_signed() with p_durable, as above. p_durable is not
 * signed: it decides only when the caller learns its report is stored.
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
    p_durable boolean,
    OUT status text,
    OUT generation bigint,
    OUT added text[],
    OUT removed text[])
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_report record;
BEGIN
    IF p_durable IS NULL THEN
        RAISE EXCEPTION 'durable must be true or false' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_report := vtpm.publish_signed(p_key_id, p_seq, p_host, p_uuid, p_inconclusive,
                                    p_inconclusive_reason, p_traits, p_facts, p_signature);
    status := v_report.status;
    generation := v_report.generation;
    added := v_report.added;
    removed := v_report.removed;
    IF NOT p_durable AND status = 'changed' THEN
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
END
$fn$;

REVOKE EXECUTE ON FUNCTION vtpm.flush() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION vtpm.publish(text, uuid, boolean, text, jsonb, jsonb, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION vtpm.publish_signed(text, text, text, text, text, text, text, text, text, boolean)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vtpm.flush() TO vtpm_reporter, vtpm_pool_publisher;
GRANT EXECUTE ON FUNCTION vtpm.publish(text, uuid, boolean, text, jsonb, jsonb, boolean) TO vtpm_reporter;
GRANT EXECUTE ON FUNCTION vtpm.publish_signed(text, text, text, text, text, text, text, text, text, boolean)
    TO vtpm_pool_publisher;
