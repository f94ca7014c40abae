-- Seals of the webhook outbox: an outcome a database superuser edited is never delivered.
--
-- At enqueue the service stores the exact bytes it will POST (`body`, the canonical JSON of
-- `payload`) and an HMAC-SHA256 of (tenant, id, decision id, application id, body) with the
-- key it derives from its Ed25519 signing key (the trail seals' key, another domain; never
-- given to the database). Before it signs and sends a row, the delivery worker checks the seal
-- and that `payload` is what `body` says: a row that fails is settled dead with the reason
-- PAYLOAD_NOT_SEALED and never sent (docs/signing.md). Without a signing key, both stay NULL.
-- Rows enqueued before this migration have none: those still to deliver are sealed once, on the
-- first start with a key (aval/service/webhooks/adoption.py); later, a row without one is refused.
ALTER TABLE webhook_outbox
    ADD COLUMN body bytea,
    ADD COLUMN seal bytea CHECK (seal IS NULL OR octet_length(seal) = 32),
    ADD CHECK ((body IS NULL) = (seal IS NULL));
