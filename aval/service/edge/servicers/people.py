"""The People service: the display names behind the trail's pseudonymous ids."""

from __future__ import annotations

from aval.service.deployment import Deployment
from aval.service.edge.servicers.edge import Context, caller, guarded
from aval.service.people.names import safe_display_name
from aval.service.people.resolving import resolve_people
from aval.service.requests import parse
from aval.service.requests.people import ResolvePeopleIn
from aval.v1 import people_pb2, people_pb2_grpc


@guarded
class PeopleServicer(people_pb2_grpc.PeopleServicer):
    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment

    async def ResolvePeople(
        self, request: people_pb2.ResolvePeopleRequest, context: Context
    ) -> people_pb2.ResolvePeopleResponse:
        found = await resolve_people(self.deployment, caller(), parse(ResolvePeopleIn, request))
        return people_pb2.ResolvePeopleResponse(
            people=[people_pb2.Person(id=i, display_name=name) for i, name in found]
        )

    async def WhoAmI(
        self, request: people_pb2.WhoAmIRequest, context: Context
    ) -> people_pb2.WhoAmIResponse:
        principal = caller()
        return people_pb2.WhoAmIResponse(
            id=principal.id,
            tenant=principal.tenant,
            roles=sorted(principal.roles_in(principal.tenant)),
            display_name=safe_display_name(principal.display_name),
        )
