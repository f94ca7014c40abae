"""Random histories of proposals, claims and verdicts by random principals keep I1 and I2."""

from __future__ import annotations

import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from aval.audit_store import decisions, trail, verify
from aval.audit_store.errors import DecisionNotFound
from aval.audit_store.records import Decision, DecisionState, Verdict
from aval.service.decisions import proposals, reviewing
from aval.service.errors import AlreadyExists, DomainError
from aval.service.identity import Principal
from aval.service.requests.decisions import ClaimIn, DecideIn

from .stateful_model import (
    HOME,
    JUSTIFICATIONS,
    OTHER_TENANT,
    OUTPUTS,
    PROPOSE_ACTORS,
    REVIEW_ACTORS,
    RULES,
    SUPERVISORS,
    TENANT,
    Expected,
    T,
    World,
    expect,
    head_seq,
    propose_request,
    refusal_of_verdict,
    refusal_to_act,
    refusal_to_propose,
    running_world,
)


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

    def _record(self, m: Expected, *events: tuple[str, str]) -> None:
        m.events.extend(events)
        self.events_written += len(events)

    # -- rules --------------------------------------------------------------------------------

    def _propose(self, pid: str, tenant: str, decision_type: str, amount: int) -> uuid.UUID | None:
        request = propose_request(decision_type, amount, tenant)
        expected = refusal_to_propose(pid, tenant, decision_type)
        result, got = self._attempt(
            proposals.propose(self.world.deployment, self.world.principals[pid], request)
        )
        expect(expected, got, f"propose {decision_type} by {pid}@{tenant or 'home'}")
        if result is None:
            return None
        assert not result.replayed
        assert result.decision.state is DecisionState.PENDING_REVIEW
        assert request.attested_suggestion is not None
        m = Expected(
            result.decision.id, request, pid, decision_type, request.attested_suggestion.output
        )
        self.model[m.id] = m
        self._record(m, ("decision.proposed", pid))
        return m.id

    @initialize(
        target=proposed,
        proposers=st.lists(st.sampled_from(["appsup-a", "app-a"]), min_size=3, max_size=3),
    )
    def one_proposal_of_each_type(self, proposers: list[str]) -> MultipleResults[uuid.UUID]:
        made = [self._propose(p, "", t, 640) for p, t in zip(proposers, sorted(RULES), strict=True)]
        assert None not in made
        return multiple(*[m for m in made if m is not None])

    # A few decisions at a time, so that histories go deep enough to reach their quorum.
    @precondition(lambda self: len(self.model) < 6)
    @rule(
        target=proposed,
        actor=st.sampled_from(PROPOSE_ACTORS),
        decision_type=st.sampled_from([*sorted(RULES), "inconnu.type"]),
        amount=st.integers(0, 50_000),
    )
    def propose(
        self, actor: tuple[str, str], decision_type: str, amount: int
    ) -> MultipleResults[uuid.UUID]:
        made = self._propose(*actor, decision_type, amount)
        return multiple() if made is None else multiple(made)

    @rule(decision_id=proposed, same_body=st.booleans())
    def retry_proposal(self, decision_id: uuid.UUID, same_body: bool) -> None:
        m = self.model[decision_id]
        request = m.request if same_body else m.request.model_copy(update={"input": {"autre": 1}})
        result, got = self._attempt(
            proposals.propose(self.world.deployment, self.world.principals[m.proposer], request)
        )
        if same_body:  # I4: the first decision, as it is now, and nothing written
            expect(None, got, "retry of a proposal")
            assert result is not None and result.replayed and result.decision.id == m.id
            assert result.decision.state is m.state and result.decision.version == m.version
        else:
            expect((AlreadyExists, "IDEMPOTENCY_KEY_REUSED"), got, "key reused")

    @rule(decision_id=proposed, actor=st.sampled_from(REVIEW_ACTORS))
    def claim(self, decision_id: uuid.UUID, actor: tuple[str, str]) -> None:
        m = self.model[decision_id]
        pid, tenant = actor
        expected = refusal_to_act(m, pid, tenant)
        _, got = self._attempt(
            reviewing.claim(
                self.world.deployment,
                self.world.principals[pid],
                ClaimIn(tenant=tenant, decision_id=decision_id),
            )
        )
        expect(expected, got, f"claim by {pid}@{tenant or 'home'} on {m.decision_type}")
        if got is None:
            m.claimed_by = pid
            m.version += 1
            self._record(m, ("decision.claimed", pid))

    @rule(
        decision_id=proposed,
        reviewer=st.sampled_from(["sup-a1", "sup-a2", "sup-a3", "appsup-a"]),
        verdict=st.sampled_from(["approve", "amend", "reject"]),
        justification=st.sampled_from(["conforme au barème", "montant plafonné"]),
        output=OUTPUTS,
    )
    def verdict_by_a_supervisor(
        self,
        decision_id: uuid.UUID,
        reviewer: str,
        verdict: str,
        justification: str,
        output: dict[str, Any],
    ) -> None:
        """A well-formed verdict by a supervisor of the tenant: refused only for who or when."""
        self._decide(
            decision_id,
            (reviewer, ""),
            verdict,
            justification,
            output if verdict == "amend" else None,
        )

    @rule(
        decision_id=proposed,
        pick=st.integers(0, 3),
        verdict=st.sampled_from(["approve", "approve", "amend", "reject"]),
        output=OUTPUTS,
    )
    def verdict_by_a_reviewer_the_model_allows(
        self, decision_id: uuid.UUID, pick: int, verdict: str, output: dict[str, Any]
    ) -> None:
        """Drives histories to their quorum: a supervisor the model lets act gives a verdict."""
        m = self.model[decision_id]
        allowed = [p for p in sorted(SUPERVISORS[TENANT]) if refusal_to_act(m, p, "") is None]
        reviewer = allowed[pick % len(allowed)] if allowed else "sup-a1"
        self._decide(
            decision_id,
            (reviewer, ""),
            verdict,
            "motif",
            output if verdict == "amend" else None,
        )

    @rule(
        decision_id=proposed,
        actor=st.sampled_from(REVIEW_ACTORS),
        verdict=st.sampled_from(["approve", "amend", "reject"]),
        justification=JUSTIFICATIONS,
        output=st.one_of(st.none(), st.just({}), OUTPUTS),
    )
    def verdict_by_anyone(
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
        expected = refusal_to_act(m, pid, tenant) or refusal_of_verdict(
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
        expect(
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
            assert len(approvers) < policy.required_approvals
            assert len(rejecters) < d.rejections_to_close
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
    assert set(principals) >= set(HOME)
    with running_world(database_url, config_dir, principals) as world:
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
