-- The access journal (R13, CNIL deliberation 2021-122): one row per read of a decision, its
-- input, an explanation or an export, apart from the decision trail. Not hash-chained and not
-- in audit_events: it records who consulted what, never what was decided, and no statistic of
-- reviewers reads it. Rows hold pseudonymous principal ids and summaries of filters, never the
-- data that was read.

CREATE TABLE access_journal (
    tenant_id    text        NOT NULL,
    id           uuid        NOT NULL,
    at           timestamptz NOT NULL,
    reader       text        NOT NULL,
    reader_kind  text        NOT NULL CHECK (reader_kind IN ('application', 'human')),
    action       text        NOT NULL,
    decision_id  uuid,
    filters      text        NOT NULL DEFAULT '',
    purpose      text        NOT NULL DEFAULT '',
    -- Only reads that were served are journaled (refusals are in the server's log).
    outcome      text        NOT NULL DEFAULT 'served' CHECK (outcome IN ('served')),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX access_journal_by_time ON access_journal (tenant_id, at, id);
CREATE INDEX access_journal_by_decision
    ON access_journal (tenant_id, decision_id, at) WHERE decision_id IS NOT NULL;
CREATE INDEX access_journal_by_reader ON access_journal (tenant_id, reader, at);
-- The purge deletes by age across tenants.
CREATE INDEX access_journal_by_age ON access_journal (at);

-- Append-only: no UPDATE ever, no TRUNCATE, and DELETE only inside purge_access_journal, which
-- marks its own transaction. The service's role has no DELETE grant at all; the mark only lets
-- the function (run as the owner) through the trigger.
CREATE FUNCTION refuse_access_journal_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('aval.access_journal_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the access journal is append-only: % on % is refused (only its purge deletes)',
        TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER access_journal_append_only
    BEFORE UPDATE OR DELETE ON access_journal
    FOR EACH ROW EXECUTE FUNCTION refuse_access_journal_change();
CREATE TRIGGER access_journal_no_truncate
    BEFORE TRUNCATE ON access_journal
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_access_journal_change();

-- Deletes the rows read before p_before; returns how many. The cut-off comes from the service's
-- clock and retention (6 to 12 months, checked at start-up).
CREATE FUNCTION purge_access_journal(p_before timestamptz) RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_count bigint;
BEGIN
    PERFORM set_config('aval.access_journal_purge', 'on', true);
    DELETE FROM aval.access_journal WHERE at < p_before;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    PERFORM set_config('aval.access_journal_purge', 'off', true);
    RETURN v_count;
END
$$;

REVOKE ALL ON access_journal FROM PUBLIC;
REVOKE ALL ON FUNCTION purge_access_journal(timestamptz) FROM PUBLIC;
GRANT SELECT, INSERT ON access_journal TO aval_service;
GRANT EXECUTE ON FUNCTION purge_access_journal(timestamptz) TO aval_service;
