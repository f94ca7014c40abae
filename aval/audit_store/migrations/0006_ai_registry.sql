-- AI systems behind the gateway: the registry of systems and model versions per tenant, the
-- four-eyes requests that change a pinned version, the kill switch, and one row per AI call
-- (for cost, energy and evaluation). Every change here is also an audit event of the tenant.

-- Where a decision's suggestion comes from, or why there is none (see AdviceStatus in
-- common.proto), and the detail reviewers see with the flag.
ALTER TABLE decisions
    ADD COLUMN advice_status text NOT NULL DEFAULT 'ATTESTED' CHECK (advice_status IN
        ('ATTESTED', 'SUGGESTED', 'UNAVAILABLE', 'INVALID_OUTPUT', 'STOPPED', 'NONE')),
    ADD COLUMN advice_detail text NOT NULL DEFAULT '';

CREATE TABLE ai_systems (
    tenant_id                     text        NOT NULL,
    name                          text        NOT NULL,
    kind                          text        NOT NULL CHECK (kind IN ('OPENAI_COMPATIBLE', 'ADVISOR')),
    -- Base URL of an OpenAI-compatible API (…/v1), or host:port of an Advisor.
    endpoint                      text        NOT NULL,
    -- The model name sent to an OpenAI-compatible backend.
    model                         text        NOT NULL DEFAULT '',
    -- Name of the environment variable holding the backend's API key; never the key itself.
    api_key_env                   text        NOT NULL DEFAULT '',
    pinned_version                text,
    -- A candidate version run beside the pinned one; its suggestions are only recorded.
    shadow_version                text,
    enabled                       boolean     NOT NULL DEFAULT true,
    timeout_ms                    integer     NOT NULL DEFAULT 10000 CHECK (timeout_ms > 0),
    max_attempts                  integer     NOT NULL DEFAULT 2 CHECK (max_attempts BETWEEN 1 AND 5),
    energy_mwh_per_1k_tokens      bigint      NOT NULL DEFAULT 0 CHECK (energy_mwh_per_1k_tokens >= 0),
    energy_mwh_per_call           bigint      NOT NULL DEFAULT 0 CHECK (energy_mwh_per_call >= 0),
    cost_micro_eur_per_1k_tokens  bigint      NOT NULL DEFAULT 0 CHECK (cost_micro_eur_per_1k_tokens >= 0),
    cost_micro_eur_per_call       bigint      NOT NULL DEFAULT 0 CHECK (cost_micro_eur_per_call >= 0),
    created_at                    timestamptz NOT NULL,
    updated_at                    timestamptz NOT NULL,
    version                       bigint      NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE model_versions (
    tenant_id        text        NOT NULL,
    ai_system        text        NOT NULL,
    version          text        NOT NULL,
    -- Instructions for use (AI Act art. 13): intended purpose, known limits, accuracy.
    intended_purpose text        NOT NULL DEFAULT '',
    known_limits     text[]      NOT NULL DEFAULT '{}',
    accuracy_note    text        NOT NULL DEFAULT '',
    metrics          jsonb       NOT NULL DEFAULT '{}',
    registered_by    text        NOT NULL,
    registered_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, ai_system, version),
    FOREIGN KEY (tenant_id, ai_system) REFERENCES ai_systems (tenant_id, name)
);

ALTER TABLE ai_systems
    ADD FOREIGN KEY (tenant_id, name, pinned_version)
        REFERENCES model_versions (tenant_id, ai_system, version) DEFERRABLE INITIALLY DEFERRED,
    ADD FOREIGN KEY (tenant_id, name, shadow_version)
        REFERENCES model_versions (tenant_id, ai_system, version) DEFERRABLE INITIALLY DEFERRED;

-- Changing a pinned version is requested by one administrator and approved by another.
CREATE TABLE pin_requests (
    tenant_id       text        NOT NULL,
    id              uuid        NOT NULL,
    ai_system       text        NOT NULL,
    version         text        NOT NULL,
    reason          text        NOT NULL,
    requested_by    text        NOT NULL,
    requested_at    timestamptz NOT NULL,
    state           text        NOT NULL DEFAULT 'PENDING'
                      CHECK (state IN ('PENDING', 'APPROVED', 'REFUSED', 'SUPERSEDED')),
    decided_by      text,
    decided_at      timestamptz,
    decision_reason text        NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, ai_system, version)
        REFERENCES model_versions (tenant_id, ai_system, version)
);

-- The kill switch: a row means stopped. scope TENANT has target ''; DECISION_TYPE and
-- AI_SYSTEM name theirs. Resuming deletes the row; the trail keeps the history.
CREATE TABLE ai_stops (
    tenant_id   text        NOT NULL,
    scope       text        NOT NULL CHECK (scope IN ('TENANT', 'DECISION_TYPE', 'AI_SYSTEM')),
    target      text        NOT NULL,
    reason      text        NOT NULL,
    stopped_by  text        NOT NULL,
    stopped_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, scope, target)
);

-- One row per call to an AI system (or per call the kill switch or the registry prevented),
-- written in the transaction of the proposal it served.
CREATE TABLE ai_calls (
    tenant_id       text        NOT NULL,
    id              uuid        NOT NULL,
    decision_id     uuid        NOT NULL,
    decision_type   text        NOT NULL,
    ai_system       text        NOT NULL,
    model_version   text        NOT NULL,
    -- PRIMARY: its suggestion is the decision's; SHADOW: recorded only, never shown nor released.
    role            text        NOT NULL CHECK (role IN ('PRIMARY', 'SHADOW')),
    status          text        NOT NULL CHECK (status IN
                      ('SUGGESTED', 'UNAVAILABLE', 'INVALID_OUTPUT', 'STOPPED')),
    detail          text        NOT NULL DEFAULT '',
    started_at      timestamptz NOT NULL,
    latency_ms      integer     NOT NULL CHECK (latency_ms >= 0),
    attempts        integer     NOT NULL DEFAULT 0,
    input_tokens    bigint,
    output_tokens   bigint,
    energy_mwh      bigint      NOT NULL DEFAULT 0,
    cost_micro_eur  bigint      NOT NULL DEFAULT 0,
    -- The valid suggestion's output (for agreement with the final human decision).
    output          jsonb,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, decision_id) REFERENCES decisions (tenant_id, id)
);
CREATE INDEX ai_calls_by_system ON ai_calls (tenant_id, ai_system, started_at);
CREATE INDEX ai_calls_by_decision ON ai_calls (tenant_id, decision_id);

-- record_proposals, plus the AI calls of the decisions it inserts (p_calls: a JSON array of
-- ai_calls rows). Calls of a decision skipped for its idempotency key are dropped with it.
CREATE FUNCTION record_proposals_with_calls(
    p_rows jsonb, p_events bytea[], p_event_tenants text[], p_event_decisions uuid[],
    p_calls jsonb
)
RETURNS SETOF uuid
LANGUAGE plpgsql
AS $$
DECLARE
    v_inserted uuid[];
BEGIN
    v_inserted := ARRAY(
        SELECT record_proposals(p_rows, p_events, p_event_tenants, p_event_decisions)
    );
    INSERT INTO ai_calls
        SELECT c.* FROM jsonb_populate_recordset(NULL::ai_calls, p_calls) AS c
        WHERE c.decision_id = ANY (v_inserted);
    RETURN QUERY SELECT unnest(v_inserted);
END
$$;

REVOKE ALL ON FUNCTION record_proposals_with_calls(jsonb, bytea[], text[], uuid[], jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION record_proposals_with_calls(jsonb, bytea[], text[], uuid[], jsonb)
    TO aval_service;
GRANT SELECT, INSERT, UPDATE ON ai_systems, model_versions, pin_requests TO aval_service;
GRANT SELECT, INSERT, DELETE ON ai_stops TO aval_service;
GRANT SELECT, INSERT ON ai_calls TO aval_service;

