-- Checkpoint retention (docs/signing.md): the service thins each tenant's checkpoints by a
-- published rule, so that a busy tenant keeps a few thousand a year instead of one every few
-- seconds. The tables stay append-only for everyone: no UPDATE ever, no TRUNCATE, and DELETE
-- only inside thin_checkpoints, which marks its own transaction. The service's role has no
-- DELETE grant at all; the mark only lets the function (run as the owner) through the trigger.
-- Which checkpoints the rule keeps is the service's to compute and verification's to check:
-- a checkpoint deleted here that the rule keeps is named `checkpoint_missing` by verification
-- (the service's witness file still holds it).

CREATE FUNCTION refuse_checkpoint_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('aval.checkpoint_thinning', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the checkpoints are append-only: % on % is refused (only their thinning '
        'deletes)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

DROP TRIGGER checkpoints_append_only ON checkpoints;
DROP TRIGGER checkpoints_no_truncate ON checkpoints;
DROP TRIGGER checkpoint_cosignatures_append_only ON checkpoint_cosignatures;
DROP TRIGGER checkpoint_cosignatures_no_truncate ON checkpoint_cosignatures;
CREATE TRIGGER checkpoints_append_only
    BEFORE UPDATE OR DELETE ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION refuse_checkpoint_change();
CREATE TRIGGER checkpoints_no_truncate
    BEFORE TRUNCATE ON checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_checkpoint_change();
CREATE TRIGGER checkpoint_cosignatures_append_only
    BEFORE UPDATE OR DELETE ON checkpoint_cosignatures
    FOR EACH ROW EXECUTE FUNCTION refuse_checkpoint_change();
CREATE TRIGGER checkpoint_cosignatures_no_truncate
    BEFORE TRUNCATE ON checkpoint_cosignatures
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_checkpoint_change();

-- Deletes the tenant's checkpoints of these tree sizes, with their cosignatures; returns how
-- many checkpoints went. Never the tenant's latest checkpoint, which every next checkpoint
-- starts from (its frontier), nor its first: sizes naming them are skipped.
CREATE FUNCTION thin_checkpoints(p_tenant text, p_sizes bigint[]) RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_count bigint;
    v_first bigint;
    v_latest bigint;
BEGIN
    SELECT min(tree_size), max(tree_size) INTO v_first, v_latest
        FROM aval.checkpoints WHERE tenant_id = p_tenant;
    PERFORM set_config('aval.checkpoint_thinning', 'on', true);
    DELETE FROM aval.checkpoint_cosignatures
        WHERE tenant_id = p_tenant AND tree_size = ANY (p_sizes)
          AND tree_size <> v_first AND tree_size <> v_latest;
    DELETE FROM aval.checkpoints
        WHERE tenant_id = p_tenant AND tree_size = ANY (p_sizes)
          AND tree_size <> v_first AND tree_size <> v_latest;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    PERFORM set_config('aval.checkpoint_thinning', 'off', true);
    RETURN v_count;
END
$$;

REVOKE ALL ON FUNCTION thin_checkpoints(text, bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION thin_checkpoints(text, bigint[]) TO aval_service;
