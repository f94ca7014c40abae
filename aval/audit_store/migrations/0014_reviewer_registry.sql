-- The reviewer registry (R11, AI Act art. 26(2)): per tenant, who may review which decision
-- types, with their training and the authority that delegated them, for a span of days.
--
-- Validity is in whole days of Europe/Paris, both ends included: a qualification is valid at
-- instant t when the Paris date of t lies in [valid_from, valid_until], and it was neither
-- revoked nor superseded at or before t. "Expired yesterday" is valid_until = yesterday in Paris.
--
-- History is kept: rows are never deleted and their facts never change. A renewal inserts a
-- new row and marks the one it replaces superseded; a revocation marks its row revoked. Those
-- marks are set once (NULL to a value) and never cleared, so what was valid when an earlier
-- verdict was recorded can always be read again.
CREATE TABLE reviewer_qualifications (
    tenant_id      text        NOT NULL,
    id             uuid        PRIMARY KEY,
    reviewer_id    text        NOT NULL,
    -- A decision type of the tenant, or '*' for every decision type of the tenant.
    decision_type  text        NOT NULL,
    trained_on     date        NOT NULL,
    -- Name and role of the authority that delegated the power to review, as written.
    delegated_by   text        NOT NULL,
    valid_from     date        NOT NULL,
    valid_until    date        NOT NULL,
    granted_by     text        NOT NULL,
    granted_at     timestamptz NOT NULL,
    reason         text        NOT NULL,
    -- The row this one renews (same reviewer and decision type), if any.
    renews         uuid        REFERENCES reviewer_qualifications (id),
    superseded_at  timestamptz,
    -- Set before the renewing row is inserted (one row in force at a time): checked at commit.
    superseded_by  uuid        REFERENCES reviewer_qualifications (id)
                               DEFERRABLE INITIALLY DEFERRED,
    revoked_at     timestamptz,
    revoked_by     text,
    revoke_reason  text,
    CHECK (valid_from <= valid_until),
    CHECK (trained_on <= valid_until),
    CHECK ((revoked_at IS NULL) = (revoked_by IS NULL)),
    CHECK ((superseded_at IS NULL) = (superseded_by IS NULL))
);

CREATE INDEX reviewer_qualifications_reviewer
    ON reviewer_qualifications (tenant_id, reviewer_id, decision_type);

-- At most one row in force per reviewer and decision type: concurrent grants cannot leave two.
CREATE UNIQUE INDEX reviewer_qualifications_in_force
    ON reviewer_qualifications (tenant_id, reviewer_id, decision_type)
    WHERE superseded_at IS NULL AND revoked_at IS NULL;

-- Facts never change and rows are never deleted; the marks are set once.
CREATE FUNCTION reviewer_qualifications_keep_history() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'reviewer qualifications are history: never deleted';
    END IF;
    IF (NEW.tenant_id, NEW.id, NEW.reviewer_id, NEW.decision_type, NEW.trained_on,
        NEW.delegated_by, NEW.valid_from, NEW.valid_until, NEW.granted_by, NEW.granted_at,
        NEW.reason, NEW.renews)
       IS DISTINCT FROM
       (OLD.tenant_id, OLD.id, OLD.reviewer_id, OLD.decision_type, OLD.trained_on,
        OLD.delegated_by, OLD.valid_from, OLD.valid_until, OLD.granted_by, OLD.granted_at,
        OLD.reason, OLD.renews)
       OR (OLD.revoked_at IS NOT NULL AND
           (NEW.revoked_at, NEW.revoked_by, NEW.revoke_reason)
           IS DISTINCT FROM (OLD.revoked_at, OLD.revoked_by, OLD.revoke_reason))
       OR (OLD.superseded_at IS NOT NULL AND
           (NEW.superseded_at, NEW.superseded_by)
           IS DISTINCT FROM (OLD.superseded_at, OLD.superseded_by)) THEN
        RAISE EXCEPTION 'reviewer qualification %: its facts never change', OLD.id;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER reviewer_qualifications_history
    BEFORE UPDATE OR DELETE ON reviewer_qualifications
    FOR EACH ROW EXECUTE FUNCTION reviewer_qualifications_keep_history();

-- The service reads, grants (insert) and marks (update); it never deletes.
GRANT SELECT, INSERT, UPDATE ON reviewer_qualifications TO aval_service;
