-- Decisions, reviews and the append-only, hash-chained audit trail.
-- Every primary key starts with tenant_id so that the schema can be sharded by tenant.

CREATE TABLE decisions (
    tenant_id           text        NOT NULL,
    id                  uuid        NOT NULL,
    decision_type       text        NOT NULL,
    subject_ref         text        NOT NULL,
    state               text        NOT NULL CHECK (state IN
                          ('PENDING_REVIEW', 'APPROVED', 'AMENDED', 'REJECTED', 'EXPIRED', 'WITHDRAWN')),
    input               jsonb       NOT NULL,
    input_sha256        text        NOT NULL,
    suggestion          jsonb,
    proposer_id         text        NOT NULL,
    idempotency_key     text        NOT NULL,
    request_sha256      text        NOT NULL,
    policy_revision     text        NOT NULL,
    required_approvals  integer     NOT NULL CHECK (required_approvals >= 1),
    rejections_to_close integer     NOT NULL CHECK (rejections_to_close >= 1),
    approvals           integer     NOT NULL DEFAULT 0,
    rejections          integer     NOT NULL DEFAULT 0,
    pending_output      jsonb,
    outcome             jsonb,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    deadline            timestamptz NOT NULL,
    finalized_at        timestamptz,
    claimed_by          text,
    claim_expires_at    timestamptz,
    trace_id            text        NOT NULL DEFAULT '',
    version             bigint      NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, idempotency_key)
);

-- The review queue and the deadline sweeper read pending decisions by deadline.
CREATE INDEX decisions_pending_by_deadline
    ON decisions (tenant_id, deadline, id) WHERE state = 'PENDING_REVIEW';
CREATE INDEX decisions_pending_deadline_all
    ON decisions (deadline) WHERE state = 'PENDING_REVIEW';

CREATE TABLE reviews (
    tenant_id       text        NOT NULL,
    decision_id     uuid        NOT NULL,
    reviewer_id     text        NOT NULL,
    reviewer_roles  text[]      NOT NULL,
    verdict         text        NOT NULL CHECK (verdict IN ('APPROVE', 'AMEND', 'REJECT')),
    justification   text        NOT NULL DEFAULT '',
    amended_output  jsonb,
    decided_at      timestamptz NOT NULL,
    -- One verdict per reviewer and decision.
    PRIMARY KEY (tenant_id, decision_id, reviewer_id),
    FOREIGN KEY (tenant_id, decision_id) REFERENCES decisions (tenant_id, id)
);

CREATE TABLE chain_heads (
    tenant_id   text   NOT NULL PRIMARY KEY,
    seq         bigint NOT NULL,
    hash        bytea  NOT NULL
);

-- The trail. `canonical` holds the exact bytes the hash covers; the other columns are derived
-- from them by append_audit_events() for querying.
CREATE TABLE audit_events (
    tenant_id       text        NOT NULL,
    seq             bigint      NOT NULL,
    event_id        uuid        NOT NULL,
    occurred_at     timestamptz NOT NULL,
    decision_id     uuid,
    kind            text        NOT NULL,
    actor_id        text        NOT NULL,
    actor_type      text        NOT NULL,
    trace_id        text        NOT NULL,
    schema_version  integer     NOT NULL,
    body            jsonb       NOT NULL,
    canonical       bytea       NOT NULL,
    prev_hash       bytea       NOT NULL,
    hash            bytea       NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX audit_events_by_decision ON audit_events (tenant_id, decision_id, seq);
CREATE INDEX audit_events_by_time ON audit_events (tenant_id, occurred_at, seq);

-- Appends events to a tenant's chain under a lock on its head row, so that appends of one
-- tenant are serialised and those of different tenants proceed in parallel. Each hash is
-- SHA-256(previous hash || seq as 8 bytes big-endian || canonical bytes).
CREATE FUNCTION append_audit_events(p_tenant text, p_events bytea[])
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
                actor_id, actor_type, trace_id, schema_version, body, canonical, prev_hash, hash)
            VALUES (p_tenant, v_seq, (v_body->>'event_id')::uuid, (v_body->>'occurred_at')::timestamptz,
                NULLIF(v_body->>'decision_id', '')::uuid, v_body->>'kind',
                v_body->'actor'->>'id', v_body->'actor'->>'type', COALESCE(v_body->>'trace_id', ''),
                (v_body->>'schema_version')::integer, v_body, v_bytes, v_prev, v_hash);
        seq := v_seq;
        hash := v_hash;
        RETURN NEXT;
    END LOOP;
    UPDATE aval.chain_heads h SET seq = v_seq, hash = v_hash WHERE h.tenant_id = p_tenant;
END
$$;

-- The trail is append-only for everyone, owner included: only a superuser who disables the
-- triggers can change it, and verification catches that.
CREATE FUNCTION refuse_audit_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION refuse_audit_change();
CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_change();
CREATE TRIGGER chain_heads_no_delete
    BEFORE DELETE ON chain_heads
    FOR EACH ROW EXECUTE FUNCTION refuse_audit_change();
CREATE TRIGGER chain_heads_no_truncate
    BEFORE TRUNCATE ON chain_heads
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_change();

-- The service's role reads the trail and appends only through the function.
REVOKE ALL ON audit_events, chain_heads FROM PUBLIC;
REVOKE ALL ON FUNCTION append_audit_events(text, bytea[]) FROM PUBLIC;
GRANT SELECT ON audit_events, chain_heads TO aval_service;
GRANT EXECUTE ON FUNCTION append_audit_events(text, bytea[]) TO aval_service;
GRANT SELECT, INSERT, UPDATE ON decisions, reviews TO aval_service;
