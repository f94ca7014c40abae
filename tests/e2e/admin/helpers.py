"""What the Admin end-to-end tests share: fresh AI-system names, registrations, the admin events
of the trail, and refusals."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from google.protobuf import json_format

from aval.clients import Client
from aval.clients.sdk.errors import AvalError

from ..conftest import ClientOf
from ..helpers import all_events


def a_name() -> str:
    return f"orienteur-{uuid.uuid4().hex[:8]}"


def add_versions(client: Client, name: str, *versions: str) -> None:
    for version in versions:
        client.register_model_version(
            name,
            version,
            intended_purpose="orienter les signalements",
            known_limits=["ne lit pas les photos"],
            metrics={"accuracy": 0.9},
        )


def registered(client: Client, name: str, *versions: str) -> None:
    client.register_ai_system(
        name, kind="advisor", endpoint="127.0.0.1:50061", reason="mise en service"
    )
    add_versions(client, name, *versions)


def admin_events(client_of: ClientOf, kind: str, name: str) -> list[dict[str, Any]]:
    """The `kind` events of ville-a's trail about the AI system `name`, oldest first."""
    found = []
    for event in all_events(client_of("insp-a"), kind=kind):
        data = json_format.MessageToDict(event.data)
        if data.get("ai_system") == name or data.get("target") == name:
            assert event.decision_id == "" and event.actor_type == "human"
            found.append({"actor": event.actor_id, **data})
    return found


def refused(kind: type[AvalError], call: Callable[[], Any]) -> AvalError:
    with pytest.raises(AvalError) as caught:
        call()
    assert type(caught.value) is kind, f"{caught.value.code.name}: {caught.value}"
    return caught.value


def trail_is_clean(client_of: ClientOf) -> None:
    report = client_of("insp-a").verify_chain()
    assert report.ok, list(report.problems)
