"""The use cases' world built in-process for tests: deployments, and proposals stored as is."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from aval.audit_store import ChangeListener, Store
from aval.audit_store.group_commit import ProposalWriter
from aval.audit_store.records import AdviceStatus, Decision, DecisionState, Suggestion
from aval.policies import ReviewPolicy, load_policy_dir
from aval.service.authorization import Authorizer
from aval.service.clock import SYSTEM_CLOCK, Clock
from aval.service.deployment import Deployment
from aval.service.file_authenticator import FileAuthenticator
from aval.service.identity import Principal, load_principals
from aval.service.settings import Settings
from aval.verifier.chain import sha256_hex


def deployment_of(
    store: Store,
    url: str,
    principals: Sequence[tuple[Principal, str | None]],
    config_dir: Path,
    *,
    listener: ChangeListener,
    writer: ProposalWriter,
    clock: Clock = SYSTEM_CLOCK,
) -> Deployment:
    """The use cases' world on `store`: the test configuration's policies, these principals."""
    return Deployment(
        settings=Settings(database_url=url, max_payload_bytes=4096),
        store=store,
        policies=load_policy_dir(config_dir / "policies"),
        authenticator=FileAuthenticator.of_tokens(principals, clock=clock),
        authorizer=Authorizer([p for p, _ in principals]),
        listener=listener,
        writer=writer,
        clock=clock,
    )


@asynccontextmanager
async def deployment_running(
    url: str, config_dir: Path, *, clock: Clock = SYSTEM_CLOCK
) -> AsyncIterator[Deployment]:
    """A deployment on a database of its own: its store, listener and writer, closed after."""
    principals = load_principals(config_dir / "principals.yaml")
    store = Store(url, min_size=1, max_size=4)
    await store.open()
    listener = ChangeListener(url)
    await listener.start()
    writer = ProposalWriter(store)
    writer.start()
    try:
        yield deployment_of(
            store, url, principals, config_dir, listener=listener, writer=writer, clock=clock
        )
    finally:
        await writer.stop()
        await listener.stop()
        await store.close()


_AI_INPUT = {"texte": "nid-de-poule rue de la Gare"}


def ai_proposal(
    tenant: str,
    policy: ReviewPolicy,
    proposer: Principal,
    ai_system: str,
    version: str,
    status: str,
    output: Any,
    now: datetime,
) -> Decision:
    """A pending decision as the gateway stores it after asking `ai_system` (the advice's
    status and output given), for a test that writes its AI calls by hand."""
    return Decision(
        tenant_id=tenant,
        id=uuid.uuid4(),
        decision_type=policy.decision_type,
        subject_ref=f"signalement:{uuid.uuid4().hex[:8]}",
        state=DecisionState.PENDING_REVIEW,
        input=dict(_AI_INPUT),
        input_sha256=sha256_hex(_AI_INPUT),  # as the gateway hashes it (verification checks)
        suggestion=Suggestion(output, 0.8, "", ai_system, version) if output else None,
        proposer_id=proposer.id,
        idempotency_key=str(uuid.uuid4()),
        request_sha256="0" * 64,
        policy_revision=policy.revision,
        required_approvals=policy.required_approvals,
        rejections_to_close=policy.rejections_to_close,
        created_at=now,
        updated_at=now,
        deadline=now + policy.deadline,
        pending_output=output,
        advice_status=AdviceStatus(status),
    )
