-- Four eyes on every change of what a system in service answers: a pin request either pins a
-- version (version set) or changes the system's configuration (configuration set: a JSON list
-- of {"field", "previous", "value"}, the fields kind, endpoint, model and api_key_env).
ALTER TABLE pin_requests ALTER COLUMN version DROP NOT NULL;
ALTER TABLE pin_requests ADD COLUMN configuration jsonb;
ALTER TABLE pin_requests ADD CONSTRAINT pin_requests_pin_or_configuration
    CHECK ((version IS NULL) <> (configuration IS NULL));
