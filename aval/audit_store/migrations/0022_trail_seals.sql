-- Seals: what the service itself appended, so that a checkpoint never signs a forgery.
--
-- Every transaction that appends events also stores a seal of the range it appended: an
-- HMAC-SHA256, with a key the service derives from its Ed25519 signing key and never gives the
-- database, over (tenant, first seq, last seq, prev hash of the first, hash of the last). The
-- checkpointer signs an event only when a seal covers it and continues the chain it recomputed
-- from the last checkpoint (docs/signing.md). Someone who appends to the trail behind the
-- service's back cannot make a seal: what they append is never signed, and verification names it.

CREATE TABLE trail_seals (
    tenant_id   text        NOT NULL,
    first_seq   bigint      NOT NULL CHECK (first_seq >= 1),
    last_seq    bigint      NOT NULL,
    -- Chain hash of event first_seq - 1 (32 zero bytes when first_seq = 1).
    prev_hash   bytea       NOT NULL CHECK (octet_length(prev_hash) = 32),
    -- Chain hash of event last_seq.
    last_hash   bytea       NOT NULL CHECK (octet_length(last_hash) = 32),
    -- The signing key whose derived key made the MAC.
    key_id      text        NOT NULL,
    mac         bytea       NOT NULL CHECK (octet_length(mac) = 32),
    sealed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, first_seq),
    CHECK (last_seq >= first_seq)
);

CREATE TRIGGER trail_seals_append_only
    BEFORE UPDATE OR DELETE ON trail_seals
    FOR EACH ROW EXECUTE FUNCTION refuse_audit_change();
CREATE TRIGGER trail_seals_no_truncate
    BEFORE TRUNCATE ON trail_seals
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_change();

REVOKE ALL ON trail_seals FROM PUBLIC;
GRANT SELECT, INSERT ON trail_seals TO aval_service;

-- Appends as before (migration 0011), and also returns each event's previous hash: the service
-- checks the chain of what it sent before it seals it.
DROP FUNCTION append_audit_events(text, bytea[]);
CREATE FUNCTION append_audit_events(p_tenant text, p_events bytea[])
RETURNS TABLE (seq bigint, hash bytea, prev_hash bytea)
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
        prev_hash := v_prev;
        RETURN NEXT;
    END LOOP;
    UPDATE aval.chain_heads h SET seq = v_seq, hash = v_hash WHERE h.tenant_id = p_tenant;
END
$$;

REVOKE ALL ON FUNCTION append_audit_events(text, bytea[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION append_audit_events(text, bytea[]) TO aval_service;

-- As in migration 0013, and also returns, for each tenant it appended to, the range appended
-- (r_decision NULL), so that the service can seal it in the same transaction. Rows of inserted
-- decisions have r_decision set and the rest NULL.
DROP FUNCTION record_proposals_with_calls(jsonb, bytea[], text[], uuid[], jsonb);
DROP FUNCTION record_proposals(jsonb, bytea[], text[], uuid[]);
CREATE FUNCTION record_proposals(
    p_rows jsonb, p_events bytea[], p_event_tenants text[], p_event_decisions uuid[]
)
RETURNS TABLE (
    r_decision uuid, r_tenant text, r_first_seq bigint, r_prev_hash bytea, r_last_seq bigint,
    r_last_hash bytea
)
LANGUAGE plpgsql
AS $$
DECLARE
    v_inserted uuid[];
    v_tenant   text;
    v_events   bytea[];
    v_row      record;
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
            r_decision := NULL;
            r_tenant := v_tenant;
            r_first_seq := NULL;
            FOR v_row IN SELECT * FROM append_audit_events(v_tenant, v_events) LOOP
                IF r_first_seq IS NULL THEN
                    r_first_seq := v_row.seq;
                    r_prev_hash := v_row.prev_hash;
                END IF;
                r_last_seq := v_row.seq;
                r_last_hash := v_row.hash;
            END LOOP;
            RETURN NEXT;
        END IF;
    END LOOP;
    RETURN QUERY SELECT u, NULL::text, NULL::bigint, NULL::bytea, NULL::bigint, NULL::bytea
        FROM unnest(v_inserted) AS u;
END
$$;

REVOKE ALL ON FUNCTION record_proposals(jsonb, bytea[], text[], uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION record_proposals(jsonb, bytea[], text[], uuid[]) TO aval_service;

-- As in migration 0006, returning what record_proposals returns.
CREATE FUNCTION record_proposals_with_calls(
    p_rows jsonb, p_events bytea[], p_event_tenants text[], p_event_decisions uuid[],
    p_calls jsonb
)
RETURNS TABLE (
    r_decision uuid, r_tenant text, r_first_seq bigint, r_prev_hash bytea, r_last_seq bigint,
    r_last_hash bytea
)
LANGUAGE plpgsql
AS $$
DECLARE
    v_inserted uuid[] := '{}';
    v_row      record;
BEGIN
    FOR v_row IN
        SELECT * FROM record_proposals(p_rows, p_events, p_event_tenants, p_event_decisions)
    LOOP
        r_decision := v_row.r_decision;
        r_tenant := v_row.r_tenant;
        r_first_seq := v_row.r_first_seq;
        r_prev_hash := v_row.r_prev_hash;
        r_last_seq := v_row.r_last_seq;
        r_last_hash := v_row.r_last_hash;
        IF r_decision IS NOT NULL THEN
            v_inserted := v_inserted || r_decision;
        END IF;
        RETURN NEXT;
    END LOOP;
    INSERT INTO ai_calls
        SELECT c.* FROM jsonb_populate_recordset(NULL::ai_calls, p_calls) AS c
        WHERE c.decision_id = ANY (v_inserted);
END
$$;

REVOKE ALL ON FUNCTION record_proposals_with_calls(jsonb, bytea[], text[], uuid[], jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION record_proposals_with_calls(jsonb, bytea[], text[], uuid[], jsonb)
    TO aval_service;
