-- Proposals recorded and sealed in one statement (one round trip, no explicit transaction),
-- and the seals read by where they end.
--
-- Since migration 0022 a batch of proposals was sealed in two statements of one transaction:
-- the append returned the range, the service checked it and sent the seal. When the service
-- knows the tenant's head (the end of its own last append), it can compute the range its bytes
-- will make and seal it beforehand: this function records the batch, checks that each tenant's
-- appended range is exactly the one the service sealed (same first and last seq, same previous
-- hash, same last hash: the database stored the bytes it was sent, after that head), and only
-- then stores the seals. Anything else raises and nothing is written; the service falls back to
-- the two statements. The MAC is the service's (its key is not in the database): a seal only
-- ever says that the service's own bytes chain from that previous hash to that last hash.
--
--   AVS01: a head moved since the service computed its seals (DETAIL: index seq hash-hex; the
--          index, from 1, in the seal arrays), checked before anything is written.
--   AVS02: what was appended is not what was sealed (a skipped duplicate, a concurrent append,
--          or a database that did not store the bytes it was sent).
CREATE FUNCTION record_proposals_sealed(
    p_rows jsonb, p_events bytea[], p_event_tenants text[], p_event_decisions uuid[],
    p_calls jsonb,  -- NULL: no AI call
    p_seal_tenants text[], p_seal_first bigint[], p_seal_prev bytea[], p_seal_last bigint[],
    p_seal_hash bytea[], p_key_id text, p_seal_macs bytea[]
)
RETURNS TABLE (
    r_decision uuid, r_tenant text, r_first_seq bigint, r_prev_hash bytea, r_last_seq bigint,
    r_last_hash bytea
)
LANGUAGE plpgsql
AS $$
DECLARE
    v_i     integer;
    v_seq   bigint;
    v_hash  bytea;
    v_rows  refcursor;
    v_row   record;
    v_found integer := 0;
BEGIN
    FOR v_i IN 1 .. coalesce(cardinality(p_seal_tenants), 0) LOOP
        SELECT h.seq, h.hash INTO v_seq, v_hash FROM chain_heads h
            WHERE h.tenant_id = p_seal_tenants[v_i];
        IF NOT FOUND THEN
            v_seq := 0;
            v_hash := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
        END IF;
        IF v_seq <> p_seal_first[v_i] - 1 OR v_hash <> p_seal_prev[v_i] THEN
            RAISE EXCEPTION 'the chain head of tenant % moved', p_seal_tenants[v_i]
                USING ERRCODE = 'AVS01', DETAIL = format('%s %s %s', v_i, v_seq, encode(v_hash, 'hex'));
        END IF;
    END LOOP;
    IF p_calls IS NULL THEN  -- no AI call to write
        OPEN v_rows FOR SELECT * FROM record_proposals(
            p_rows, p_events, p_event_tenants, p_event_decisions);
    ELSE
        OPEN v_rows FOR SELECT * FROM record_proposals_with_calls(
            p_rows, p_events, p_event_tenants, p_event_decisions, p_calls);
    END IF;
    LOOP
        FETCH v_rows INTO v_row;
        EXIT WHEN NOT FOUND;
        IF v_row.r_decision IS NULL THEN
            v_i := array_position(p_seal_tenants, v_row.r_tenant);
            IF v_i IS NULL OR p_seal_first[v_i] <> v_row.r_first_seq
                OR p_seal_prev[v_i] <> v_row.r_prev_hash OR p_seal_last[v_i] <> v_row.r_last_seq
                OR p_seal_hash[v_i] <> v_row.r_last_hash THEN
                RAISE EXCEPTION 'tenant %: the events appended are not those sealed', v_row.r_tenant
                    USING ERRCODE = 'AVS02';
            END IF;
            INSERT INTO trail_seals (tenant_id, first_seq, last_seq, prev_hash, last_hash, key_id, mac)
                VALUES (v_row.r_tenant, v_row.r_first_seq, v_row.r_last_seq, v_row.r_prev_hash,
                    v_row.r_last_hash, p_key_id, p_seal_macs[v_i]);
            v_found := v_found + 1;
        END IF;
        r_decision := v_row.r_decision;
        r_tenant := v_row.r_tenant;
        r_first_seq := v_row.r_first_seq;
        r_prev_hash := v_row.r_prev_hash;
        r_last_seq := v_row.r_last_seq;
        r_last_hash := v_row.r_last_hash;
        RETURN NEXT;
    END LOOP;
    CLOSE v_rows;
    IF v_found <> coalesce(cardinality(p_seal_tenants), 0) THEN
        RAISE EXCEPTION 'a sealed range was not appended' USING ERRCODE = 'AVS02';
    END IF;
END
$$;

REVOKE ALL ON FUNCTION record_proposals_sealed(
    jsonb, bytea[], text[], uuid[], jsonb, text[], bigint[], bytea[], bigint[], bytea[], text,
    bytea[]
) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION record_proposals_sealed(
    jsonb, bytea[], text[], uuid[], jsonb, text[], bigint[], bytea[], bigint[], bytea[], text,
    bytea[]
) TO aval_service;

-- The checkpointer reads, every round, the seals that end after the last checkpoint
-- (`seals.seals_after`): by this index, not by a scan of every seal the tenant ever had.
CREATE INDEX trail_seals_by_last_seq ON trail_seals (tenant_id, last_seq);
