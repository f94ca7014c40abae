-- Only changes of existing decisions wake watchers: a watcher always starts after the decision
-- exists, so the notification of each insert (one per proposal, heard and dispatched by every
-- replica's listener) served nobody.
DROP TRIGGER decisions_notify ON decisions;
CREATE TRIGGER decisions_notify
    AFTER UPDATE ON decisions
    FOR EACH ROW EXECUTE FUNCTION notify_decision_changed();
