"""The model of the stateful test: what the preset's rules say a history must do, and a
deployment of its own to run it on."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import strategies as st

from aval.audit_store import Store, trail
from aval.audit_store.errors import DecisionNotFound
from aval.audit_store.group_commit import ProposalWriter
from aval.audit_store.records import DecisionState, Verdict
from aval.service.deployment import Deployment
from aval.service.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from aval.service.identity import Principal, load_principals
from aval.service.requests.decisions import ProposeIn
from tests.in_process import deployment_of

T = TypeVar("T")
TENANT = "ville-a"
OTHER_TENANT = "ville-b"


# ---------------------------------------------------------------------------------------------
# The model's own knowledge of the world (tests/support.py, preset cautious_trial), kept apart
# from the code under test on purpose; the test first checks it matches the loaded policies.


@dataclass(frozen=True)
class TypeRules:
    required_approvals: int
    justification_for: frozenset[str]
    allow_amend: bool


RULES = {
    "voirie.signalement": TypeRules(1, frozenset({"amend", "reject"}), allow_amend=True),
    "aides.attribution": TypeRules(2, frozenset({"amend", "reject"}), allow_amend=True),
    "sans.amendement": TypeRules(1, frozenset({"amend", "reject"}), allow_amend=False),
}
HOME = {
    "app-a": TENANT,
    "appsup-a": TENANT,
    "sup-a1": TENANT,
    "sup-a2": TENANT,
    "sup-a3": TENANT,
    "insp-a": TENANT,
    "sup-b": OTHER_TENANT,
}
# Who holds the application role, per tenant.
PROPOSERS = {TENANT: frozenset({"app-a", "appsup-a"}), OTHER_TENANT: frozenset()}
SUPERVISORS = {
    TENANT: frozenset({"appsup-a", "sup-a1", "sup-a2", "sup-a3"}),
    OTHER_TENANT: frozenset({"sup-b"}),
}

# (principal, tenant named in the request); "" means the caller's own tenant.
REVIEW_ACTORS = [
    ("sup-a1", ""),
    ("sup-a1", TENANT),
    ("sup-a2", ""),
    ("sup-a2", TENANT),
    ("sup-a3", ""),
    ("appsup-a", ""),
    ("appsup-a", TENANT),
    ("insp-a", ""),
    ("app-a", ""),
    ("sup-b", TENANT),
    ("sup-b", ""),
]
PROPOSE_ACTORS = [
    ("appsup-a", ""),
    ("appsup-a", TENANT),
    ("app-a", ""),
    ("appsup-a", ""),
    ("sup-a1", ""),
    ("insp-a", ""),
    ("sup-b", TENANT),
    ("sup-b", ""),
    ("app-a", OTHER_TENANT),
]

OUTPUTS = st.builds(
    lambda accord, amount: {"accord": accord, "montant_centimes": amount},
    st.booleans(),
    st.integers(0, 50_000),
)
JUSTIFICATIONS = st.sampled_from(["", "   ", "pièces vérifiées au guichet"])

# What a refusal is expected to be: the error class and its reason (for InvalidArgument, the
# fields it names, in order).
Refusal = tuple[type[Exception], str]


def refusal_of(exc: Exception) -> Refusal:
    if isinstance(exc, InvalidArgument):
        return type(exc), ",".join(v.field for v in exc.violations)
    return type(exc), getattr(exc, "reason", "")


@dataclass
class Expected:
    """What the model says one decision must look like in the store."""

    id: uuid.UUID
    request: ProposeIn
    proposer: str
    decision_type: str
    pending_output: dict[str, Any]
    state: DecisionState = DecisionState.PENDING_REVIEW
    reviews: list[tuple[str, Verdict, dict[str, Any] | None]] = field(default_factory=list)
    approvals: int = 0
    rejections: int = 0
    outcome: dict[str, Any] | None = None
    claimed_by: str | None = None
    version: int = 1
    events: list[tuple[str, str]] = field(default_factory=list)  # (kind, actor id)

    @property
    def rules(self) -> TypeRules:
        return RULES[self.decision_type]


# ---------------------------------------------------------------------------------------------
# A deployment of its own, on an event loop in a background thread: the rules are synchronous.


@dataclass
class World:
    loop: asyncio.AbstractEventLoop
    deployment: Deployment
    principals: dict[str, Principal]

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)


@contextlib.contextmanager
def running_world(
    database_url: str, config_dir: Path, principals: dict[str, Principal]
) -> Iterator[World]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="aval-stateful-loop", daemon=True)
    thread.start()
    loaded = load_principals(config_dir / "principals.yaml")

    async def build() -> Deployment:
        store = Store(database_url, min_size=1, max_size=2)
        await store.open()
        writer = ProposalWriter(store)
        writer.start()
        return deployment_of(
            store,
            database_url,
            loaded,
            config_dir,
            # Only WatchDecision uses the listener; propose, claim and decide never do, and a
            # None fails loudly if that ever changes.
            listener=None,  # type: ignore[arg-type]
            writer=writer,
        )

    async def close(deployment: Deployment) -> None:
        await deployment.writer.stop()
        await deployment.store.close()

    world = World(loop, asyncio.run_coroutine_threadsafe(build(), loop).result(60), principals)
    try:
        yield world
    finally:
        world.run(close(world.deployment))
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


async def head_seq(conn: Any, tenant: str) -> int:
    head = await trail.chain_head(conn, tenant)
    return 0 if head is None else head[0]


# ---------------------------------------------------------------------------------------------
# What the rules expect of one request, in the order they apply.


def expect(expected: Refusal | None, got: Exception | None, what: str) -> None:
    actual = None if got is None else refusal_of(got)
    assert actual == expected, (
        f"{what}: the model expected {expected or 'success'}, got {actual or 'success'}"
        + (f" ({got})" if got else "")
    )


def refusal_to_act(m: Expected, pid: str, tenant: str) -> Refusal | None:
    """Why `pid` may not claim or decide `m` now, in the order the rules apply."""
    where = tenant or HOME[pid]
    if pid not in SUPERVISORS.get(where, frozenset()):
        return PermissionDenied, "NOT_GRANTED"  # no grant for the action there (I5)
    if where != TENANT:
        return DecisionNotFound, ""  # its own tenant has no such decision
    if m.state.is_final:
        return FailedPrecondition, "DECISION_FINAL"
    if pid == m.proposer:
        return PermissionDenied, "PROPOSER_CANNOT_REVIEW"
    if any(r[0] == pid for r in m.reviews):
        return FailedPrecondition, "ALREADY_REVIEWED"
    if m.claimed_by not in (None, pid):
        return FailedPrecondition, "CLAIMED_BY_ANOTHER"
    return None


def refusal_of_verdict(
    m: Expected, verdict: str, justification: str, output: dict[str, Any] | None
) -> Refusal | None:
    fields = []
    if verdict in m.rules.justification_for and not justification.strip():
        fields.append("justification")
    if (verdict == "amend") != bool(output):
        fields.append("amended_output")
    if fields:
        return InvalidArgument, ",".join(fields)
    if verdict == "amend" and not m.rules.allow_amend:
        return FailedPrecondition, "AMEND_NOT_ALLOWED"
    return None


def refusal_to_propose(pid: str, tenant: str, decision_type: str) -> Refusal | None:
    if pid not in PROPOSERS.get(tenant or HOME[pid], frozenset()):
        return PermissionDenied, "NOT_GRANTED"
    if decision_type not in RULES:
        return InvalidArgument, "decision_type"
    return None


def propose_request(decision_type: str, amount: int, tenant: str) -> ProposeIn:
    return ProposeIn.model_validate(
        {
            "tenant": tenant,
            "decision_type": decision_type,
            "subject_ref": f"usager:{uuid.uuid4().hex[:8]}",
            "input": {"quotient_familial": amount, "demande": "aide cantine"},
            "idempotency_key": str(uuid.uuid4()),
            "attested_suggestion": {
                "output": {"accord": True, "montant_centimes": amount},
                "confidence": 0.8,
                "explanation": "barème",
                "model": {"name": "bareme-ccas", "version": "2026.1"},
            },
        }
    )
