"""The trail generator's machinery: each tenant's year of decisions, reviews and chained events,
written as the service would, loaded by COPY."""

from __future__ import annotations

import hashlib
import os
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from aval.audit_store.chain import NewEvent
from aval.audit_store.records import Actor, ActorType
from aval.verifier.chain import GENESIS_HASH, canonical_json, chain_hash, utc_iso

# Decision type -> (AI system, required approvals). Model versions change over the year.
TYPES = {
    "voirie.signalement": ("triage-signalements", 1),
    "aides.attribution": ("bareme-ccas", 2),
    "courrier.orientation": ("classif-courriers", 1),
    "etat_civil.verification": ("controle-pieces", 1),
    "urbanisme.pre_instruction": ("analyse-permis", 1),
}
TYPE_WEIGHTS = [40, 15, 30, 10, 5]
VERSIONS = ["2025.1", "2025.2", "2026.1"]
# A shadow version that suggests a few decisions only: the selective case of the benchmark.
RARE_VERSION, RARE_SHARE = "2026.2-rc", 0.005
REVIEWERS, APPLICATIONS, OPEN_DECISIONS = 20, 3, 32
EVENT_COLUMNS = (
    "tenant_id, seq, event_id, occurred_at, decision_id, kind, actor_id, actor_type, trace_id, "
    "schema_version, canonical, prev_hash, hash"
)
DECISION_COLUMNS = (
    "tenant_id, id, decision_type, subject_ref, state, input, input_sha256, suggestion, "
    "proposer_id, idempotency_key, request_sha256, policy_revision, required_approvals, "
    "rejections_to_close, approvals, rejections, pending_output, outcome, created_at, "
    "updated_at, deadline, finalized_at, claimed_by, claim_expires_at, trace_id, version"
)
CALL_COLUMNS = (
    "tenant_id, id, decision_id, decision_type, ai_system, model_version, role, status, detail, "
    "started_at, latency_ms, attempts, input_tokens, output_tokens, energy_mwh, cost_micro_eur, "
    "output"
)
REVIEW_COLUMNS = (
    "tenant_id, decision_id, reviewer_id, reviewer_roles, verdict, justification, "
    "amended_output, decided_at"
)
OUTPUTS = {name: {"service": name} for name in ("voirie", "eclairage", "proprete", "ccas")}
_OUTPUT_TEXT = {name: canonical_json(value).decode() for name, value in OUTPUTS.items()}


def tenant_name(index: int) -> str:
    return f"bench-{index:02d}"


def reviewer_name(tenant: int, index: int) -> str:
    return f"agent-{tenant:02d}-{index:02d}"


def _text(value: Any) -> str:
    """A value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bytes):
        return "\\\\x" + value.hex()
    if isinstance(value, dict):
        value = _OUTPUT_TEXT[value["service"]]
    text = str(value)  # a datetime as '2025-01-01 00:00:00.123456+00:00', which PostgreSQL reads
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = (
            text.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return text


def _row(values: list[Any]) -> str:
    return "\t".join(_text(v) for v in values) + "\n"


@dataclass
class Life:
    """One decision while its events are written: its row, and what remains to happen."""

    row: dict[str, Any]
    script: list[str]
    verdicts: list[str]
    reviewers: list[str]
    reviews: list[dict[str, Any]] = field(default_factory=list)


class TenantWriter:
    """Writes one tenant's trail: events to one COPY, decisions to another, reviews last."""

    def __init__(
        self, index: int, events: int, seed: int, span: timedelta, ai_calls: bool = False
    ) -> None:
        self.index, self.tenant, self.total = index, tenant_name(index), events
        # Whether each proposal asks its AI system (an ai.consulted event and an ai_calls row)
        self.ai_calls = ai_calls
        self.calls_out: list[str] = []
        self.rng = random.Random(seed * 1000 + index)
        # The trail ends about now, so that the decisions still pending are not yet overdue.
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        self.clock = today - span + timedelta(minutes=index)
        # About 27% of events are finalizations, written at the time of their last review.
        self.mean_gap = span.total_seconds() / max(events * 0.73, 1)
        self.seq, self.prev = 0, GENESIS_HASH
        self.created = 0
        self.events_out: list[str] = []
        self.decisions_out: list[str] = []
        self.reviews_out: list[str] = []
        self.reviewers = [reviewer_name(index, k) for k in range(REVIEWERS)]
        self.applications = [f"app-{index:02d}-{k}" for k in range(APPLICATIONS)]

    # -- one event --------------------------------------------------------------------------

    def _tick(self) -> datetime:
        """Moves time on to the next event (a random gap, a year over the whole trail)."""
        self.clock += timedelta(seconds=self.rng.expovariate(1.0) * self.mean_gap)
        return self.clock

    def _emit(self, kind: str, actor: Actor, life: Life, data: dict[str, Any]) -> None:
        """Appends one event at the current time, chained as append_audit_events would."""
        trace = life.row["trace_id"] if kind == "decision.proposed" else ""
        decision_id = life.row["id"]
        canonical = NewEvent(kind, actor, decision_id, data).canonical(
            self.tenant, self.clock, trace
        )
        at = canonical.rfind(b'"event_id":"') + 12
        event_id = canonical[at : at + 36].decode()
        self.seq += 1
        digest = chain_hash(self.prev, self.seq, canonical)
        self.events_out.append(
            f"{self.tenant}\t{self.seq}\t{event_id}\t{utc_iso(self.clock)}\t{decision_id}\t"
            f"{kind}\t{actor.id}\t{actor.type.value}\t{trace}\t1\t"
            f"\\\\x{canonical.hex()}\t\\\\x{self.prev.hex()}\t\\\\x{digest.hex()}\n"
        )
        self.prev = digest

    # -- a decision's life ------------------------------------------------------------------

    def _propose(self) -> Life:
        rng, now = self.rng, self._tick()
        decision_type = rng.choices(list(TYPES), TYPE_WEIGHTS)[0]
        system, required = TYPES[decision_type]
        progress = self.seq / max(self.total, 1)
        version = (
            RARE_VERSION
            if rng.random() < RARE_SHARE
            else VERSIONS[min(int(progress * len(VERSIONS)), len(VERSIONS) - 1)]
        )
        self.created += 1
        payload = {"dossier": self.created, "canal": rng.choice(["web", "guichet", "courrier"])}
        output = OUTPUTS[rng.choice(("voirie", "eclairage", "ccas"))]
        suggestion = {
            "output": output,
            "confidence": round(rng.uniform(0.5, 0.99), 2),
            "explanation": "termes: lampadaire (0.8), éteint (0.6)",
            "model": {"name": system, "version": version},
        }
        key = f"{self.tenant}-{self.created}"
        input_text = canonical_json(payload).decode()
        row: dict[str, Any] = {
            "tenant_id": self.tenant,
            "id": uuid.UUID(int=rng.getrandbits(128), version=4),
            "decision_type": decision_type,
            "subject_ref": f"usager:{rng.getrandbits(32):08x}",
            "state": "PENDING_REVIEW",
            "input": input_text,
            "input_sha256": hashlib.sha256(input_text.encode()).hexdigest(),
            "suggestion": canonical_json(suggestion).decode(),
            "proposer_id": rng.choice(self.applications),
            "idempotency_key": key,
            "request_sha256": hashlib.sha256(key.encode()).hexdigest(),
            "policy_revision": f"{self.tenant}:{decision_type}:r1",
            "required_approvals": required,
            "rejections_to_close": 1,
            "approvals": 0,
            "rejections": 0,
            "pending_output": output,
            "outcome": None,
            "created_at": now,
            "updated_at": now,
            "deadline": now + timedelta(days=30),
            "finalized_at": None,
            "claimed_by": None,
            "claim_expires_at": None,
            "trace_id": os.urandom(16).hex(),
            "version": 1,
        }
        verdicts: list[str] = []
        while len(verdicts) < required:
            verdict = rng.choices(["APPROVE", "AMEND", "REJECT"], [85, 8, 7])[0]
            verdicts.append(verdict)
            if verdict == "REJECT":
                break
        expires = rng.random() < 0.02
        if expires:
            verdicts = verdicts[: rng.randrange(len(verdicts))]
        script = []
        for _ in verdicts:
            if rng.random() < 0.4:
                script.append("claim")
            script.append("review")
        script.append("expire" if expires else "finalize")
        life = Life(row, script, verdicts, rng.sample(self.reviewers, len(verdicts)))
        data = {
            "decision_type": decision_type,
            "subject_ref": row["subject_ref"],
            "input_sha256": row["input_sha256"],
            "suggestion": suggestion,
            "idempotency_key": key,
            "policy_revision": row["policy_revision"],
            "required_approvals": required,
            "rejections_to_close": 1,
            "deadline": utc_iso(row["deadline"]),
            "decision_state": "PENDING_REVIEW",
            "decision_version": 1,
        }
        self._emit(
            "decision.proposed", Actor(row["proposer_id"], ActorType.APPLICATION), life, data
        )
        if self.ai_calls and self.seq < self.total - 1:
            self._consulted(life, system, version, output)
        return life

    def _consulted(self, life: Life, system: str, version: str, output: Any) -> None:
        """The call to the decision's AI system, as advice.py records it: event and row."""
        row, rng = life.row, self.rng
        call = {
            "tenant_id": self.tenant,
            "id": uuid.UUID(int=rng.getrandbits(128), version=4),
            "decision_id": row["id"],
            "decision_type": row["decision_type"],
            "ai_system": system,
            "model_version": version,
            "role": "PRIMARY",
            "status": "SUGGESTED",
            "detail": "",
            "started_at": self.clock - timedelta(milliseconds=rng.randrange(50, 900)),
            "latency_ms": rng.randrange(40, 800),
            "attempts": 1,
            "input_tokens": rng.randrange(200, 900),
            "output_tokens": rng.randrange(10, 60),
            "energy_mwh": rng.randrange(1, 30),
            "cost_micro_eur": rng.randrange(10, 400),
            "output": output,
        }
        data = {k: v for k, v in call.items() if k not in ("tenant_id", "id", "decision_id")}
        data |= {"call_id": str(call["id"]), "started_at": utc_iso(call["started_at"])}
        self._emit("ai.consulted", Actor("aval", ActorType.SYSTEM), life, data)
        self.calls_out.append(_row([call[c] for c in CALL_COLUMNS.split(", ")]))

    def _advance(self, life: Life) -> bool:
        """Writes the decision's next event; True once its life is over."""
        row, step, now = life.row, life.script.pop(0), self._tick()
        done = len(life.reviews)
        who = life.reviewers[done] if done < len(life.reviewers) else ""
        if step == "claim":
            row["claimed_by"] = who
            row["version"] += 1
            until = now + timedelta(minutes=15)
            data = {
                "claimed_by": who,
                "claim_expires_at": utc_iso(until),
                "decision_state": row["state"],
                "decision_version": row["version"],
            }
            self._emit("decision.claimed", Actor(who, ActorType.HUMAN), life, data)
            row["claim_expires_at"], row["updated_at"] = until, now
            return False
        if step == "review":
            return self._review(life, who)
        # expire (a finalize step is written with the last review)
        row["version"] += 1
        row["state"], row["claimed_by"], row["claim_expires_at"] = "EXPIRED", None, None
        data = {
            "deadline": utc_iso(row["deadline"]),
            "approvals": row["approvals"],
            "required_approvals": row["required_approvals"],
            "decision_state": "EXPIRED",
            "decision_version": row["version"],
        }
        self._emit("decision.expired", Actor("aval", ActorType.SYSTEM), life, data)
        row["finalized_at"] = row["updated_at"] = now
        return True

    def _review(self, life: Life, who: str) -> bool:
        row = life.row
        verdict = life.verdicts[len(life.reviews)]
        amended = OUTPUTS["proprete"] if verdict == "AMEND" else None
        if verdict == "REJECT":
            row["rejections"] += 1
        else:
            row["approvals"] += 1
            if amended is not None:
                row["pending_output"] = amended
        final = row["rejections"] >= 1 or row["approvals"] >= row["required_approvals"]
        if row["rejections"] >= 1:
            row["state"] = "REJECTED"
        elif final:
            amend = verdict == "AMEND" or any(r["verdict"] == "AMEND" for r in life.reviews)
            row["state"] = "AMENDED" if amend else "APPROVED"
            row["outcome"] = row["pending_output"]
        if row["claimed_by"] == who:
            row["claimed_by"], row["claim_expires_at"] = None, None
        row["version"] += 1
        justification = "" if verdict == "APPROVE" else "barème mal appliqué"
        review = {
            "verdict": verdict,
            "justification": justification,
            "amended_output": amended,
            "reviewer_roles": ["supervisor"],
            "approvals": row["approvals"],
            "rejections": row["rejections"],
            "decision_state": row["state"],
            "decision_version": row["version"],
        }
        actor = Actor(who, ActorType.HUMAN)
        self._emit("review.recorded", actor, life, review)
        life.reviews.append(
            {
                "reviewer_id": who,
                "verdict": verdict,
                "justification": justification,
                "amended_output": amended,
                "decided_at": self.clock,
            }
        )
        row["updated_at"] = self.clock
        if not final:
            return False
        row["finalized_at"] = self.clock
        reviews = life.reviews
        data = {
            "outcome": row["outcome"],
            "validators": [r["reviewer_id"] for r in reviews if r["verdict"] != "REJECT"],
            "rejected_by": [r["reviewer_id"] for r in reviews if r["verdict"] == "REJECT"],
            "policy_revision": row["policy_revision"],
            "decision_state": row["state"],
            "decision_version": row["version"],
        }
        # Same transaction as the review: same time, same version.
        self._emit("decision.finalized", actor, life, data)
        return True

    def _close(self, life: Life) -> None:
        row = life.row
        self.decisions_out.append(_row([row[c] for c in DECISION_COLUMNS.split(", ")]))
        for r in life.reviews:
            self.reviews_out.append(
                _row(
                    [
                        self.tenant,
                        row["id"],
                        r["reviewer_id"],
                        "{supervisor}",
                        r["verdict"],
                        r["justification"],
                        r["amended_output"],
                        r["decided_at"],
                    ]
                )
            )

    # -- the whole tenant -------------------------------------------------------------------

    def run(self, url: str, progress: Any) -> tuple[str, int]:
        """Generates and loads the tenant; returns its name and number of events."""
        with psycopg.connect(url) as events_conn, psycopg.connect(url) as decisions_conn:
            ecur, dcur = events_conn.cursor(), decisions_conn.cursor()
            with (
                ecur.copy(f"COPY aval.audit_events ({EVENT_COLUMNS}) FROM STDIN") as ecopy,
                dcur.copy(f"COPY aval.decisions ({DECISION_COLUMNS}) FROM STDIN") as dcopy,
            ):
                self._simulate(ecopy, dcopy, progress)
            with dcur.copy(f"COPY aval.reviews ({REVIEW_COLUMNS}) FROM STDIN") as rcopy:
                rcopy.write("".join(self.reviews_out))
            with dcur.copy(f"COPY aval.ai_calls ({CALL_COLUMNS}) FROM STDIN") as ccopy:
                ccopy.write("".join(self.calls_out))
            ecur.execute(
                "INSERT INTO aval.chain_heads (tenant_id, seq, hash) VALUES (%s, %s, %s)",
                (self.tenant, self.seq, self.prev),
            )
            decisions_conn.commit()
            events_conn.commit()
        return self.tenant, self.seq

    def _simulate(self, ecopy: Any, dcopy: Any, progress: Any) -> None:
        open_: list[Life] = []
        reported = 0
        while self.seq < self.total:
            # A last review may write two events (with the finalization): the last event of
            # the trail is a proposal, so that it holds exactly the number asked for.
            last = self.seq == self.total - 1
            full = len(open_) >= OPEN_DECISIONS
            if last or not open_ or (not full and self.rng.random() < 0.3):
                open_.append(self._propose())
            else:
                at = self.rng.randrange(len(open_))
                if self._advance(open_[at]):
                    self._close(open_.pop(at))
            if len(self.events_out) >= 2000:
                ecopy.write("".join(self.events_out))
                self.events_out.clear()
                dcopy.write("".join(self.decisions_out))
                self.decisions_out.clear()
                progress.put(self.seq - reported)
                reported = self.seq
        for life in open_:  # still in review when the trail ends
            self._close(life)
        ecopy.write("".join(self.events_out))
        dcopy.write("".join(self.decisions_out))
        progress.put(self.seq - reported)
