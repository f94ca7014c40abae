"""The generated Admin stub of these tests, on the shared gateway."""

from __future__ import annotations

import pytest

from aval.v1 import admin_pb2_grpc

from ..helpers import Raw


@pytest.fixture(scope="module")
def stub(raw: Raw) -> admin_pb2_grpc.AdminStub:
    """The generated Admin stub on the shared gateway, for requests the SDK never builds."""
    return admin_pb2_grpc.AdminStub(raw.channel)
