"""Unknown and forbidden tenants are refused alike in every RPC that names one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest

from aval.v1 import audit_pb2
from tests.support import ServerProcess

from .conftest import (
    ACTION_OF,
    GHOST_TENANT,
    VALID_REQUESTS,
    Caller,
    _methods,
    _tenant_paths,
    _with,
)

# ---------------------------------------------------------------------------------------------
# Item 13: an unknown tenant and a forbidden one are refused alike (no enumeration, I5)
# ---------------------------------------------------------------------------------------------

CALLERS = {  # principal -> an existing tenant where it holds no grant at all
    "app-a": "ville-b",
    "sup-a1": "ville-b",
    "insp-a": "ville-b",
    "admin-a": "ville-b",
    "app-b": "ville-a",
    "sup-b": "ville-a",
    "insp-b": "ville-a",
    "admin-b": "ville-a",
}
UNKNOWN_TENANTS = ("ville-zz", "ville-c", "VILLE-B")


def test_every_rpc_that_names_a_tenant_has_a_valid_request_in_this_test() -> None:
    named = {m.name for m in _methods() if list(_tenant_paths(m.input_type))}
    assert named == set(VALID_REQUESTS), named ^ set(VALID_REQUESTS)
    assert named == set(ACTION_OF)


@pytest.mark.parametrize("principal", sorted(CALLERS))
def test_unknown_and_forbidden_tenants_are_refused_alike_in_every_rpc_I5(
    principal: str, caller: Caller
) -> None:
    forbidden = CALLERS[principal]
    checked, wrong = 0, []
    for method in _methods():
        for path in _tenant_paths(method.input_type):
            shapes: list[Callable[[str], Any]] = [lambda t: t]
            if path[-1] == "tenants":
                shapes = [lambda t: [t], lambda t: [t, t]]
            for shape in shapes:
                base = VALID_REQUESTS[method.name]
                seen = caller.refusal(
                    method, _with(base, path, shape(forbidden)), principal, forbidden
                )
                if seen is None or seen.code != grpc.StatusCode.PERMISSION_DENIED:
                    wrong.append(("forbidden tenant not denied", method.name, path, seen))
                    continue
                assert seen.reason == "NOT_GRANTED"
                for unknown in UNKNOWN_TENANTS:
                    fields = _with(base, path, shape(unknown))
                    other = caller.refusal(method, fields, principal, unknown)
                    checked += 1
                    if other != seen:
                        wrong.append((method.name, path, unknown, seen, other))
    assert not wrong, wrong
    assert checked >= 3 * len(VALID_REQUESTS)


def test_a_list_of_tenants_is_refused_alike_after_granted_ones_I5(caller: Caller) -> None:
    """insp-a may query ville-a: adding a forbidden or an unknown tenant is refused alike."""
    for method in _methods():
        for path in _tenant_paths(method.input_type):
            if path[-1] != "tenants":
                continue
            base = VALID_REQUESTS[method.name]
            seen = caller.refusal(
                method, _with(base, path, ["ville-a", "ville-b"]), "insp-a", "ville-b"
            )
            assert seen is not None and seen.reason == "NOT_GRANTED", (method.name, seen)
            for unknown in UNKNOWN_TENANTS:
                fields = _with(base, path, ["ville-a", unknown])
                assert caller.refusal(method, fields, "insp-a", unknown) == seen, method.name


def test_a_caller_granted_in_a_tenant_is_told_when_it_has_no_policies(
    odd_server: ServerProcess,
) -> None:
    """Only a caller the operator granted there learns that a tenant is unknown."""
    caller = Caller(odd_server.address)
    try:
        query = audit_pb2.DESCRIPTOR.services_by_name["Audit"].methods_by_name["QueryEvents"]
        for fields, where in (
            ({"tenant": GHOST_TENANT}, "tenant"),
            ({"tenants": [GHOST_TENANT]}, "tenants[0]"),
        ):
            refusal = caller.refusal(query, fields, "insp-fantome", GHOST_TENANT)
            assert refusal is not None
            assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT, refusal
            assert "UNKNOWN_TENANT" in refusal.status and where in refusal.status, refusal
        # A pooled inspector asking for a tenant it was not granted is told it is not granted.
        refusal = caller.refusal(
            query, {"tenants": ["ville-a", "ville-zz"]}, "insp-pool", "ville-zz"
        )
        assert refusal is not None and refusal.reason == "NOT_GRANTED"
        assert "insp-pool" in refusal.status and "audit.query" in refusal.status
    finally:
        caller.close()
