-- The queue's "not yet seen by me" filter: a reviewer's first display of a case, found by
-- (tenant, reviewer, decision) without reading the rest of the trail.
CREATE INDEX audit_events_case_displayed
    ON audit_events (tenant_id, actor_id, decision_id)
    WHERE kind = 'review.case_displayed';

-- The queue's counts (pending, near deadline, claimed by the caller) in one index-only pass
-- over a tenant's pending decisions, without reading the rows.
CREATE INDEX decisions_pending_counts
    ON decisions (tenant_id, deadline) INCLUDE (claimed_by, claim_expires_at)
    WHERE state = 'PENDING_REVIEW';
