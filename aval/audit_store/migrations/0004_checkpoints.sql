-- Signed checkpoints of each tenant's trail: the tree size, the Merkle root (RFC 9162) and the
-- chain head at one moment, signed with an Ed25519 key that is never in the database. Like the
-- trail, append-only: the service may read and insert, nobody may change or remove one.

CREATE TABLE checkpoints (
    tenant_id   text        NOT NULL,
    -- Events 1..tree_size are covered.
    tree_size   bigint      NOT NULL CHECK (tree_size >= 0),
    -- RFC 9162 Merkle tree hash over the canonical bytes of those events.
    root_hash   bytea       NOT NULL CHECK (octet_length(root_hash) = 32),
    -- Chain hash of event tree_size (32 zero bytes for an empty trail).
    head_hash   bytea       NOT NULL CHECK (octet_length(head_hash) = 32),
    issued_at   timestamptz NOT NULL,
    -- First 16 hex digits of the SHA-256 of the raw public key that verifies the signature.
    key_id      text        NOT NULL,
    -- The exact bytes signed (UTF-8 text, see docs/architecture.md).
    signed_note bytea       NOT NULL,
    signature   bytea       NOT NULL,
    -- The Merkle frontier after tree_size leaves, so that the next checkpoint only reads the
    -- events after this one.
    frontier    bytea       NOT NULL,
    PRIMARY KEY (tenant_id, tree_size)
);

CREATE TRIGGER checkpoints_append_only
    BEFORE UPDATE OR DELETE ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION refuse_audit_change();
CREATE TRIGGER checkpoints_no_truncate
    BEFORE TRUNCATE ON checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_change();

REVOKE ALL ON checkpoints FROM PUBLIC;
GRANT SELECT, INSERT ON checkpoints TO aval_service;
