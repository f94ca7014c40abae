"""What the review-mode tests share: a decision's trail as an inspector reads it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf import json_format

from aval.clients import Client

ClientOf = Callable[[str], Client]


def trail_of(client_of: ClientOf, decision_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, actor, data) of every event of a decision, oldest first, as an inspector reads."""
    page = client_of("insp-a").query_events(decision_id=decision_id, page_size=500)
    return [(e.kind, e.actor_id, json_format.MessageToDict(e.data)) for e in page.events]
