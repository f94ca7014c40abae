"""A verification report in the contract's words (`aval.v1.VerifyChainResponse`)."""

from __future__ import annotations

from aval.v1 import audit_pb2
from aval.verifier.chain_verifier import Problem, Report


def wire_problem(p: Problem) -> audit_pb2.VerificationProblem:
    """The wire form of one problem."""
    return audit_pb2.VerificationProblem(
        kind=p.kind, tenant=p.tenant_id, seq=p.seq, decision_id=p.decision_id, detail=p.detail
    )


def verification_report(report: Report) -> audit_pb2.VerifyChainResponse:
    """The wire form of a verification report, every problem included."""
    return audit_pb2.VerifyChainResponse(
        ok=report.ok,
        events_checked=report.events_checked,
        decisions_checked=report.decisions_checked,
        checkpoints_checked=report.checkpoints_checked,
        cosignatures_verified=report.cosignatures_verified,
        witnessed_tree_size=report.witnessed_tree_size,
        unsigned_events=report.unsigned_events,
        signed_events=report.signed_events,
        head_hash=report.head_hash.hex(),
        problems=[wire_problem(p) for p in report.problems],
    )
