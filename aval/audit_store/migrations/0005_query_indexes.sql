-- Indexes for inspectors' queries (QueryEvents, ExportEvents). Every query reads events in
-- (tenant_id, seq) order and stops with its page: each index on events ends with seq, so that
-- a filtered page is one ordered range scan; the others find where to start, or serve the
-- look-up of an event's decision and of its reviews.

-- Events of one reviewer (the event's actor).
CREATE INDEX audit_events_by_actor ON audit_events (tenant_id, actor_id, seq);

-- Events of one kind.
CREATE INDEX audit_events_by_kind ON audit_events (tenant_id, kind, seq);

-- Recorded verdicts, by verdict.
CREATE INDEX audit_events_by_verdict
    ON audit_events (tenant_id, ((body -> 'data') ->> 'verdict'), seq)
    WHERE kind = 'review.recorded';

-- Where the decisions of a type, of an AI system or of a model version begin in a tenant's
-- trail: a decision's first event records all three, and no event of it comes before.
CREATE INDEX audit_events_proposed_by_type
    ON audit_events (tenant_id, ((body -> 'data') ->> 'decision_type'), seq)
    WHERE kind = 'decision.proposed';
CREATE INDEX audit_events_proposed_by_ai_system
    ON audit_events (tenant_id, ((((body -> 'data') -> 'suggestion') -> 'model') ->> 'name'), seq)
    WHERE kind = 'decision.proposed';
CREATE INDEX audit_events_proposed_by_model_version
    ON audit_events (tenant_id, ((((body -> 'data') -> 'suggestion') -> 'model') ->> 'version'), seq)
    WHERE kind = 'decision.proposed';

-- Decisions by type, AI system and model version: how many match, and which when few do.
CREATE INDEX decisions_by_type ON decisions (tenant_id, decision_type);
CREATE INDEX decisions_by_ai_system
    ON decisions (tenant_id, ((suggestion -> 'model') ->> 'name'), ((suggestion -> 'model') ->> 'version'));
CREATE INDEX decisions_by_model_version
    ON decisions (tenant_id, ((suggestion -> 'model') ->> 'version'));

-- Decisions where a human departed from the AI's suggestion (the `overrode` filter).
CREATE INDEX reviews_overriding
    ON reviews (tenant_id, decision_id) WHERE verdict IN ('AMEND', 'REJECT');
