"""A reviewer's own working views never carry the statistics' rubber-stamping flag: nothing a
supervisor reads to work a case (Review responses, the decision) has a field for it, so a
flagged reviewer's screens show nothing different (the flag is for internal control only)."""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from aval.v1 import gateway_pb2, review_pb2

WORDS = ("rubber", "stamp", "flag")


def _field_names(message: Descriptor, seen: set[str]) -> Iterator[str]:
    if message.full_name in seen:
        return
    seen.add(message.full_name)
    for f in message.fields:
        yield f"{message.full_name}.{f.name}"
        if f.type == FieldDescriptor.TYPE_MESSAGE:
            yield from _field_names(f.message_type, seen)


def test_no_reviewer_response_has_a_rubber_stamping_field() -> None:
    services = [
        review_pb2.DESCRIPTOR.services_by_name["Review"],
        gateway_pb2.DESCRIPTOR.services_by_name["Gateway"],
    ]
    seen: set[str] = set()
    names = [
        name
        for service in services
        for method in service.methods
        for name in _field_names(method.output_type, seen)
    ]
    assert any(name.endswith("GetCaseResponse.verdicts_withheld") for name in names)
    assert [n for n in names if any(w in n.rsplit(".", 1)[-1].lower() for w in WORDS)] == []
