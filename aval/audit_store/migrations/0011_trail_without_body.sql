-- The trail keeps each event's bytes once. Until now `body` held them a second time, parsed
-- (jsonb), for four query filters; readers already took an event's content from `canonical`,
-- and verification had to parse every event's bytes to prove that `body` still said the same
-- (most of its cost). The filters now index the bytes themselves, through `event_json`: an
-- index is derived by PostgreSQL from the hashed bytes, so there is nothing left to compare.

-- An event's bytes as JSON. IMMUTABLE, as an index expression must be: the bytes are UTF-8
-- whatever the database's settings, and the parse depends on nothing else.
CREATE FUNCTION event_json(p_canonical bytea) RETURNS jsonb
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN convert_from(p_canonical, 'UTF8')::jsonb;

GRANT EXECUTE ON FUNCTION event_json(bytea) TO aval_service;

DROP INDEX audit_events_by_verdict;
DROP INDEX audit_events_proposed_by_type;
DROP INDEX audit_events_proposed_by_ai_system;
DROP INDEX audit_events_proposed_by_model_version;

-- The same four indexes as migration 0005, over the bytes.
CREATE INDEX audit_events_by_verdict
    ON audit_events (tenant_id, ((event_json(canonical) -> 'data') ->> 'verdict'), seq)
    WHERE kind = 'review.recorded';
CREATE INDEX audit_events_proposed_by_type
    ON audit_events (tenant_id, ((event_json(canonical) -> 'data') ->> 'decision_type'), seq)
    WHERE kind = 'decision.proposed';
CREATE INDEX audit_events_proposed_by_ai_system
    ON audit_events (tenant_id,
        ((((event_json(canonical) -> 'data') -> 'suggestion') -> 'model') ->> 'name'), seq)
    WHERE kind = 'decision.proposed';
CREATE INDEX audit_events_proposed_by_model_version
    ON audit_events (tenant_id,
        ((((event_json(canonical) -> 'data') -> 'suggestion') -> 'model') ->> 'version'), seq)
    WHERE kind = 'decision.proposed';

-- Appends as before (migration 0001), without the second copy.
CREATE OR REPLACE FUNCTION append_audit_events(p_tenant text, p_events bytea[])
RETURNS TABLE (seq bigint, hash bytea)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_seq   bigint;
    v_hash  bytea;
    v_prev  bytea;
    v_body  jsonb;
    v_bytes bytea;
BEGIN
    INSERT INTO aval.chain_heads AS h (tenant_id, seq, hash)
        VALUES (p_tenant, 0, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
        ON CONFLICT (tenant_id) DO NOTHING;
    SELECT h.seq, h.hash INTO v_seq, v_hash
        FROM aval.chain_heads h WHERE h.tenant_id = p_tenant FOR UPDATE;
    FOREACH v_bytes IN ARRAY p_events LOOP
        v_body := convert_from(v_bytes, 'UTF8')::jsonb;
        IF v_body->>'tenant' IS DISTINCT FROM p_tenant THEN
            RAISE EXCEPTION 'audit event for tenant % appended to chain of %', v_body->>'tenant', p_tenant;
        END IF;
        v_prev := v_hash;
        v_seq := v_seq + 1;
        v_hash := sha256(v_prev || int8send(v_seq) || v_bytes);
        INSERT INTO aval.audit_events (tenant_id, seq, event_id, occurred_at, decision_id, kind,
                actor_id, actor_type, trace_id, schema_version, canonical, prev_hash, hash)
            VALUES (p_tenant, v_seq, (v_body->>'event_id')::uuid, (v_body->>'occurred_at')::timestamptz,
                NULLIF(v_body->>'decision_id', '')::uuid, v_body->>'kind',
                v_body->'actor'->>'id', v_body->'actor'->>'type', COALESCE(v_body->>'trace_id', ''),
                (v_body->>'schema_version')::integer, v_bytes, v_prev, v_hash);
        seq := v_seq;
        hash := v_hash;
        RETURN NEXT;
    END LOOP;
    UPDATE aval.chain_heads h SET seq = v_seq, hash = v_hash WHERE h.tenant_id = p_tenant;
END
$$;

-- A schema change, not a change of rows: the append-only triggers do not apply to it.
ALTER TABLE audit_events DROP COLUMN body;
