-- The version pinned when a pin request was made (PinRequest.previous_version in admin.proto):
-- NULL when the AI system had no pinned version then.
ALTER TABLE pin_requests ADD COLUMN previous_version text;
