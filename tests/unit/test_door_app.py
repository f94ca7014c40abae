"""The door's own failures: whatever breaks inside it, the caller gets Connect's `internal`
error JSON and never a trace (the gRPC server's refusals are tested end to end)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from aval.service.edge.door.app import Door


class _BrokenChannel:
    """A channel whose every call fails in a way the door does not expect."""

    def unary_unary(self, *args: Any) -> Any:
        async def call(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("secret internals /srv/aval")

        return call


async def _anyone(credentials: Any) -> Any:
    return None


async def test_an_unexpected_failure_is_internal_in_connect_form(tmp_path: Path) -> None:
    door = Door(
        _BrokenChannel(),  # type: ignore[arg-type]
        _anyone,
        limit=1024,
        slots=2,
        openapi=tmp_path / "openapi.json",
    )
    transport = httpx.ASGITransport(app=door.app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://door") as client:
        answer = await client.post(
            "/aval.v1.Gateway/GetDecision",
            content=b"{}",
            headers={"Content-Type": "application/json"},
        )
    assert answer.status_code == 500
    assert json.loads(answer.content) == {"code": "internal", "message": "internal error"}
    assert b"secret" not in answer.content and b"Traceback" not in answer.content
