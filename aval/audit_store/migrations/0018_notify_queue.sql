-- WatchQueue: a new proposal wakes the watchers of its tenant's queue (changes of existing
-- decisions already wake them through decisions_notify). The payload names the tenant only, and
-- PostgreSQL folds identical notifications of one transaction: a group commit of many
-- proposals of a tenant costs one notification, not one per proposal.
CREATE FUNCTION notify_queue_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('aval_decision_changed', NEW.tenant_id || '/*');
    RETURN NULL;
END
$$;

CREATE TRIGGER decisions_notify_queue
    AFTER INSERT ON decisions
    FOR EACH ROW EXECUTE FUNCTION notify_queue_changed();
