-- Outcome webhooks: the outbox. A row is written in the transaction that makes a decision final
-- (with its decision.finalized or decision.expired event, whose id it takes), for applications
-- the operator gave a webhook; the delivery workers of every replica POST it until a 2xx.
-- Delivery state is operational, not evidence: it lives here, never in the trail.
CREATE TABLE webhook_outbox (
    tenant_id        text        NOT NULL,
    -- The id of the event that made the decision final: the receivers' idempotency key.
    id               uuid        NOT NULL,
    decision_id      uuid        NOT NULL,
    application_id   text        NOT NULL,
    payload          jsonb       NOT NULL,
    created_at       timestamptz NOT NULL,
    attempts         integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- When a worker may take it next; a worker that takes it moves this past its attempt
    -- (a lease), so a worker that dies mid-attempt leaves it to another once the lease ends.
    next_attempt_at  timestamptz NOT NULL,
    delivered_at     timestamptz,
    -- Set when the attempts or the age allowed are spent: nobody tries again.
    dead_at          timestamptz,
    -- The receiver's HTTP status or a fixed reason; never what the receiver answered.
    last_error       text        NOT NULL DEFAULT '' CHECK (length(last_error) <= 100),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, decision_id) REFERENCES decisions (tenant_id, id),
    CHECK (delivered_at IS NULL OR dead_at IS NULL)
);

-- What the workers poll: the rows still to deliver, the earliest due first.
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at)
    WHERE delivered_at IS NULL AND dead_at IS NULL;
CREATE INDEX webhook_outbox_by_decision ON webhook_outbox (tenant_id, decision_id);

GRANT SELECT, INSERT, UPDATE ON webhook_outbox TO aval_service;
