-- The people directory: the display names of people signed in through an identity provider,
-- so that the pseudonymous ids of the trail (oidc:<issuer name>:<sub>) can be shown by name to
-- those allowed to read them. Operational personal data, NOT evidence: it lives here, never in
-- the trail, is written at most once an hour per person (or when their name changes), and rows
-- of people not seen for AVAL_PEOPLE_RETENTION_MONTHS are deleted (data minimisation).
CREATE TABLE people (
    principal_id  text        PRIMARY KEY CHECK (length(principal_id) BETWEEN 1 AND 300),
    -- The tenants where the person's token gave them roles; a lookup answers only there.
    tenants       text[]      NOT NULL CHECK (cardinality(tenants) BETWEEN 1 AND 100),
    -- Printable text only (service/people/names.py escapes the rest), 200 characters at most.
    display_name  text        NOT NULL CHECK (length(display_name) <= 200),
    first_seen    timestamptz NOT NULL,
    last_seen     timestamptz NOT NULL,
    CHECK (first_seen <= last_seen)
);

-- What the retention purge scans.
CREATE INDEX people_last_seen ON people (last_seen);

GRANT SELECT, INSERT, UPDATE, DELETE ON people TO aval_service;
