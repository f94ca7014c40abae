"""Hostile input across the whole contract, through the real server (issue 10): a NUL in any
string field (I6), JSON payloads over the limit or outside the decision type's output schema,
claims renewed without end, server text full of terminal escapes printed by the CLI, and reasons
with nothing visible in them."""

from __future__ import annotations

import functools
import json
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from aval.clients import Client
from aval.clients.sdk.errors import (
    AvalError,
    FailedPreconditionError,
    InvalidArgumentError,
    UnauthenticatedError,
    from_rpc_error,
)
from aval.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    audit_pb2,
    audit_pb2_grpc,
    common_pb2,
    gateway_pb2,
    gateway_pb2_grpc,
    review_pb2,
    review_pb2_grpc,
)
from tests.support import POLICIES, ClockFile, ServerProcess, token_of

from .helpers import AMENDED, PENDING, REJECTED, fields_of, metadata_of, propose_kwargs, run_cli

pytestmark = pytest.mark.e2e

LIMIT = 2048
LEASE = 2.0  # the default claim lease of this module's server, in seconds
MAX_HOLD = 4.0  # the longest one supervisor may hold a claim on this server

# A type whose output schema uses every rule of the schema language, and a free one for the CLI.
EXTRA_TYPES = """
  formulaire.riche:
    purpose: "tester chaque règle du schéma de sortie"
    required_approvals: 1
    deadline: 3d
    output_schema:
      type: object
      properties:
        service: {type: string, enum: [voirie, proprete]}
        motif: {type: string, minLength: 3, maxLength: 10}
        urgence: {type: integer, minimum: 1, maximum: 3}
        score: {type: number, minimum: 0, maximum: 1}
        visible: {type: boolean}
        etiquettes: {type: array, items: {type: string, enum: [a, b]}, minItems: 1, maxItems: 2}
      required: [service, urgence]
      additionalProperties: false
  texte.libre:
    purpose: "tester l'affichage de textes hostiles"
    required_approvals: 1
    justification_required_for: [amend, reject]
    deadline: 3d
"""

SERVICES: list[tuple[Any, str, Callable[[grpc.Channel], Any], str]] = [
    (gateway_pb2, "Gateway", gateway_pb2_grpc.GatewayStub, "app-a"),
    (review_pb2, "Review", review_pb2_grpc.ReviewStub, "sup-a1"),
    (audit_pb2, "Audit", audit_pb2_grpc.AuditStub, "insp-a"),
    (admin_pb2, "Admin", admin_pb2_grpc.AdminStub, "admin-a"),
]


@pytest.fixture(scope="module")
def hostile_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e-hostile")


@pytest.fixture(scope="module")
def server_clock(hostile_folder: Path) -> ClockFile:
    """The hostile gateway's clock: tests advance it to end claims and holds, never sleep."""
    return ClockFile(hostile_folder)


@pytest.fixture(scope="module")
def hostile(
    database_url: str, hostile_folder: Path, server_clock: ClockFile
) -> Iterator[ServerProcess]:
    """A gateway with a small payload limit, short claims and two more decision types."""
    folder = hostile_folder
    policies = folder / "hostile-policies"
    policies.mkdir()
    (policies / "ville-a.yaml").write_text(POLICIES["ville-a"] + EXTRA_TYPES, encoding="utf-8")
    (policies / "ville-b.yaml").write_text(POLICIES["ville-b"], encoding="utf-8")
    process = ServerProcess.start(
        database_url,
        folder,
        name="hostile",
        extra_env={
            "AVAL_POLICY_DIR": str(policies),
            "AVAL_MAX_PAYLOAD_BYTES": str(LIMIT),
            "AVAL_CLAIM_LEASE_SECONDS": str(LEASE),
            "AVAL_CLAIM_MAX_HOLD_SECONDS": str(MAX_HOLD),
            **server_clock.env,
        },
    )
    yield process
    status = process.stop()
    assert status == 0, f"exit status {status} on SIGTERM:\n{process.log_path.read_text()}"


@pytest.fixture(scope="module")
def as_(hostile: ServerProcess) -> Iterator[Callable[[str], Client]]:
    clients: dict[str, Client] = {}

    def get(principal: str) -> Client:
        if principal not in clients:
            clients[principal] = Client(hostile.address, token_of(principal), timeout=20)
        return clients[principal]

    yield get
    for client in clients.values():
        client.close()


@pytest.fixture(scope="module")
def channel(hostile: ServerProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(hostile.address) as opened:
        yield opened


def call(
    channel: grpc.Channel, service: str, method: str, request: Message, who: str | None
) -> Any:
    """Sends `request` to `service.method` as `who`; a refusal is raised as the SDK's error."""
    module, stub_of = next((m, s) for m, name, s, _ in SERVICES if name == service)
    descriptor = module.DESCRIPTOR.services_by_name[service].methods_by_name[method]
    rpc = getattr(stub_of(channel), method)
    try:
        reply = rpc(request, metadata=metadata_of(who), timeout=20)
        return list(reply) if descriptor.server_streaming else reply
    except grpc.RpcError as err:
        raise from_rpc_error(err) from err


def refused(expected: type[AvalError], attempt: Callable[[], Any]) -> AvalError:
    with pytest.raises(AvalError) as caught:
        attempt()
    assert type(caught.value) is expected, f"{caught.value.code.name}: {caught.value}"
    return caught.value


def written(database_url: str) -> tuple[int, int]:
    """How many trail events (but the expiry sweeper's) and decisions the database holds."""
    with psycopg.connect(database_url) as conn:
        events = conn.execute(
            "SELECT count(*) FROM aval.audit_events WHERE kind <> 'decision.expired'"
        ).fetchone()
        decisions = conn.execute("SELECT count(*) FROM aval.decisions").fetchone()
    assert events is not None and decisions is not None
    return events[0], decisions[0]


# --- Item 6: a NUL character in any string field ------------------------------------------------

NUL = "a\x00b"
# How a field path names a key holding a NUL (the NUL itself is never echoed).
NUL_KEY = "a\\u0000b"
Setter = Callable[[Message], None]


def _struct_cases(name: str) -> list[tuple[str, Setter]]:
    def put(value: dict[str, Any]) -> Setter:
        return lambda m: getattr(m, name).update(value)

    return [
        (f"{name}.demande", put({"demande": NUL, "ok": "oui"})),
        (f"{name}.{NUL_KEY}", put({NUL: 1})),
        (f"{name}.x.y[1]", put({"x": {"y": ["ok", NUL]}})),
        (f"{name}.x.{NUL_KEY}", put({"x": {NUL: True}})),
    ]


def nul_cases(descriptor: Descriptor, depth: int = 0) -> list[tuple[str, Setter]]:
    """(wire path, how to put a NUL there) for every string a request of `descriptor` can hold."""
    assert depth < 6, descriptor.full_name  # the contract has no recursive request message
    cases: list[tuple[str, Setter]] = []
    for field in descriptor.fields:
        name, repeated = field.name, field.is_repeated
        if field.type == FieldDescriptor.TYPE_STRING:
            if repeated:
                cases.append((f"{name}[1]", lambda m, n=name: getattr(m, n).extend(["ok", NUL])))
            else:
                cases.append((name, lambda m, n=name: setattr(m, n, NUL)))
        elif field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        elif field.message_type.full_name == "google.protobuf.Struct":
            cases += _struct_cases(name)
        elif field.message_type.GetOptions().map_entry:
            key, value = (
                field.message_type.fields_by_name["key"],
                field.message_type.fields_by_name["value"],
            )
            assert key.type == FieldDescriptor.TYPE_STRING, field.full_name
            default = "ok" if value.type == FieldDescriptor.TYPE_STRING else 1
            cases.append(
                (
                    f"{name}.{NUL_KEY}",
                    lambda m, n=name, d=default: getattr(m, n).__setitem__(NUL, d),
                )
            )
            if value.type == FieldDescriptor.TYPE_STRING:
                cases.append((f"{name}.k", lambda m, n=name: getattr(m, n).__setitem__("k", NUL)))
        else:
            for path, setter in nul_cases(field.message_type, depth + 1):
                if repeated:
                    cases.append(
                        (f"{name}[0].{path}", lambda m, n=name, s=setter: s(getattr(m, n).add()))
                    )
                else:
                    cases.append((f"{name}.{path}", lambda m, n=name, s=setter: s(getattr(m, n))))
    return cases


def every_rpc() -> Iterator[tuple[str, str, Descriptor, str]]:
    for module, service, _, principal in SERVICES:
        for method in module.DESCRIPTOR.services_by_name[service].methods:
            yield service, method.name, method.input_type, principal


def test_nul_cases_reach_every_kind_of_string_field() -> None:
    paths = {
        f"{service}.{method}:{path}"
        for service, method, request, _ in every_rpc()
        for path, _ in nul_cases(request)
    }
    # Plain strings, repeated strings, nested and repeated messages, maps, Struct keys and values.
    for expected in (
        "Gateway.Propose:subject_ref",
        "Gateway.Propose:attested_suggestion.model.name",
        "Gateway.Propose:attested_suggestion.factors[0].name",
        "Gateway.Propose:attested_suggestion.sources[1]",
        "Gateway.Propose:input.demande",
        f"Gateway.Propose:input.{NUL_KEY}",
        "Gateway.Propose:attested_suggestion.output.x.y[1]",
        "Review.Decide:amended_output.demande",
        "Review.Decide:justification",
        "Audit.QueryEvents:tenants[1]",
        "Audit.ExportEvents:query.kind",
        f"Admin.RegisterModelVersion:instructions.metrics.{NUL_KEY}",
        "Admin.RegisterModelVersion:instructions.known_limits[1]",
        "Admin.RegisterAISystem:ai_system.versions[0].instructions.intended_purpose",
        "Admin.Stop:reason",
    ):
        assert expected in paths, expected
    assert len(paths) > 100


def test_nul_in_any_string_field_is_invalid_argument_naming_it_I6(
    channel: grpc.Channel, hostile: ServerProcess, as_: Callable[[str], Client], database_url: str
) -> None:
    before = written(database_url)
    tried = 0
    for service, method, request_type, principal in every_rpc():
        for path, setter in nul_cases(request_type):
            request = GetMessageClass(request_type)()
            setter(request)
            # Without a token: authentication comes first, and it is never UNKNOWN.
            send = functools.partial(call, channel, service, method, request)
            refused(UnauthenticatedError, functools.partial(send, None))
            error = refused(InvalidArgumentError, functools.partial(send, principal))
            where = f"{service}.{method}:{path}"
            assert path in fields_of(error), (where, fields_of(error))
            violation = next(v for v in error.violations if v.field == path)
            assert violation.reason == "NUL_CHARACTER", where
            assert "\x00" not in str(error) and "\x00" not in error.localized, where
            tried += 1
    assert tried > 100
    assert written(database_url) == before  # nothing was written by any of them
    # The server is whole: a valid call still works, and nothing failed inside it.
    assert as_("app-a").propose(**propose_kwargs("voirie.signalement")).decision.id
    log = hostile.log_path.read_text()
    assert "Traceback" not in log and "NUL (0x00)" not in log, log[-3000:]


def test_nul_next_to_other_mistakes_is_named_with_them(as_: Callable[[str], Client]) -> None:
    """The SDK's way in: a NUL in a Struct value of a real proposal and of an amendment."""
    app, sup = as_("app-a"), as_("sup-a1")
    error = refused(
        InvalidArgumentError,
        lambda: app.propose(**propose_kwargs(input={"demande": "aide\x00cantine", "n": 1})),
    )
    assert fields_of(error) == ["input.demande"]
    d = app.propose(**propose_kwargs("voirie.signalement")).decision
    error = refused(
        InvalidArgumentError,
        lambda: sup.decide(
            d.id, verdict="amend", amended_output={"service": "voi\x00rie"}, justification="corrigé"
        ),
    )
    assert fields_of(error) == ["amended_output.service"]
    assert sup.get_decision(d.id).state == PENDING and not sup.get_decision(d.id).reviews


# --- Item 10: JSON payloads: size limit and output schema ---------------------------------------


def struct_paths(descriptor: Descriptor, prefix: str = "") -> Iterator[str]:
    for field in descriptor.fields:
        if field.type != FieldDescriptor.TYPE_MESSAGE or field.message_type.GetOptions().map_entry:
            continue
        if field.message_type.full_name == "google.protobuf.Struct":
            yield prefix + field.name
        elif not field.message_type.full_name.startswith("google.protobuf."):
            yield from struct_paths(field.message_type, f"{prefix}{field.name}.")


def test_every_json_payload_over_the_limit_is_invalid_argument(
    as_: Callable[[str], Client], database_url: str
) -> None:
    app, sup = as_("app-a"), as_("sup-a1")
    big = {"texte": "x" * (LIMIT + 10)}
    pending = [app.propose(**propose_kwargs("voirie.signalement")).decision for _ in range(2)]
    attempts: dict[str, Callable[[], Any]] = {
        "Propose:input": lambda: app.propose(**propose_kwargs("voirie.signalement", input=big)),
        "Propose:attested_suggestion.output": lambda: app.propose(
            **propose_kwargs("voirie.signalement", suggestion=big)
        ),
        "Decide:amended_output": lambda: sup.decide(
            pending[0].id, verdict="amend", amended_output=big, justification="corrigé"
        ),
    }
    # Every JSON a caller can send is here: the test names them all.
    carried = {
        f"{method}:{path}"
        for _, _, method, request, _ in [(None, *rpc) for rpc in every_rpc()]
        for path in struct_paths(request)
    }
    assert carried == set(attempts)
    before = written(database_url)
    for name, attempt in attempts.items():
        error = refused(InvalidArgumentError, attempt)
        assert fields_of(error) == [name.split(":")[1]], name
        assert error.violations[0].reason == "TOO_LARGE", name
    assert written(database_url) == before
    assert sup.get_decision(pending[0].id).state == PENDING
    # A byte under the limit is accepted for an amendment as for an input.
    fits = {"texte": "x" * (LIMIT - 100)}
    assert (
        sup.decide(
            pending[1].id, verdict="amend", amended_output=fits, justification="corrigé"
        ).state
        == AMENDED
    )


VALID_RICH = {"service": "voirie", "urgence": 2}
# (kind of rule broken, output, path of the violation inside the output)
SCHEMA_BREACHES: list[tuple[str, dict[str, Any], str]] = [
    ("wrong type: string for integer", {"service": "voirie", "urgence": "2"}, "urgence"),
    ("wrong type: fraction for integer", {"service": "voirie", "urgence": 2.5}, "urgence"),
    ("wrong type: null", {"service": None, "urgence": 2}, "service"),
    ("wrong type: object for string", {"service": {"x": "voirie"}, "urgence": 2}, "service"),
    ("wrong type: number for boolean", {**VALID_RICH, "visible": 1}, "visible"),
    ("wrong type: string for number", {**VALID_RICH, "score": "0.5"}, "score"),
    ("wrong type: string for array", {**VALID_RICH, "etiquettes": "a"}, "etiquettes"),
    ("enum", {"service": "police", "urgence": 2}, "service"),
    ("enum of an item", {**VALID_RICH, "etiquettes": ["a", "z"]}, "etiquettes[1]"),
    ("missing required", {"service": "voirie"}, "urgence"),
    ("additional property", {**VALID_RICH, "autre": 1}, "autre"),
    ("minimum", {"service": "voirie", "urgence": 0}, "urgence"),
    ("maximum", {**VALID_RICH, "score": 1.5}, "score"),
    ("minLength", {**VALID_RICH, "motif": "ab"}, "motif"),
    ("maxLength", {**VALID_RICH, "motif": "x" * 11}, "motif"),
    ("minItems", {**VALID_RICH, "etiquettes": []}, "etiquettes"),
    ("maxItems", {**VALID_RICH, "etiquettes": ["a", "b", "a"]}, "etiquettes"),
]


@pytest.mark.parametrize(
    ("kind", "output", "path"), SCHEMA_BREACHES, ids=[c[0] for c in SCHEMA_BREACHES]
)
def test_attested_suggestion_outside_the_output_schema_is_invalid_argument(
    as_: Callable[[str], Client], kind: str, output: dict[str, Any], path: str
) -> None:
    error = refused(
        InvalidArgumentError,
        lambda: as_("app-a").propose(**propose_kwargs("formulaire.riche", suggestion=output)),
    )
    assert fields_of(error) == [f"attested_suggestion.output.{path}"], kind
    assert error.violations[0].reason == "OUTPUT_SCHEMA", kind


@pytest.mark.parametrize(
    ("kind", "output", "path"), SCHEMA_BREACHES, ids=[c[0] for c in SCHEMA_BREACHES]
)
def test_amendment_outside_the_output_schema_is_invalid_argument(
    as_: Callable[[str], Client], kind: str, output: dict[str, Any], path: str
) -> None:
    app, sup = as_("app-a"), as_("sup-a1")
    d = app.propose(**propose_kwargs("formulaire.riche", suggestion=VALID_RICH)).decision
    error = refused(
        InvalidArgumentError,
        lambda: sup.decide(d.id, verdict="amend", amended_output=output, justification="corrigé"),
    )
    assert fields_of(error) == [f"amended_output.{path}"], kind
    assert error.violations[0].reason == "OUTPUT_SCHEMA", kind
    after = sup.get_decision(d.id)
    assert after.state == PENDING and not after.reviews and after.version == d.version


def test_outputs_inside_the_schema_are_accepted(as_: Callable[[str], Client]) -> None:
    app, sup = as_("app-a"), as_("sup-a1")
    full = {
        "service": "proprete",
        "motif": "dépôt",
        "urgence": 3,
        "score": 0.25,
        "visible": True,
        "etiquettes": ["a", "b"],
    }
    d = app.propose(**propose_kwargs("formulaire.riche", suggestion=VALID_RICH)).decision
    amended = sup.decide(d.id, verdict="amend", amended_output=full, justification="corrigé")
    assert amended.state == AMENDED
    assert json_format.MessageToDict(amended.outcome) == {**full, "urgence": 3.0}


def test_a_service_outside_the_enum_is_never_released(as_: Callable[[str], Client]) -> None:
    """The review's own case: an amendment naming a service that does not exist (signalement.ia)
    and an attested suggestion doing the same."""
    app, sup = as_("app-a"), as_("sup-a1")
    error = refused(
        InvalidArgumentError,
        lambda: app.propose(**propose_kwargs("signalement.ia", suggestion={"service": "police"})),
    )
    assert fields_of(error) == ["attested_suggestion.output.service"]
    d = app.propose(**propose_kwargs("signalement.ia", suggestion={"service": "voirie"})).decision
    error = refused(
        InvalidArgumentError,
        lambda: sup.decide(
            d.id, verdict="amend", amended_output={"service": "police"}, justification="corrigé"
        ),
    )
    assert fields_of(error) == ["amended_output.service"]
    assert "voirie" in error.violations[0].description  # says what is allowed
    assert sup.get_decision(d.id).state == PENDING
    assert (
        sup.decide(
            d.id, verdict="amend", amended_output={"service": "eclairage"}, justification="corrigé"
        ).state
        == AMENDED
    )


# --- Item 11: nobody holds a claim forever -----------------------------------------------------


def _expires(decision: common_pb2.Decision) -> datetime:
    return decision.claim.expires_at.ToDatetime(tzinfo=UTC)


def error_info(error: AvalError) -> dict[str, str]:
    """The parameters of a refusal (google.rpc.ErrorInfo.metadata), as the wire carries them."""
    assert isinstance(error.__cause__, grpc.Call)
    status = rpc_status.from_call(error.__cause__)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return dict(info.metadata)
    raise AssertionError(f"no ErrorInfo in {error!r}")


def claim(channel: grpc.Channel, who: str, decision_id: str, lease: float) -> common_pb2.Decision:
    request = review_pb2.ClaimRequest(decision_id=decision_id)
    request.lease.FromNanoseconds(int(lease * 1e9))
    reply: review_pb2.ClaimResponse = call(channel, "Review", "Claim", request, who)
    return reply.decision


def test_renewals_cannot_hold_a_claim_beyond_the_maximum_hold(
    as_: Callable[[str], Client],
    channel: grpc.Channel,
    database_url: str,
    server_clock: ClockFile,
) -> None:
    app, sup1, sup2 = as_("app-a"), as_("sup-a1"), as_("sup-a2")
    d = app.propose(**propose_kwargs("voirie.signalement")).decision
    first = claim(channel, "sup-a1", d.id, 1)
    since = _expires(first) - timedelta(seconds=1)
    events_before = written(database_url)[0]
    renewals = 0
    moved = 0.0
    while True:
        server_clock.advance(0.3)
        moved += 0.3
        try:
            renewed = claim(channel, "sup-a1", d.id, 1)
        except FailedPreconditionError as refusal:
            error = refusal
            break
        renewals += 1
        assert _expires(renewed) <= since + timedelta(seconds=MAX_HOLD), renewals
        assert moved < MAX_HOLD + 3, "renewed beyond the maximum hold"
    assert renewals >= 3
    assert error.reason == "CLAIM_HOLD_EXHAUSTED"
    params = error_info(error)
    assert params["holder"] == "sup-a1" and params["decision"] == d.id
    until = datetime.fromisoformat(params["until"])
    again = datetime.fromisoformat(params["again"])
    assert until.tzinfo is not None and until.utcoffset() == timedelta(0)  # UTC on the wire
    assert until == since + timedelta(seconds=MAX_HOLD)
    assert again == until + timedelta(seconds=LEASE)
    assert "heure de Paris" in error.localized  # French text in Paris time
    # The refusal wrote nothing; every granted renewal wrote its event.
    assert written(database_url)[0] == events_before + renewals
    # Once it lapses, the holder must leave it free for a lease: another supervisor takes it.
    server_clock.advance_to(until + timedelta(milliseconds=50))
    again_refused = refused(FailedPreconditionError, lambda: sup1.claim(d.id))
    assert again_refused.reason == "CLAIM_HOLD_EXHAUSTED"
    taken = sup2.claim(d.id, lease_seconds=60)
    assert taken.claim.claimed_by == "sup-a2"
    assert sup2.decide(d.id, verdict="approve").state != PENDING


def test_a_long_lease_is_cut_to_the_maximum_hold(
    as_: Callable[[str], Client], server_clock: ClockFile
) -> None:
    app, sup1 = as_("app-a"), as_("sup-a1")
    d = app.propose(**propose_kwargs("voirie.signalement")).decision
    asked = server_clock.now()
    claimed = sup1.claim(d.id, lease_seconds=86400)
    assert _expires(claimed) <= asked + timedelta(seconds=MAX_HOLD + 1)


def test_after_a_free_lease_the_holder_may_claim_again(
    as_: Callable[[str], Client], server_clock: ClockFile
) -> None:
    app, sup1 = as_("app-a"), as_("sup-a1")
    d = app.propose(**propose_kwargs("voirie.signalement")).decision
    first = sup1.claim(d.id, lease_seconds=86400)
    hold_end = _expires(first)
    # Nothing more to give: a renewal cannot run past the hold (a shorter lease could).
    refused(FailedPreconditionError, lambda: sup1.claim(d.id, lease_seconds=86400))
    server_clock.advance_to(hold_end + timedelta(seconds=LEASE, milliseconds=100))
    again = sup1.claim(d.id, lease_seconds=1)  # a new hold, after colleagues could take it
    assert again.claim.claimed_by == "sup-a1"
    assert _expires(again) > hold_end + timedelta(seconds=LEASE)


def test_claims_are_audited_with_the_start_of_the_hold(as_: Callable[[str], Client]) -> None:
    app, sup1, insp = as_("app-a"), as_("sup-a1"), as_("insp-a")
    d = app.propose(**propose_kwargs("voirie.signalement")).decision
    first = sup1.claim(d.id, lease_seconds=1)
    sup1.claim(d.id, lease_seconds=1)
    events = insp.query_events(decision_id=d.id, kind="decision.claimed").events
    assert len(events) == 2
    datas = [json_format.MessageToDict(e.data) for e in events]
    since = _expires(first) - timedelta(seconds=1)
    for data in datas:
        assert datetime.fromisoformat(data["held_since"]) == since
        assert datetime.fromisoformat(data["hold_ends_at"]) == since + timedelta(seconds=MAX_HOLD)
    assert insp.verify_chain().ok


# --- Item 14: reasons need a visible character ----------------------------------------------------

INVISIBLE = [
    "\u200b",  # zero-width space
    " \u00a0\u3000\t",  # spaces of every width
    "\u200b\u200c\u200d\u2060\ufeff",  # zero-width and joiners
    "\u202e\u2066\u2069",  # bidi controls
    "\u0301\u0308",  # combining marks alone
    "\u3164\u115f\u1160\uffa0",  # Hangul fillers
    "\u2800",  # braille blank
    "\u2028\u2029",  # line and paragraph separators
    "\x1b\x07",  # control characters
    "\U000e0041\U000e0042",  # tag characters
    "\u180e\u00ad",  # Mongolian vowel separator, soft hyphen
]


def reason_fields() -> set[str]:
    """Every string of a request the server requires to say why: `Method:path`."""
    found = set()
    names = {"reason", "justification", "intended_purpose"}
    for _, method, request, _ in every_rpc():
        for path, _ in nul_cases(request):
            if path.rsplit(".", 1)[-1] in names and "versions[0]" not in path:
                found.add(f"{method}:{path}")
    return found


def test_reasons_without_a_visible_character_are_invalid_argument(
    as_: Callable[[str], Client], channel: grpc.Channel, database_url: str
) -> None:
    app, sup = as_("app-a"), as_("sup-a1")
    d = app.propose(**propose_kwargs("texte.libre", suggestion={"a": 1})).decision
    kind = admin_pb2.BackendKind.BACKEND_KIND_ADVISOR
    requests: dict[str, Callable[[str], tuple[str, str, Message]]] = {
        "Decide:justification": lambda text: (
            "Review",
            "Decide",
            review_pb2.DecideRequest(
                decision_id=d.id, verdict=common_pb2.VERDICT_REJECT, justification=text
            ),
        ),
        "RegisterAISystem:reason": lambda text: (
            "Admin",
            "RegisterAISystem",
            admin_pb2.RegisterAISystemRequest(
                ai_system=admin_pb2.AISystem(
                    name=f"vide-{uuid.uuid4().hex[:6]}", kind=kind, endpoint="127.0.0.1:50061"
                ),
                reason=text,
            ),
        ),
        "RegisterModelVersion:instructions.intended_purpose": lambda text: (
            "Admin",
            "RegisterModelVersion",
            admin_pb2.RegisterModelVersionRequest(
                ai_system="orienteur",
                version="v1",
                instructions=admin_pb2.InstructionsForUse(intended_purpose=text),
            ),
        ),
        "RequestPin:reason": lambda text: (
            "Admin",
            "RequestPin",
            admin_pb2.RequestPinRequest(ai_system="orienteur", version="v1", reason=text),
        ),
        "DecidePin:reason": lambda text: (
            "Admin",
            "DecidePin",
            admin_pb2.DecidePinRequest(pin_request_id=str(uuid.uuid4()), approve=True, reason=text),
        ),
        "SetShadow:reason": lambda text: (
            "Admin",
            "SetShadow",
            admin_pb2.SetShadowRequest(ai_system="orienteur", version="v2", reason=text),
        ),
        "Stop:reason": lambda text: (
            "Admin",
            "Stop",
            admin_pb2.StopRequest(scope=admin_pb2.STOP_SCOPE_TENANT, reason=text),
        ),
        "Resume:reason": lambda text: (
            "Admin",
            "Resume",
            admin_pb2.ResumeRequest(scope=admin_pb2.STOP_SCOPE_TENANT, reason=text),
        ),
    }
    assert set(requests) == reason_fields()  # every reason the contract has is tried
    who = {"Review": "sup-a1", "Admin": "admin-a"}
    before = written(database_url)
    for name, build in requests.items():
        for text in INVISIBLE:
            service, method, request = build(text)
            send = functools.partial(call, channel, service, method, request, who[service])
            error = refused(InvalidArgumentError, send)
            assert name.split(":")[1] in fields_of(error), (name, text)
    assert written(database_url) == before
    assert sup.get_decision(d.id).state == PENDING
    # A visible character among the invisible ones is enough: an accent on a letter, a digit.
    assert sup.decide(d.id, verdict="reject", justification="\u200be\u0301\u200b").state == REJECTED
    admin = as_("admin-a")
    stop = admin.stop_ai("decision_type", "texte.libre", reason="\u200b1\u200b")
    assert stop.stop.reason == "\u200b1\u200b"  # kept as written
    assert admin.resume_ai("decision_type", "texte.libre", reason="fin de l'essai")


# --- Item 12: the CLI never prints control or bidi characters it received ---------------------

ESCAPES = "\x1b[2J\x1b[31m\x07\u202eevil\u2066\u2069\x9b31m\x85\x7f\x1b]0;titre\x07\r\x08"
# subject_ref is one word: no whitespace (\r, \x85) in it.
SUBJECT = "usager:\x1b[2J\x07\u202e\x9b\x7f\u2066"


def dangerous(text: str) -> list[str]:
    """The characters of `text` a terminal would obey rather than show."""
    bidi = {"\u061c", "\u200e", "\u200f", *map(chr, range(0x202A, 0x202F))}
    bidi |= {*map(chr, range(0x2066, 0x206A)), "\u2028", "\u2029"}
    return sorted(
        {
            f"U+{ord(c):04X}"
            for c in text
            if (unicodedata.category(c) == "Cc" and c != "\n") or c in bidi
        }
    )


def test_cli_text_output_neutralises_control_and_bidi_characters(
    hostile: ServerProcess, as_: Callable[[str], Client], tmp_path: Path
) -> None:
    address = hostile.address

    def cli(who: str | None, *args: str) -> str:
        done = run_cli(address, who, *args)
        for stream in (done.stdout, done.stderr):
            assert dangerous(stream) == [], (args, stream)
        return done.stdout + done.stderr

    evil_input = json.dumps({"demande": ESCAPES, ESCAPES: 1})
    proposed = cli(
        "app-a",
        "propose",
        "--type", "texte.libre",
        "--subject", SUBJECT,
        "--input", evil_input,
        "--suggestion", json.dumps({"service": ESCAPES}),
        "--explanation", ESCAPES,
        "--model", f"bareme{ESCAPES.replace('@', '')}@1",
    )  # fmt: skip
    assert "<U+202E>" in proposed and "\\x1b" in proposed  # shown, not obeyed
    decided = as_("app-a").propose(
        **propose_kwargs("texte.libre", subject_ref=SUBJECT, input={"demande": ESCAPES},
                         suggestion={"service": ESCAPES}, explanation=ESCAPES)
    ).decision  # fmt: skip
    pending = (
        as_("app-a")
        .propose(
            **propose_kwargs("texte.libre", subject_ref=SUBJECT, suggestion={"service": ESCAPES})
        )
        .decision
    )
    cli("sup-a1", "claim", decided.id)
    cli("sup-a1", "decide", decided.id, "--reject", "--justification", ESCAPES)
    shown = cli("app-a", "decision", "show", decided.id)
    assert "usager:\\x1b[2J\\x07<U+202E>" in shown
    cli("app-a", "decision", "watch", decided.id)
    cli("sup-a1", "queue", "list", "--type", "texte.libre", "--page-size", "500")
    cli("insp-a", "audit", "events", "--decision", decided.id)
    cli("insp-a", "audit", "explain", decided.id)
    cli("insp-a", "audit", "explain", decided.id, "--audience", "citizen")
    cli("insp-a", "audit", "explain", pending.id)
    cli("insp-a", "audit", "stats")
    # Errors that echo what was typed or what the server said.
    cli("app-a", "decision", "show", f"x{ESCAPES}")
    cli("app-a", "propose", "--type", f"t{ESCAPES}", "--subject", "s", "--input", "{}")
    cli("app-a", "propose", "--type", "texte.libre", "--subject", SUBJECT, "--input", '{"a": 1}',
        "--tenant", f"ville{ESCAPES}")  # fmt: skip
    cli("sup-a1", "queue", "list", "--page-size", ESCAPES)
    cli("sup-a1", "decide", pending.id, "--amend", "{" + ESCAPES)
    # Admin texts written by another administrator.
    name = f"hostile-{uuid.uuid4().hex[:6]}"
    cli("admin-a", "admin", "systems", "register", name, "--kind", "advisor",
        "--endpoint", "127.0.0.1:50061", "--reason", ESCAPES)  # fmt: skip
    cli("admin-a", "admin", "versions", "add", name, "v1", "--purpose", ESCAPES,
        "--limit", ESCAPES)  # fmt: skip
    cli("admin-a", "admin", "systems", "list")
    cli("admin-a", "admin", "pin", name, "v1", "--reason", ESCAPES)
    cli("admin-a", "admin", "pins")
    cli("admin-a", "admin", "stop", "--type", "texte.libre", "--reason", ESCAPES)
    cli("admin-a2", "admin", "stop", "--type", "texte.libre", "--reason", ESCAPES)  # already
    cli("insp-a", "admin", "stops")
    cli("admin-a", "admin", "resume", "--type", "texte.libre", "--reason", "fin")
    # JSON stays JSON, and says exactly what the server holds.
    done = run_cli(address, "app-a", "--json", "decision", "show", decided.id)
    assert dangerous(done.stdout) == []
    document = json.loads(done.stdout)
    assert document["subjectRef"] == SUBJECT
    assert document["reviews"][0]["justification"] == ESCAPES.strip()
