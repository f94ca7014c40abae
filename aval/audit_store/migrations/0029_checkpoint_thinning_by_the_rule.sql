-- Checkpoint retention enforced by the database (docs/signing.md). Until now thin_checkpoints
-- deleted whatever sizes its caller named (but the first and the latest), so a compromised
-- service, or anyone holding its role, could delete checkpoints the rule keeps, and only the
-- witness file would show it. It now applies the rule itself (verifier/retention.py
-- `retained`, computed here over the tenant's rows) and deletes only the sizes it is given
-- that the rule drops; a size the rule keeps is skipped, not refused, so that a pass racing a
-- new checkpoint or a clock a little ahead deletes a little less and the next pass the rest.
--
-- The rule's time is least(p_now, greatest(now(), the signing time of the tenant's latest
-- checkpoint)). The caller's time alone would let it thin as if it were years from now (all
-- but one checkpoint a day); the database's clock alone would break a deployment whose
-- clock runs ahead of it (the tests' clock runs days ahead, and signs its checkpoints at its
-- own time). Neither clock may be trusted further than the other: the time is never ahead of
-- the caller's, nor of both the database's clock and the newest signing time. A service that
-- signed a checkpoint in the future to push that time on leaves it in the database for good,
-- since the latest checkpoint is never deleted.
--
-- The rule in SQL, as in Python: every checkpoint of age <= 1 hour; up to 1 day (24 hours)
-- the last (largest tree size) of its UTC minute; up to 31 days (744 hours) of its UTC hour;
-- beyond, of its UTC day; "last of" among all the tenant's checkpoints in that bucket; always
-- the first, the latest and the latest cosigned. Ages are differences of timestamptz (never
-- interval arithmetic in the session's time zone), buckets date_trunc of the UTC time.

DROP FUNCTION thin_checkpoints(text, bigint[]);

-- Deletes those of the tenant's checkpoints of these tree sizes that the retention rule drops
-- at the time above, with their cosignatures; returns how many checkpoints went. The buckets'
-- last checkpoints are computed over the UTC days the given sizes were signed in (all the
-- tenant's checkpoints of those days), so that a batch reads only its own days.
CREATE FUNCTION thin_checkpoints(p_tenant text, p_sizes bigint[], p_now timestamptz)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_first bigint;
    v_latest bigint;
    v_cosigned bigint;
    v_at timestamptz;
    v_drop bigint[];
    v_count bigint;
BEGIN
    IF p_now IS NULL THEN
        RAISE EXCEPTION 'thin_checkpoints needs the time the retention rule is applied at '
            '(p_now): pass the deployment''s clock'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT min(tree_size), max(tree_size) INTO v_first, v_latest
        FROM aval.checkpoints WHERE tenant_id = p_tenant;
    IF v_latest IS NULL OR p_sizes IS NULL THEN
        RETURN 0;
    END IF;
    SELECT least(p_now, greatest(now(), issued_at)) INTO v_at
        FROM aval.checkpoints WHERE tenant_id = p_tenant AND tree_size = v_latest;
    SELECT max(tree_size) INTO v_cosigned
        FROM aval.checkpoint_cosignatures WHERE tenant_id = p_tenant;

    WITH asked AS (
        SELECT tree_size, issued_at FROM aval.checkpoints
        WHERE tenant_id = p_tenant AND tree_size = ANY (p_sizes)
    ),
    days AS (
        SELECT date_trunc('day', min(issued_at) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS lo,
               (date_trunc('day', max(issued_at) AT TIME ZONE 'UTC') + interval '1 day')
                   AT TIME ZONE 'UTC' AS hi
        FROM asked
    ),
    bucketed AS (
        SELECT c.tree_size,
               v_at - c.issued_at AS age,
               max(c.tree_size) OVER (PARTITION BY
                   date_trunc('minute', c.issued_at AT TIME ZONE 'UTC')) AS last_of_minute,
               max(c.tree_size) OVER (PARTITION BY
                   date_trunc('hour', c.issued_at AT TIME ZONE 'UTC')) AS last_of_hour,
               max(c.tree_size) OVER (PARTITION BY
                   date_trunc('day', c.issued_at AT TIME ZONE 'UTC')) AS last_of_day
        FROM aval.checkpoints c, days
        WHERE c.tenant_id = p_tenant AND c.issued_at >= days.lo AND c.issued_at < days.hi
    )
    SELECT array_agg(tree_size) INTO v_drop
    FROM bucketed
    WHERE tree_size = ANY (p_sizes)
      AND tree_size <> v_first AND tree_size <> v_latest
      AND tree_size IS DISTINCT FROM v_cosigned
      AND NOT CASE
          WHEN age <= interval '1 hour' THEN true
          WHEN age <= interval '24 hours' THEN tree_size = last_of_minute
          WHEN age <= interval '744 hours' THEN tree_size = last_of_hour
          ELSE tree_size = last_of_day
      END;

    IF v_drop IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM set_config('aval.checkpoint_thinning', 'on', true);
    DELETE FROM aval.checkpoint_cosignatures
        WHERE tenant_id = p_tenant AND tree_size = ANY (v_drop);
    DELETE FROM aval.checkpoints
        WHERE tenant_id = p_tenant AND tree_size = ANY (v_drop);
    GET DIAGNOSTICS v_count = ROW_COUNT;
    PERFORM set_config('aval.checkpoint_thinning', 'off', true);
    RETURN v_count;
END
$$;

REVOKE ALL ON FUNCTION thin_checkpoints(text, bigint[], timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION thin_checkpoints(text, bigint[], timestamptz) TO aval_service;
