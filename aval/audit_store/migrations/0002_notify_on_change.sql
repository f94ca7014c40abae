-- Every committed insert or update of a decision wakes its watchers on every replica, whoever
-- made the change: the notification is part of the row change, not something writers remember.
CREATE FUNCTION notify_decision_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('aval_decision_changed', NEW.tenant_id || '/' || NEW.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER decisions_notify
    AFTER INSERT OR UPDATE ON decisions
    FOR EACH ROW EXECUTE FUNCTION notify_decision_changed();
