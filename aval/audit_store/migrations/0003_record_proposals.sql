-- Records a batch of new decisions and the first audit events of those inserted, in one
-- statement (hence one transaction and one round trip). p_rows is a JSON array of decision rows;
-- event i belongs to decision p_event_decisions[i] of tenant p_event_tenants[i]. Decisions whose
-- (tenant, idempotency key) is taken are skipped with their events. Returns the ids inserted.
CREATE FUNCTION record_proposals(
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
            ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
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

REVOKE ALL ON FUNCTION record_proposals(jsonb, bytea[], text[], uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION record_proposals(jsonb, bytea[], text[], uuid[]) TO aval_service;
