-- Idempotency keys belong to the caller that chose them: (tenant, proposer, key), no longer
-- (tenant, key). Under a tenant-wide key one application could learn that another's key was in
-- use, and a replay answered with the other application's decision (I4, I5). The new key is
-- implied by the old one, so existing rows satisfy it as they are. Proposer ids are unique across
-- the deployment (checked when the principals file is loaded), so (tenant, proposer) names one
-- caller.

ALTER TABLE decisions
    ADD CONSTRAINT decisions_idempotency_per_proposer
    UNIQUE (tenant_id, proposer_id, idempotency_key);
ALTER TABLE decisions DROP CONSTRAINT decisions_tenant_id_idempotency_key_key;

-- As in migration 0003, with the proposer in the conflict target: a decision whose (tenant,
-- proposer, idempotency key) is taken, by a committed row or an earlier one of the batch, is
-- skipped with its events. Still one statement per batch (group commit).
CREATE OR REPLACE FUNCTION record_proposals(
    p_rows jsonb, p_events bytea[], p_event_tenants text[], p_event_decisions uuid[]
)
RETURNS SETOF uuid
LANGUAGE plpgsql
AS $$
DECLARE
    v_inserted uuid[];
    v_tenant   text;
    v_events   bytea[];
BEGIN
    WITH ins AS (
        INSERT INTO decisions
            SELECT * FROM jsonb_populate_recordset(NULL::decisions, p_rows)
            ON CONFLICT (tenant_id, proposer_id, idempotency_key) DO NOTHING
            RETURNING decisions.id
    )
    SELECT coalesce(array_agg(ins.id), '{}') INTO v_inserted FROM ins;
    -- Tenants in a fixed order, so that concurrent batches never wait on each other's locks.
    FOR v_tenant IN SELECT DISTINCT t FROM unnest(p_event_tenants) AS t ORDER BY 1 LOOP
        v_events := ARRAY(
            SELECT e.c
            FROM unnest(p_events, p_event_tenants, p_event_decisions)
                 WITH ORDINALITY AS e(c, tenant, decision, n)
            WHERE e.tenant = v_tenant AND e.decision = ANY (v_inserted)
            ORDER BY e.n
        );
        IF cardinality(v_events) > 0 THEN
            PERFORM append_audit_events(v_tenant, v_events);
        END IF;
    END LOOP;
    RETURN QUERY SELECT unnest(v_inserted);
END
$$;
