"""What every use case works with: the store, the policies, and who may do what."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aval.audit_store import ChangeListener, Store
from aval.audit_store.group_commit import ProposalWriter
from aval.audit_store.journal_writer import JournalWriter
from aval.policies import PolicyBook, ReviewPolicy
from aval.service.ai.backends import Backends
from aval.service.ai.egress import EgressPolicy
from aval.service.audit.signing import Signer
from aval.service.authorization import Authorizer
from aval.service.clock import SYSTEM_CLOCK, Clock
from aval.service.configuration import Reloader
from aval.service.errors import FieldViolation, InvalidArgument
from aval.service.identity import Authenticator, Credentials, Principal
from aval.service.settings import Settings

if TYPE_CHECKING:  # the submitter's module reads the trail through use cases that need us
    from aval.service.audit.witnessing import WitnessSubmitter


@dataclass
class Deployment:
    """One running Aval: many tenants, each with its policies and grants."""

    settings: Settings
    store: Store
    policies: PolicyBook
    authenticator: Authenticator
    authorizer: Authorizer
    listener: ChangeListener
    writer: ProposalWriter
    # Signs checkpoints; None when no key is configured (checkpoint RPCs are then refused).
    signer: Signer | None = None
    # The operator's AI egress allow-list (AVAL_AI_EGRESS_FILE); nothing allowed without one.
    egress: EgressPolicy = field(default_factory=EgressPolicy.none)
    # The clients of the AI systems behind the gateway, with their circuit breakers; built
    # with the same egress policy.
    backends: Backends = field(default_factory=Backends)
    # The time of every use case, the deadline sweeper, claims and checkpoints; tests move it.
    clock: Clock = SYSTEM_CLOCK
    # Reloads the operator's files (policies, grants) in place: ReloadConfiguration, SIGHUP.
    reloader: Reloader | None = None
    # Writes the access journal's rows in batches (R13); without it each read writes its own.
    journal: JournalWriter | None = None
    # Submits each new checkpoint to the witnesses of AVAL_WITNESSES_FILE; None without them.
    witnesses: WitnessSubmitter | None = None

    async def authenticate(self, credentials: Credentials) -> Principal:
        return await self.authenticator.authenticate(credentials)

    def tenant_for(
        self, principal: Principal, requested: str, action: str, field: str = "tenant"
    ) -> str:
        """The tenant a request acts on (the caller's when empty), once the caller may act there.

        The grant is checked first: a tenant that does not exist is refused exactly like one
        that exists but is not granted, so that no caller can list the tenants (I5). Only a
        caller the operator granted in a tenant that has no policies is told it is unknown.

        Raises:
            PermissionDenied: the caller holds no grant for the action in that tenant (I5),
                whether or not the tenant exists.
            InvalidArgument: the caller is granted in the tenant, but it has no policies here;
                the violation names `field`.
        """
        tenant = requested or principal.tenant
        self.authorizer.require(principal, tenant, action)
        if tenant not in self.policies.tenants:
            raise InvalidArgument([FieldViolation(field, "UNKNOWN_TENANT", {"tenant": tenant})])
        return tenant

    def policy_for(self, tenant: str, decision_type: str) -> ReviewPolicy:
        policy = self.policies.get(tenant, decision_type)
        if policy is None:
            known = ", ".join(self.policies.decision_types(tenant)) or "none"
            raise InvalidArgument(
                [
                    FieldViolation(
                        "decision_type",
                        "UNKNOWN_DECISION_TYPE",
                        {
                            "decision_type": decision_type,
                            "tenant": tenant,
                            "known": known,
                        },
                    )
                ]
            )
        return policy
