"""The calls the query and verification benchmark times (QueryEvents mixes, VerifyChain,
VerifyTrail, checkpoints), the CPU they cost, and the server's configuration."""

from __future__ import annotations

import os
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import yaml

from aval.service.identity import token_hash
from aval.v1 import audit_pb2, audit_pb2_grpc, common_pb2
from tests.benchmarks.trail_writer import RARE_VERSION, TYPES, VERSIONS

TOKEN = "bench-token-insp-pool"
KINDS = ["decision.proposed", "decision.claimed", "review.recorded", "decision.finalized"]
VERDICTS = [common_pb2.VERDICT_APPROVE, common_pb2.VERDICT_AMEND, common_pb2.VERDICT_REJECT]
Request = audit_pb2.QueryEventsRequest


def write_config(folder: Path, tenants: list[str]) -> dict[str, str]:
    """Policies for the generated tenants, and a pooled inspector granted all of them."""
    policies = folder / "bench-policies"
    policies.mkdir(parents=True, exist_ok=True)
    for tenant in tenants:
        types = {name: {"purpose": f"banc d'essai {name}"} for name in TYPES}
        spec = {
            "tenant": tenant,
            "preset": "cautious_trial",
            "contact": f"Mairie {tenant}",
            "decision_types": types,
        }
        (policies / f"{tenant}.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    inspector = {
        "id": "insp-pool",
        "tenant": tenants[0],
        "roles": ["inspector"],
        "grants": [{"tenant": t, "roles": ["inspector"]} for t in tenants[1:]],
        "token_sha256": token_hash(TOKEN),
    }
    principals = folder / "bench-principals.yaml"
    principals.write_text(yaml.safe_dump({"principals": [inspector]}), encoding="utf-8")
    return {"AVAL_POLICY_DIR": str(policies), "AVAL_PRINCIPALS_FILE": str(principals)}


class Mix:
    """Random filtered queries over the generated tenants, with values that exist in them."""

    def __init__(self, url: str, rng: random.Random) -> None:
        self.rng = rng
        with psycopg.connect(url) as conn:
            heads = conn.execute("SELECT tenant_id, seq FROM aval.chain_heads ORDER BY 1")
            self.tenants = [row[0] for row in heads]
            span = conn.execute(  # the trails' year, without the server's later expirations
                "SELECT percentile_disc(0.001) WITHIN GROUP (ORDER BY occurred_at), "
                "percentile_disc(0.999) WITHIN GROUP (ORDER BY occurred_at) "
                "FROM aval.audit_events TABLESAMPLE SYSTEM (0.1)"
            )
            self.start, self.end = span.fetchone() or (None, None)
            if self.start is None:  # a trail too small for a 0.1 % sample
                whole = conn.execute(
                    "SELECT min(occurred_at), max(occurred_at) FROM aval.audit_events"
                )
                self.start, self.end = whole.fetchone() or (datetime.now(UTC), datetime.now(UTC))
            sample = conn.execute(
                "SELECT tenant_id, id FROM aval.decisions TABLESAMPLE SYSTEM (0.1) LIMIT 200"
            )
            self.decisions = [(row[0], str(row[1])) for row in sample]
            actors = conn.execute(
                "SELECT DISTINCT tenant_id, actor_id FROM aval.audit_events "
                "TABLESAMPLE SYSTEM (0.1) WHERE actor_type = 'human'"
            )
            self.reviewers = [(row[0], row[1]) for row in actors]

    def _tenant(self) -> str:
        return self.rng.choice(self.tenants)

    def _some(self, n: int) -> list[str]:
        return sorted(self.rng.sample(self.tenants, min(n, len(self.tenants))))

    def _moment(self) -> datetime:
        seconds = (self.end - self.start).total_seconds()
        return self.start + timedelta(seconds=self.rng.uniform(0, seconds))

    def _window(self, days: float) -> tuple[datetime, datetime]:
        since = self._moment()
        return since, since + timedelta(days=days)

    def _timed(self, request: Request, since: datetime, until: datetime | None) -> Request:
        request.since.FromDatetime(since)
        if until is not None:
            request.until.FromDatetime(until)
        return request

    def templates(self) -> dict[str, Callable[[], Request]]:
        """Each kind of query of the mix, by name."""
        r = self.rng
        types, systems = list(TYPES), sorted({s for s, _ in TYPES.values()})

        def reviewer() -> Request:
            tenant, actor = r.choice(self.reviewers)
            return Request(tenant=tenant, reviewer=actor)

        def decision() -> Request:
            tenant, decision_id = r.choice(self.decisions)
            return Request(tenant=tenant, decision_id=decision_id)

        def combined() -> Request:
            request = Request(
                tenants=self._some(10), decision_type=r.choice(types), verdict=VERDICTS[2]
            )
            return self._timed(request, self._moment(), None)

        return {
            "one tenant": lambda: Request(tenant=self._tenant()),
            "all tenants": lambda: Request(tenants=self.tenants),
            "kind": lambda: Request(tenant=self._tenant(), kind=r.choice(KINDS)),
            "decision": decision,
            "reviewer": reviewer,
            "verdict, all tenants": lambda: Request(
                tenants=self.tenants, verdict=r.choice(VERDICTS)
            ),
            "type": lambda: Request(tenant=self._tenant(), decision_type=r.choice(types)),
            "type, all tenants": lambda: Request(
                tenants=self.tenants, decision_type=r.choice(types)
            ),
            "AI system": lambda: Request(tenant=self._tenant(), ai_system=r.choice(systems)),
            "AI system and version, 10 tenants": lambda: Request(
                tenants=self._some(10),
                ai_system=r.choice(systems),
                model_version=r.choice(VERSIONS),
            ),
            "rare version, all tenants": lambda: Request(
                tenants=self.tenants, model_version=RARE_VERSION
            ),
            "overrode": lambda: Request(tenant=self._tenant(), overrode=True),
            "not overrode, 5 tenants": lambda: Request(tenants=self._some(5), overrode=False),
            "week": lambda: self._timed(Request(tenant=self._tenant()), *self._window(7)),
            "month, all tenants": lambda: self._timed(
                Request(tenants=self.tenants), *self._window(30)
            ),
            "since, reviews": lambda: self._timed(
                Request(tenant=self._tenant(), kind="review.recorded"), self._moment(), None
            ),
            "type + reject + since, 10 tenants": combined,
            "reviewer + overrode": lambda: Request(
                tenant=(pick := r.choice(self.reviewers))[0], reviewer=pick[1], overrode=True
            ),
        }


def percentiles(values: list[float]) -> str:
    if len(values) < 2:
        return f"n={len(values)}"
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return f"n={len(values):4d}  p50 {cuts[49]:6.1f}  p95 {cuts[94]:6.1f}  p99 {cuts[98]:6.1f} ms"


def run_mix(stub: audit_pb2_grpc.AuditStub, mix: Mix, pages: int, rng: random.Random) -> None:
    """Sends `pages` pages of 100 (first pages and further ones) and prints their latencies."""
    metadata = (("authorization", f"Bearer {TOKEN}"),)
    templates = mix.templates()
    calls: dict[str, list[float]] = defaultdict(list)
    hundreds: dict[str, list[float]] = defaultdict(list)
    short = events_total = 0
    done = 0
    while done < pages:
        name = rng.choice(list(templates))
        request = templates[name]()
        request.page_size = 100
        for _ in range(rng.choice([1, 1, 2, 4])):  # a first page, sometimes a few more
            got, spent = 0, 0.0
            while True:  # the calls it takes to get 100 events (or the end)
                began = time.perf_counter()
                reply = stub.QueryEvents(request, metadata=metadata, timeout=60)
                ms = (time.perf_counter() - began) * 1000
                calls[name].append(ms)
                got, spent = got + len(reply.events), spent + ms
                short += len(reply.events) < 100 and bool(reply.next_page_token)
                request.page_token = reply.next_page_token
                if got >= 100 or not reply.next_page_token:
                    break
            hundreds[name].append(spent)
            events_total += got
            done += 1
            if not request.page_token or done >= pages:
                break
    every = [ms for values in calls.values() for ms in values]
    print(f"QueryEvents, {len(every)} calls, {events_total:,} events, {short} short pages")
    for name in templates:
        print(f"  {name:36s} {percentiles(calls[name])}")
    print(f"  {'ALL CALLS':36s} {percentiles(every)}")
    pooled = [ms for values in hundreds.values() for ms in values]
    print(f"  {'ALL PAGES OF 100 (calls summed)':36s} {percentiles(pooled)}", flush=True)


def first_time_queries(stub: audit_pb2_grpc.AuditStub, mix: Mix) -> None:
    """A time-filtered page of each tenant, the first of the server process: it summarises the
    tenant's times by block of sequence numbers (kept for the process's life) before reading.
    """
    metadata = (("authorization", f"Bearer {TOKEN}"),)
    spent = []
    for tenant in mix.tenants:
        request = mix._timed(Request(tenant=tenant, page_size=100), *mix._window(7))
        began = time.perf_counter()
        stub.QueryEvents(request, metadata=metadata, timeout=60)
        spent.append((time.perf_counter() - began) * 1000)
    print(f"First time-filtered page of each tenant (cold):  {percentiles(spent)}", flush=True)


def _cpu_seconds(pid: int) -> float | None:
    """User and system CPU seconds of a process of this machine, or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds spent by the aval server process and the database's PostgreSQL backends."""

    def __init__(self, url: str, server_pid: int) -> None:
        self.url, self.server_pid = url, server_pid
        self.before: dict[int, float] = {}
        self.server_before: float | None = None

    def _backends(self) -> dict[int, float]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
        found = {row[0]: _cpu_seconds(row[0]) for row in rows}
        return {pid: cpu for pid, cpu in found.items() if cpu is not None}

    def start(self) -> None:
        self.before = self._backends()
        self.server_before = _cpu_seconds(self.server_pid)

    def stop(self, events: int) -> str:
        after = self._backends()
        server_after = _cpu_seconds(self.server_pid)
        if not after or server_after is None or self.server_before is None:
            return "CPU: not measurable (PostgreSQL is not on this machine)"
        backends = sum(cpu - self.before.get(pid, 0.0) for pid, cpu in after.items())
        server = server_after - self.server_before
        per_event = (backends + server) / max(events, 1) * 1e6
        return (
            f"CPU: aval server {server:.2f}s, PostgreSQL backends {backends:.2f}s "
            f"({per_event:.1f} us/event in all)"
        )


def run_verify(stub: audit_pb2_grpc.AuditStub, tenant: str, meter: CpuMeter) -> None:
    metadata = (("authorization", f"Bearer {TOKEN}"),)
    for attempt in (1, 2):
        meter.start()
        began = time.perf_counter()
        reply = stub.VerifyChain(
            audit_pb2.VerifyChainRequest(tenant=tenant), metadata=metadata, timeout=3600
        )
        seconds = time.perf_counter() - began
        print(
            f"VerifyChain {tenant} (run {attempt}): ok={reply.ok}, {reply.events_checked:,} events "
            f"and {reply.decisions_checked:,} decisions, {reply.checkpoints_checked} checkpoints"
            f" in {seconds:.2f}s: {reply.events_checked / seconds:,.0f} events/s; "
            f"{meter.stop(reply.events_checked)}",
            flush=True,
        )
        for problem in reply.problems[:5]:
            print(f"  {problem.kind} seq {problem.seq}: {problem.detail}")
    meter.start()
    began = time.perf_counter()
    updates = 0
    report = None
    for update in stub.VerifyTrail(
        audit_pb2.VerifyTrailRequest(tenant=tenant), metadata=metadata, timeout=3600
    ):
        if update.HasField("progress"):
            updates += 1
        else:
            report = update.report
    seconds = time.perf_counter() - began
    assert report is not None
    print(
        f"VerifyTrail {tenant}: ok={report.ok}, {report.events_checked:,} events in "
        f"{seconds:.2f}s with {updates} progress messages: "
        f"{report.events_checked / seconds:,.0f} events/s; {meter.stop(report.events_checked)}",
        flush=True,
    )


def run_verify_all(stub: audit_pb2_grpc.AuditStub, tenants: list[str], meter: CpuMeter) -> None:
    """Verifies every tenant once, one after the other: the whole trail, each page read once."""
    metadata = (("authorization", f"Bearer {TOKEN}"),)
    meter.start()
    rates, events, seconds, problems = [], 0, 0.0, 0
    for tenant in tenants:
        began = time.perf_counter()
        reply = stub.VerifyChain(
            audit_pb2.VerifyChainRequest(tenant=tenant), metadata=metadata, timeout=3600
        )
        took = time.perf_counter() - began
        events, seconds = events + reply.events_checked, seconds + took
        problems += len(reply.problems)
        rates.append(reply.events_checked / took)
        print(f"  {tenant}: {reply.events_checked:,} events, {rates[-1]:,.0f} events/s", flush=True)
    print(
        f"VerifyChain of all {len(tenants)} tenants once: {events:,} events in {seconds:.1f}s, "
        f"{events / seconds:,.0f} events/s (per tenant: min {min(rates):,.0f}, "
        f"median {statistics.median(rates):,.0f}, max {max(rates):,.0f}); {problems} problems; "
        f"{meter.stop(events)}",
        flush=True,
    )


def sign_checkpoint(stub: audit_pb2_grpc.AuditStub, tenant: str) -> None:
    metadata = (("authorization", f"Bearer {TOKEN}"),)
    began = time.perf_counter()
    reply = stub.CreateCheckpoint(
        audit_pb2.CreateCheckpointRequest(tenant=tenant), metadata=metadata, timeout=3600
    )
    print(
        f"Checkpoint of {tenant} at tree size {reply.checkpoint.tree_size:,} "
        f"({time.perf_counter() - began:.1f}s)",
        flush=True,
    )
