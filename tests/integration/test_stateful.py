"""Random histories of proposals, claims and verdicts by random principals keep I1 and I2."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from aval.audit_store import Store, decisions, trail, verify
from aval.audit_store.errors import DecisionNotFound
from aval.audit_store.group_commit import ProposalWriter
from aval.audit_store.records import Decision, DecisionState, Verdict
from aval.policies import load_policy_dir
from aval.service import proposals, reviewing
from aval.service.authorization import Authorizer
from aval.service.deployment import Deployment
from aval.service.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
)
from aval.service.identity import Principal, TokenAuthenticator, load_principals
from aval.service.requests import ClaimIn, DecideIn, ProposeIn
from aval.service.settings import Settings

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
PROPOSERS_A = frozenset({"app-a", "appsup-a"})  # hold the application role in ville-a
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
REFUSED_PROPOSERS = [
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
def running_world(database_url: str, config_dir: Path) -> Iterator[World]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="aval-stateful-loop", daemon=True)
    thread.start()
    loaded = load_principals(config_dir / "principals.yaml")

    async def build() -> Deployment:
        store = Store(database_url, min_size=1, max_size=2)
        await store.open()
        writer = ProposalWriter(store)
        writer.start()
        return Deployment(
            settings=Settings(database_url=database_url, max_payload_bytes=4096),
            store=store,
            policies=load_policy_dir(config_dir / "policies"),
            authenticator=TokenAuthenticator(loaded),
            authorizer=Authorizer([p for p, _ in loaded]),
            # Only WatchDecision uses the listener; propose, claim and decide never do, and a
            # None fails loudly if that ever changes.
            listener=None,  # type: ignore[arg-type]
            writer=writer,
        )

    async def close(deployment: Deployment) -> None:
        await deployment.writer.stop()
        await deployment.store.close()

    world = World(
        loop,
        asyncio.run_coroutine_threadsafe(build(), loop).result(60),
        {p.id: p for p, _ in loaded},
    )
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


class HistoryMachine(RuleBasedStateMachine):
    """Proposals, claims and verdicts by anyone, checked against a model after every step."""

    world: World  # bound by the test
    proposed = Bundle("proposed")

    def __init__(self) -> None:
        super().__init__()
        self.model: dict[uuid.UUID, Expected] = {}
        self.final_seen: dict[uuid.UUID, tuple[DecisionState, int, Any]] = {}
        self.events_written = 0
        self.start_heads = self.world.run(self._heads())

    # -- helpers ------------------------------------------------------------------------------

    async def _heads(self) -> tuple[int, int]:
        async with self.world.deployment.store.reading() as conn:
            return await head_seq(conn, TENANT), await head_seq(conn, OTHER_TENANT)

    def _attempt(self, coro: Coroutine[Any, Any, T]) -> tuple[T | None, Exception | None]:
        try:
            return self.world.run(coro), None
        except (DomainError, DecisionNotFound) as exc:
            return None, exc

    @staticmethod
    def _expect(expected: Refusal | None, got: Exception | None, what: str) -> None:
        actual = None if got is None else refusal_of(got)
        assert actual == expected, (
            f"{what}: the model expected {expected or 'success'}, got {actual or 'success'}"
            + (f" ({got})" if got else "")
        )

    def _record(self, m: Expected, *events: tuple[str, str]) -> None:
        m.events.extend(events)
        self.events_written += len(events)

    def _refusal_to_act(self, m: Expected, pid: str, tenant: str) -> Refusal | None:
        """Why `pid` may not claim or decide `m` now, in the order the rules apply."""
        where = tenant or HOME[pid]
        if pid not in SUPERVISORS.get(where, frozenset()):
            return PermissionDenied, "PERMISSION_DENIED"  # no grant for the action there (I5)
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

    @staticmethod
    def _refusal_of_verdict(
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

    def _propose_request(self, decision_type: str, amount: int) -> ProposeIn:
        return ProposeIn.model_validate(
            {
                "tenant": TENANT,
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

    # -- rules --------------------------------------------------------------------------------

    @rule(
        target=proposed,
        proposer=st.sampled_from(["appsup-a", "appsup-a", "app-a"]),
        decision_type=st.sampled_from(sorted(RULES)),
        amount=st.integers(0, 50_000),
    )
    def propose(self, proposer: str, decision_type: str, amount: int) -> uuid.UUID:
        request = self._propose_request(decision_type, amount)
        result = self.world.run(
            proposals.propose(self.world.deployment, self.world.principals[proposer], request)
        )
        assert not result.replayed
        assert result.decision.state is DecisionState.PENDING_REVIEW
        assert request.attested_suggestion is not None
        m = Expected(
            result.decision.id,
            request,
            proposer,
            decision_type,
            dict(request.attested_suggestion.output),
        )
        self.model[m.id] = m
        self._record(m, ("decision.proposed", proposer))
        return m.id

    @rule(actor=st.sampled_from(REFUSED_PROPOSERS), decision_type=st.sampled_from(sorted(RULES)))
    def propose_without_the_right(self, actor: tuple[str, str], decision_type: str) -> None:
        pid, tenant = actor
        request = self._propose_request(decision_type, 1).model_copy(update={"tenant": tenant})
        _, got = self._attempt(
            proposals.propose(self.world.deployment, self.world.principals[pid], request)
        )
        self._expect((PermissionDenied, "PERMISSION_DENIED"), got, f"propose by {pid}@{tenant}")

    @rule()
    def propose_unknown_type(self) -> None:
        request = self._propose_request("inconnu.type", 1)
        _, got = self._attempt(
            proposals.propose(self.world.deployment, self.world.principals["app-a"], request)
        )
        self._expect((InvalidArgument, "decision_type"), got, "propose an unknown type")

    @rule(decision_id=proposed)
    def retry_proposal(self, decision_id: uuid.UUID) -> None:
        m = self.model[decision_id]
        result = self.world.run(
            proposals.propose(self.world.deployment, self.world.principals[m.proposer], m.request)
        )
        assert result.replayed and result.decision.id == m.id, "a retry must replay (I4)"
        assert result.decision.state is m.state

    @rule(decision_id=proposed)
    def reuse_key_for_another_body(self, decision_id: uuid.UUID) -> None:
        m = self.model[decision_id]
        changed = m.request.model_copy(update={"input": {"autre": 1}})
        _, got = self._attempt(
            proposals.propose(self.world.deployment, self.world.principals[m.proposer], changed)
        )
        self._expect((AlreadyExists, "IDEMPOTENCY_KEY_REUSED"), got, "reuse of a key")

    @rule(decision_id=proposed, actor=st.sampled_from(REVIEW_ACTORS))
    def claim(self, decision_id: uuid.UUID, actor: tuple[str, str]) -> None:
        m = self.model[decision_id]
        pid, tenant = actor
        expected = self._refusal_to_act(m, pid, tenant)
        _, got = self._attempt(
            reviewing.claim(
                self.world.deployment,
                self.world.principals[pid],
                ClaimIn(tenant=tenant, decision_id=decision_id),
            )
        )
        self._expect(expected, got, f"claim by {pid}@{tenant or 'home'} on {m.decision_type}")
        if got is None:
            m.claimed_by = pid
            m.version += 1
            self._record(m, ("decision.claimed", pid))

    @rule(
        decision_id=proposed,
        actor=st.sampled_from(REVIEW_ACTORS),
        verdict=st.sampled_from(["approve", "amend", "reject"]),
        reason=st.sampled_from(["", "conforme au barème", "montant plafonné par délibération"]),
        output=OUTPUTS,
    )
    def well_formed_verdict(
        self,
        decision_id: uuid.UUID,
        actor: tuple[str, str],
        verdict: str,
        reason: str,
        output: dict[str, Any],
    ) -> None:
        justification = reason or ("" if verdict == "approve" else "motif")
        self._decide(
            decision_id, actor, verdict, justification, output if verdict == "amend" else None
        )

    @rule(
        decision_id=proposed,
        actor=st.sampled_from(REVIEW_ACTORS),
        verdict=st.sampled_from(["approve", "amend", "reject"]),
        justification=JUSTIFICATIONS,
        output=st.one_of(st.none(), st.just({}), OUTPUTS),
    )
    def any_verdict(
        self,
        decision_id: uuid.UUID,
        actor: tuple[str, str],
        verdict: str,
        justification: str,
        output: dict[str, Any] | None,
    ) -> None:
        self._decide(decision_id, actor, verdict, justification, output)

    def _decide(
        self,
        decision_id: uuid.UUID,
        actor: tuple[str, str],
        verdict: str,
        justification: str,
        output: dict[str, Any] | None,
    ) -> None:
        m = self.model[decision_id]
        pid, tenant = actor
        expected = self._refusal_to_act(m, pid, tenant) or self._refusal_of_verdict(
            m, verdict, justification, output
        )
        request = DecideIn.model_validate(
            {
                "tenant": tenant,
                "decision_id": decision_id,
                "verdict": f"VERDICT_{verdict.upper()}",
                "justification": justification,
                "amended_output": output,
            }
        )
        _, got = self._attempt(
            reviewing.decide(self.world.deployment, self.world.principals[pid], request)
        )
        self._expect(
            expected,
            got,
            f"{verdict} by {pid}@{tenant or 'home'} on {m.decision_type}"
            f" (justification={justification!r}, output={output!r})",
        )
        if got is not None:
            return
        kind = Verdict(verdict.upper())
        m.reviews.append((pid, kind, output))
        if kind is Verdict.REJECT:
            m.rejections += 1
        else:
            m.approvals += 1
            if kind is Verdict.AMEND:
                assert output is not None
                m.pending_output = output
        if m.claimed_by == pid:
            m.claimed_by = None
        m.version += 1
        self._record(m, ("review.recorded", pid))
        if m.rejections >= 1:
            m.state = DecisionState.REJECTED
        elif m.approvals >= m.rules.required_approvals:
            amended = any(r[1] is Verdict.AMEND for r in m.reviews)
            m.state = DecisionState.AMENDED if amended else DecisionState.APPROVED
            m.outcome = m.pending_output
        if m.state.is_final:
            self._record(m, ("decision.finalized", pid))

    # -- checks after every step --------------------------------------------------------------

    async def _read(
        self,
    ) -> tuple[dict[uuid.UUID, tuple[Decision, list[tuple[str, str]]]], tuple[int, int]]:
        found = {}
        async with self.world.deployment.store.reading() as conn:
            for decision_id in self.model:
                d = await decisions.get(conn, TENANT, decision_id)
                events = await trail.query_events(
                    conn,
                    trail.EventFilter(TENANT, decision_id=decision_id),
                    after_seq=0,
                    limit=1000,
                )
                found[decision_id] = (d, [(e.kind, e.actor_id) for e in events])
            heads = await head_seq(conn, TENANT), await head_seq(conn, OTHER_TENANT)
        return found, heads

    def _check_i1(self, d: Decision) -> None:
        """I1 read from the store alone: quorum of distinct, authorised, non-proposer humans."""
        policy = self.world.deployment.policies.get(TENANT, d.decision_type)
        assert policy is not None
        assert d.required_approvals == policy.required_approvals >= 1
        reviewers = [r.reviewer_id for r in d.reviews]
        assert len(reviewers) == len(set(reviewers)), f"a reviewer counted twice: {reviewers}"
        for r in d.reviews:
            assert r.reviewer_id != d.proposer_id, f"{d.id}: reviewed by its proposer (I1)"
            assert "supervisor" in self.world.principals[r.reviewer_id].roles_in(TENANT), (
                f"{d.id}: {r.reviewer_id} is no supervisor of {TENANT}"
            )
            assert "supervisor" in r.reviewer_roles
        approvers = {r.reviewer_id for r in d.reviews if r.verdict is not Verdict.REJECT}
        rejecters = {r.reviewer_id for r in d.reviews if r.verdict is Verdict.REJECT}
        assert (d.approvals, d.rejections) == (len(approvers), len(rejecters))
        if d.state in (DecisionState.APPROVED, DecisionState.AMENDED):
            assert len(approvers) >= policy.required_approvals, (
                f"{d.id} is {d.state} with approvers {sorted(approvers)} (I1)"
            )
            assert not rejecters and d.outcome is not None
            amended = any(r.verdict is Verdict.AMEND for r in d.reviews)
            assert (d.state is DecisionState.AMENDED) == amended
        else:
            assert d.outcome is None, f"{d.id} is {d.state} yet has an outcome (I1)"
        if d.state is DecisionState.REJECTED:
            assert len(rejecters) >= d.rejections_to_close
        if d.state is DecisionState.PENDING_REVIEW:
            assert len(approvers) < policy.required_approvals and len(rejecters) < 1
        before = self.final_seen.get(d.id)
        now = (d.state, d.version, d.outcome)
        assert before is None or before == now, f"{d.id} left its final state: {before} -> {now}"
        if d.state.is_final:
            self.final_seen[d.id] = now

    @invariant()
    def store_matches_the_model(self) -> None:
        found, heads = self.world.run(self._read())
        for decision_id, (d, events) in found.items():
            m = self.model[decision_id]
            self._check_i1(d)
            where = f"decision {decision_id} ({m.decision_type}, proposed by {m.proposer})"
            assert d.state is m.state, f"{where}: store {d.state}, model {m.state}"
            assert d.proposer_id == m.proposer
            stored = sorted(
                ((r.reviewer_id, r.verdict, r.amended_output) for r in d.reviews),
                key=lambda r: r[0],
            )
            assert stored == sorted(m.reviews, key=lambda r: r[0]), f"{where}: reviews"
            assert d.outcome == m.outcome, f"{where}: outcome {d.outcome} != {m.outcome}"
            assert d.claimed_by == m.claimed_by, f"{where}: claim {d.claimed_by}"
            assert d.version == m.version, f"{where}: version {d.version} != {m.version}"
            # I2: exactly the events of the accepted changes, nothing for refused ones.
            assert events == m.events, f"{where}: trail {events} != model {m.events}"
        # I2 across the tenant: no event appended outside the modelled changes, none elsewhere.
        assert heads[0] - self.start_heads[0] == self.events_written, (
            f"{TENANT} trail grew by {heads[0] - self.start_heads[0]}, "
            f"expected {self.events_written}"
        )
        assert heads[1] == self.start_heads[1], f"{OTHER_TENANT} trail changed"

    def teardown(self) -> None:
        async def verify_a() -> verify.Report:
            async with self.world.deployment.store.reading() as conn:
                return await verify.verify_tenant(conn, TENANT)

        report = self.world.run(verify_a())
        assert report.ok, report.problems


def test_random_histories_keep_I1_and_I2(
    database_url: str, config_dir: Path, principals: dict[str, Principal]
) -> None:
    with running_world(database_url, config_dir) as world:
        assert set(principals) >= set(HOME)
        for decision_type, rules in RULES.items():  # the model's rules are the loaded ones
            policy = world.deployment.policies.get(TENANT, decision_type)
            assert policy is not None and policy.eligible_roles == ("supervisor",)
            assert (
                policy.required_approvals,
                policy.justification_required_for,
                policy.allow_amend,
                policy.rejections_to_close,
            ) == (rules.required_approvals, rules.justification_for, rules.allow_amend, 1)

        class Machine(HistoryMachine):
            pass

        Machine.world = world
        run_state_machine_as_test(
            Machine,
            settings=settings(
                max_examples=25,
                stateful_step_count=15,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
