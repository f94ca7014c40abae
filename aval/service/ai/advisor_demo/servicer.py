"""The demo model served as an `Advisor` over gRPC (aval.v1.Advisor/Suggest)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc
from google.protobuf import struct_pb2
from grpc_status import rpc_status

from aval.service.ai.advisor_demo import refusals
from aval.service.ai.advisor_demo.explanation import explain
from aval.service.ai.advisor_demo.training import DemoModel, train_demo_model
from aval.v1 import advisor_pb2, advisor_pb2_grpc

log = logging.getLogger("aval.advisor_demo")

Context = grpc.aio.ServicerContext[Any, Any]


class AdvisorStartError(Exception):
    """The advisor cannot listen where it was asked to; the message says what to change."""


def read_description(request: advisor_pb2.SuggestRequest, served_version: str) -> str:
    """The report's text, once the request is known to be answerable by this model.

    `categorie_declaree` and any other input field are ignored: the model reads only the text.

    Raises:
        refusals.VersionNotServed: the request pins another model version.
        refusals.InvalidCase: no non-empty string `description` in the input.
    """
    if request.model_version not in ("", served_version):
        raise refusals.version_not_served(request.model_version, served_version)
    fields = request.input.fields
    if "description" not in fields:
        raise refusals.missing_description()
    value = fields["description"]
    kind = value.WhichOneof("kind")
    if kind != "string_value":
        raise refusals.description_not_text(_KINDS.get(kind or "", "null"))
    if not value.string_value.strip():
        raise refusals.empty_description()
    return value.string_value


_KINDS = {
    "null_value": "null",
    "number_value": "number",
    "bool_value": "boolean",
    "struct_value": "object",
    "list_value": "list",
}


class DemoAdvisor(advisor_pb2_grpc.AdvisorServicer):
    """Suggests the municipal service for a citizen's report, with the terms that drove it."""

    def __init__(self, model: DemoModel) -> None:
        self.model = model

    async def Suggest(
        self, request: advisor_pb2.SuggestRequest, context: Context
    ) -> advisor_pb2.SuggestResponse:
        try:
            description = read_description(request, self.model.version)
        except refusals.AdvisorRefusal as exc:
            await context.abort_with_status(  # type: ignore[attr-defined]
                rpc_status.to_status(exc.status())
            )
            raise AssertionError("unreachable: abort raises") from exc  # pragma: no cover
        prediction = self.model.model.predict(description)
        explanation = explain(prediction, self.model.dataset)
        log.debug(
            "decision %s of %s/%s: %s (%.3f)",
            request.decision_id,
            request.tenant,
            request.decision_type,
            prediction.service,
            prediction.confidence,
        )
        suggestion = struct_pb2.Struct()
        suggestion.update({"service": prediction.service})
        return advisor_pb2.SuggestResponse(
            suggestion=suggestion,
            confidence=prediction.confidence,
            explanation=advisor_pb2.Explanation(
                summary=explanation.summary,
                factors=[
                    advisor_pb2.Factor(name=f.name, weight=f.weight, value=f.value)
                    for f in explanation.factors
                ],
                sources=list(explanation.sources),
            ),
            model_version=self.model.version,
            # The "tokens" of a bag-of-words model: the words it read, and one label out.
            usage=advisor_pb2.Usage(input_tokens=prediction.word_count, output_tokens=1),
        )


async def start_demo_advisor(
    listen: str = "127.0.0.1:0", *, model: DemoModel | None = None
) -> tuple[grpc.aio.Server, int]:
    """Trains the demo model (unless given one), serves it on `listen`, returns the bound port.

    Raises:
        AdvisorStartError: the address is not HOST:PORT, or cannot be bound.
    """
    host, _, port_text = listen.rpartition(":")
    if not host or not port_text.isdigit() or int(port_text) > 65535:
        raise AdvisorStartError(
            f"cannot listen on {listen!r}: give HOST:PORT with a port from 0 to 65535, "
            "e.g. 127.0.0.1:50061"
        )
    trained = model if model is not None else await asyncio.to_thread(train_demo_model)
    server = grpc.aio.server()
    advisor_pb2_grpc.add_AdvisorServicer_to_server(DemoAdvisor(trained), server)
    try:
        port = server.add_insecure_port(listen)
    except RuntimeError as exc:
        raise AdvisorStartError(
            f"cannot listen on {listen}: {exc}; choose another HOST:PORT"
        ) from exc
    if port == 0:
        raise AdvisorStartError(f"cannot listen on {listen}; choose another HOST:PORT")
    await server.start()
    log.info(
        "advisor %s listening on port %d (held-out accuracy %.3f)",
        trained.version,
        port,
        trained.evaluation.accuracy,
    )
    return server, port
