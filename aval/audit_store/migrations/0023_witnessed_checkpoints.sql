-- C2SP checkpoints (docs/witness.md): a checkpoint's signed_note is now the note text of a
-- c2sp.org/tlog-checkpoint, signed under a key name; the name and the 4-byte key ID of its
-- signature line are kept so that the whole signed note can be written back. Both are NULL for
-- checkpoints of the first format (`aval.v1/checkpoint`), which have no signature line.
ALTER TABLE checkpoints
    ADD COLUMN note_key_name text,
    ADD COLUMN note_key_hash bytea,
    ADD CONSTRAINT checkpoints_note_key CHECK (
        (note_key_name IS NULL AND note_key_hash IS NULL)
        OR (note_key_name <> '' AND octet_length(note_key_hash) = 4)
    );

-- Cosignatures (c2sp.org/tlog-cosignature, cosignature/v1) that witnesses returned for a
-- checkpoint. Verification checks them against the witness policy it is given; the service
-- only stores what a witness answered. Append-only, like the checkpoints.
CREATE TABLE checkpoint_cosignatures (
    tenant_id   text        NOT NULL,
    tree_size   bigint      NOT NULL,
    -- The witness's key name and key ID, as in its signature line.
    witness     text        NOT NULL,
    key_hash    bytea       NOT NULL CHECK (octet_length(key_hash) = 4),
    -- The signature as the line encodes it after the key ID: 8-byte timestamp, then Ed25519.
    signature   bytea       NOT NULL,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, tree_size, witness, key_hash),
    FOREIGN KEY (tenant_id, tree_size) REFERENCES checkpoints (tenant_id, tree_size)
);

CREATE TRIGGER checkpoint_cosignatures_append_only
    BEFORE UPDATE OR DELETE ON checkpoint_cosignatures
    FOR EACH ROW EXECUTE FUNCTION refuse_audit_change();
CREATE TRIGGER checkpoint_cosignatures_no_truncate
    BEFORE TRUNCATE ON checkpoint_cosignatures
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_change();

REVOKE ALL ON checkpoint_cosignatures FROM PUBLIC;
GRANT SELECT, INSERT ON checkpoint_cosignatures TO aval_service;
