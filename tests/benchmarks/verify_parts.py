"""Where PostgreSQL's time goes when verification checks a range of events, and its facts.

Runs, over one tenant of a generated trail, in ranges of 10,000 events on one connection, the
query that verification sends (`digests._RANGE_WITH_LEAVES`) and then the bare scan with one
part of that query added at a time. For each it prints the CPU of the PostgreSQL backend per
event (read from /proc; the server and this script are not counted) and its share of the whole
query's. The parts do not add up exactly: their costs overlap (one row read serves them all).

Then the facts check (`verify_facts`) of the same tenant, on one connection (parallel query
off, as under verification's three connections): both ways of reading the events (from the
columns the chain check proved, and from the bytes alone), and the first stages of the first
way on their own, each against the range query. With `--alternatives`, other ways to read the
events' data (as text, as json, json_to_record) and what verification carrying proven facts
forward would still pay per run (every decision's stored row and reviews hashed).

Example:
    python tests/benchmarks/verify_parts.py --tenant bench-07 \\
        --database-url postgresql://postgres@127.0.0.1:5432/aval_bench
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aval.audit_store import digests, verify_facts  # noqa: E402
from tests.benchmarks.propose_vs_echo import _cpu_seconds  # noqa: E402

RANGE = 10_000
_WHERE = "e.tenant_id = %(tenant)s AND e.seq >= %(start)s AND e.seq < %(end)s"
# What every variant does: read the range's rows in order and sum up the chain.
_SCAN = """SELECT count(*), string_agg(int8send(seq), ''), string_agg(prev_hash, ''),
    string_agg(hash, ''){extra}
FROM (SELECT e.*, position('{state}'::bytea IN e.canonical) AS state_at,
             position('{version}'::bytea IN e.canonical) AS version_at
      FROM audit_events e WHERE {where} ORDER BY e.seq OFFSET 0) e"""

PARTS = {
    "chain hash": ", bool_and(hash = sha256(prev_hash || int8send(seq) || canonical))",
    "Merkle leaf": ", string_agg(sha256('\\x00'::bytea || canonical), '')",
    "expected head": f", bool_and(substr(canonical, 1, 40) = {digests._HEAD})",
    "expected tail": f", bool_and(substr(canonical, 1, 40) = {digests._TAIL})",
    "state records": f", {digests._STATES}",
}


def _run(conn: psycopg.Connection, query: str, tenant: str, bounds: tuple[int, int]) -> float:
    """Backend CPU seconds per event for one pass over the tenant's events."""
    pid, events = conn.info.backend_pid, 0
    before = _cpu_seconds(pid)
    for start in range(bounds[0], bounds[1] + 1, RANGE):
        cur = conn.cursor(binary=True)
        cur.execute(query, {"tenant": tenant, "start": start, "end": start + RANGE})
        row = cur.fetchone()
        events += row[0] if row else 0
    return (_cpu_seconds(pid) - before) / max(events, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", required=True, help="the database generate_trail.py filled"
    )
    parser.add_argument("--tenant", default="bench-01")
    parser.add_argument("--runs", type=int, default=3, help="passes per query; the best counts")
    parser.add_argument(
        "--alternatives",
        action="store_true",
        help="also time other ways to read the events' data, and what verification carrying "
        "proven facts forward would still pay (each decision's stored row hashed)",
    )
    args = parser.parse_args()
    with psycopg.connect(args.database_url, options="-c search_path=aval") as conn:
        row = conn.execute(
            "SELECT min(seq), max(seq) FROM audit_events WHERE tenant_id = %s", (args.tenant,)
        ).fetchone()
        if row is None or row[0] is None:
            sys.exit(f"no events for tenant {args.tenant}: run generate_trail.py first")
        bounds = (int(row[0]), int(row[1]))
        scan = _SCAN.format(
            where=_WHERE, state=digests._STATE_KEY, version=digests._VERSION_KEY, extra="{extra}"
        )
        queries = {
            "whole range query": digests._RANGE_WITH_LEAVES,
            "scan only": scan.format(extra=""),
        }
        queries |= {f"scan + {name}": scan.format(extra=part) for name, part in PARTS.items()}
        print(f"{args.tenant}: {bounds[1] - bounds[0] + 1:,} events, ranges of {RANGE:,}")
        started = time.perf_counter()
        whole = 0.0
        for name, query in queries.items():
            cost = min(_run(conn, query, args.tenant, bounds) for _ in range(args.runs))
            whole = whole or cost
            print(f"  {name:24s} {cost * 1e6:5.2f} µs/event  {cost / whole:6.1%} of the whole")
        print(f"facts of {args.tenant}'s decisions, per event of the tenant:")
        conn.execute("SET jit = off")
        conn.execute("SET work_mem = '64MB'")
        conn.execute("SET max_parallel_workers_per_gather = 0")
        events = bounds[1] - bounds[0] + 1
        for name, query in _facts_parts().items():
            cost = min(_run_facts(conn, query, args.tenant, events) for _ in range(args.runs))
            print(
                f"  {name:36s} {cost * 1e6:5.2f} µs/event  {cost / whole:6.1%} of the range query"
            )
        if args.alternatives:
            print(f"other ways, per event of {args.tenant}:")
            for name, query in _alternatives().items():
                cost = min(_run_facts(conn, query, args.tenant, events) for _ in range(args.runs))
                print(
                    f"  {name:36s} {cost * 1e6:5.2f} µs/event"
                    f"  {cost / whole:6.1%} of the range query"
                )
        print(f"({time.perf_counter() - started:.0f} s)")


_WHOLE_RANGE = {
    "tenant": "",
    "low": "00000000-0000-0000-0000-000000000000",
    "high": "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "ids": [],
    "states": [],
}


def _facts_parts() -> dict[str, str]:
    """The facts queries, and the first stages of the one from the columns (each stage's
    output read whole, so that nothing is left out of the plan)."""
    columns = verify_facts._FROM_COLUMNS

    def upto(stage: str, consume: str) -> str:
        return columns.split(f"), {stage} AS (")[0] + f") SELECT count(*) FROM {consume}"

    said = "said s WHERE s IS NULL"
    return {
        "events read, data parsed": upto("ev", said),
        "+ verdicts joined with stored reviews": upto("trail", "ev s WHERE s IS NULL"),
        "+ grouped by decision": upto("stored_reviews", "trail s WHERE s IS NULL"),
        "whole facts check, from the columns": columns,
        "whole facts check, from the bytes": verify_facts._FROM_BYTES,
    }


def _alternatives() -> dict[str, str]:
    """Reading the decision events' data other ways than the facts check does (parsed as
    jsonb, values taken out), each read whole; and the stored rows hashed, as a verification
    that carried proven facts forward from an earlier run would still do for every decision
    (docs/trail_facts.md)."""
    kinds, data_kinds = verify_facts._KINDS, verify_facts._DATA_KINDS
    where = f"{verify_facts._RANGE} AND e.kind IN ({kinds})"
    as_json = verify_facts.DATA.replace("::jsonb", "::json")
    as_text = verify_facts.DATA.replace("::jsonb", "")
    data = f"CASE WHEN e.kind IN ({data_kinds}) THEN {{}} END"
    keys = (
        "d->>'verdict', d->'amended_output', d->'reviewer_roles', d->>'justification',"
        " d->>'claimed_by', d->>'claim_expires_at', d->'outcome'"
    )

    def whole(select: str, source: str = "audit_events e") -> str:
        read = f"SELECT {select} FROM {source} WHERE {where} OFFSET 0"
        return f"SELECT count(*) FROM ({read}) x WHERE x IS NULL"

    parsed = (
        "audit_events e CROSS JOIN LATERAL"
        f" (SELECT {data.format(verify_facts.DATA)} AS d OFFSET 0) y"
    )
    record = (
        f"audit_events e CROSS JOIN LATERAL json_to_record({data.format(as_json)}) AS r("
        "verdict text, amended_output jsonb, reviewer_roles jsonb, justification text,"
        " claimed_by text, claim_expires_at text, outcome jsonb)"
    )
    stored = "FROM decisions d WHERE d.tenant_id = %(tenant)s"
    return {
        "columns read, no data": whole("e.decision_id, e.seq, e.kind, e.actor_id"),
        "data cut out as text": whole(f"e.decision_id, e.seq, {data.format(as_text)}"),
        "data parsed as json (checked only)": whole(
            f"e.decision_id, e.seq, {data.format(as_json)}"
        ),
        "data parsed as jsonb": whole(f"e.decision_id, e.seq, {data.format(verify_facts.DATA)}"),
        "jsonb, values taken out": whole(f"e.decision_id, e.seq, {keys}", parsed),
        "json_to_record, values taken out": whole("e.decision_id, e.seq, r.*", record),
        "stored rows hashed (carried forward)": (
            "SELECT count(*) FROM (SELECT d.id, sha256(convert_to(d::text, 'UTF8')),"
            " (SELECT sha256(convert_to(string_agg(r::text, ',' ORDER BY r.reviewer_id),"
            " 'UTF8')) FROM reviews r WHERE r.tenant_id = d.tenant_id AND r.decision_id = d.id)"
            f" {stored} OFFSET 0) x WHERE x IS NULL"
        ),
    }


def _run_facts(conn: psycopg.Connection, query: str, tenant: str, events: int) -> float:
    """Backend CPU seconds per event of the tenant for one run of a facts query."""
    pid = conn.info.backend_pid
    before = _cpu_seconds(pid)
    conn.execute(query, _WHOLE_RANGE | {"tenant": tenant}).fetchall()
    return (_cpu_seconds(pid) - before) / max(events, 1)


if __name__ == "__main__":
    main()
