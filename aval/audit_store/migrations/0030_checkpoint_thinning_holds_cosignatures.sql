-- Checkpoint thinning holds off new cosignatures until it commits. `thin_checkpoints`
-- (migration 0029) reads which checkpoint is the latest cosigned, then deletes the sizes the
-- rule drops with their cosignatures, in separate statements; under READ COMMITTED a
-- cosignature committed in between, on a checkpoint it had chosen to drop, was deleted with
-- that checkpoint, although the rule always keeps the latest cosigned one. It now takes a
-- SHARE ROW EXCLUSIVE lock on the cosignatures first (it conflicts with INSERT and DELETE, not
-- with reading), so that what it read stays true until it commits. The lock conflicts with
-- itself, so two passes (two replicas) take turns: with SHARE, both would hold it and then
-- wait for each other to DELETE (a deadlock). A witness's answer that arrives meanwhile is
-- stored once the pass ends (a pass takes about a second at most: docs/signing.md).
--
-- The rule itself is unchanged: the function of 0029 is kept under another name, which only
-- its owner may call, and the name the service calls locks, then calls it.

ALTER FUNCTION thin_checkpoints(text, bigint[], timestamptz)
    RENAME TO thin_checkpoints_by_the_rule;
REVOKE ALL ON FUNCTION thin_checkpoints_by_the_rule(text, bigint[], timestamptz)
    FROM PUBLIC, aval_service;

CREATE FUNCTION thin_checkpoints(p_tenant text, p_sizes bigint[], p_now timestamptz)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    LOCK TABLE aval.checkpoint_cosignatures IN SHARE ROW EXCLUSIVE MODE;
    RETURN aval.thin_checkpoints_by_the_rule(p_tenant, p_sizes, p_now);
END
$$;

REVOKE ALL ON FUNCTION thin_checkpoints(text, bigint[], timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION thin_checkpoints(text, bigint[], timestamptz) TO aval_service;
