"""What the command line prints: decisions, the queue, events and verifications, or JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from google.protobuf import json_format, struct_pb2, timestamp_pb2
from google.protobuf.message import Message

from aval.clients.cli import queue_table
from aval.clients.cli.messages import Messages
from aval.clients.cli.people import shown
from aval.v1 import audit_pb2, common_pb2, gateway_pb2, journal_pb2, review_pb2

_NOTHING = "—"


def format_time(timestamp: timestamp_pb2.Timestamp) -> str:
    """Writes a timestamp in Paris time, ISO 8601 to the second, or a dash when unset.

    Args:
        timestamp: The timestamp; all zeros means unset.

    Returns:
        E.g. ``"2025-11-25T21:03:00+01:00"``.
    """
    if not timestamp.seconds and not timestamp.nanos:
        return _NOTHING
    return queue_table.paris(timestamp.ToDatetime(tzinfo=UTC)).isoformat(timespec="seconds")


def _plain(value: Any) -> Any:
    # A Struct holds every number as a double: show 250.0 as the 250 a person typed.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _compact(struct: struct_pb2.Struct) -> str:
    return json.dumps(_plain(json_format.MessageToDict(struct)), ensure_ascii=False, sort_keys=True)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]


class Printer:
    """Prints results for a person (in their language) or, with ``as_json``, for a program.

    In JSON mode every command prints one JSON document; a watch prints one line per update.

    Args:
        messages: The texts of the person's language.
        as_json: Print proto3 JSON instead of text.
        out: Where to print; standard output by default.
    """

    def __init__(self, messages: Messages, *, as_json: bool, out: TextIO | None = None) -> None:
        self._t = messages
        self._as_json = as_json
        self._out = out if out is not None else sys.stdout
        # Display names of the people the next print names, by id (cli/people.py).
        self.names: Mapping[str, str] = {}
        # How close a deadline marks a queue row as due soon, and the clock it is measured by.
        self.near = timedelta(hours=queue_table.NEAR_HOURS)
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)

    @property
    def shows_names(self) -> bool:
        """Whether people are printed by name (text); JSON keeps the gateway's ids alone."""
        return not self._as_json

    def _line(self, text: str = "") -> None:
        print(text, file=self._out)

    def note(self, key: str, **values: Any) -> None:
        """Prints one text of the catalogue, in text mode only (JSON keeps to the document).

        Args:
            key: The text's key in cli.toml.
            **values: Its placeholders.
        """
        if not self._as_json:
            self._line(self._t(key, **values))

    def json(self, message: Message, *, compact: bool = False) -> None:
        """Prints a message as proto3 JSON, with fields left at their defaults.

        Args:
            message: The message.
            compact: On one line (for streams), else indented.
        """
        self._line(
            json_format.MessageToJson(
                message,
                always_print_fields_with_no_presence=True,
                indent=None if compact else 2,
                ensure_ascii=False,
            )
        )

    def state(self, decision: common_pb2.Decision) -> str:
        """Names a decision's state in the person's language.

        Args:
            decision: The decision.

        Returns:
            E.g. ``"en attente de validation"``.
        """
        return self._t("state." + common_pb2.DecisionState.Name(decision.state))

    def decision_lines(self, decision: common_pb2.Decision) -> list[str]:
        """Describes a decision, one ``label  value`` line per fact.

        Args:
            decision: The decision.

        Returns:
            The lines, labels aligned.
        """
        t = self._t
        facts = [
            ("label.id", decision.id),
            ("label.type", decision.decision_type),
            ("label.subject", decision.subject_ref),
            ("label.state", self.state(decision)),
            ("label.version", str(decision.version)),
            ("label.approvals", f"{decision.approvals}/{decision.required_approvals}"),
            ("label.suggestion", self._suggestion(decision)),
        ]
        facts.append(("label.advice", self._advice(decision)))
        if decision.HasField("suggestion") and decision.suggestion.explanation:
            facts.append(("label.explanation", decision.suggestion.explanation))
        if decision.suggestion.factors:
            facts.append(("label.factors", self._factors(decision.suggestion)))
        for limit in decision.suggestion.known_limits:
            facts.append(("label.limits", limit))
        outcome = _compact(decision.outcome) if decision.HasField("outcome") else _NOTHING
        facts.append(("label.outcome", outcome))
        for review in decision.reviews:
            facts.append(("label.reviews", self._review(review)))
        if decision.HasField("claim") and decision.claim.claimed_by:
            until = format_time(decision.claim.expires_at)
            facts.append(
                (
                    "label.claim",
                    t("claim_until", who=shown(self.names, decision.claim.claimed_by), until=until),
                )
            )
        facts.append(("label.notice", decision.notice.text or _NOTHING))
        facts.append(("label.deadline", format_time(decision.deadline)))
        labelled = [(t(key), value) for key, value in facts]
        width = max(len(label) for label, _ in labelled)
        return [f"{label.ljust(width)}  {value}" for label, value in labelled]

    def _suggestion(self, decision: common_pb2.Decision) -> str:
        if not decision.HasField("suggestion"):
            return _NOTHING
        suggestion = decision.suggestion
        parts = [_compact(suggestion.output)]
        if suggestion.HasField("confidence"):
            parts.append(self._t("confidence", value=self._t.number(suggestion.confidence)))
        if suggestion.model.name:
            model = suggestion.model
            parts.append(self._t("model", name=model.name, version=model.version))
        return parts[0] + (f" ({', '.join(parts[1:])})" if len(parts) > 1 else "")

    def _advice(self, decision: common_pb2.Decision) -> str:
        status = common_pb2.AdviceStatus.Name(decision.advice_status)
        return self._t("advice." + status, detail=decision.advice_detail or _NOTHING)

    def _factors(self, suggestion: common_pb2.Suggestion) -> str:
        return ", ".join(
            f"{f.name} {self._t.number(f.weight, signed=True)}" for f in suggestion.factors
        )

    def _review(self, review: common_pb2.ReviewRecord) -> str:
        text = self._t(
            "review",
            reviewer=shown(self.names, review.reviewer_id),
            verdict=self._t("verdict." + common_pb2.Verdict.Name(review.verdict)),
            time=format_time(review.decided_at),
            justification=review.justification or _NOTHING,
        )
        if review.HasField("amended_output"):
            text += f" → {_compact(review.amended_output)}"
        return text

    def decision(self, decision: common_pb2.Decision, *, compact: bool = False) -> None:
        """Prints a decision.

        Args:
            decision: The decision.
            compact: In JSON mode, on one line (for a stream of updates).
        """
        if self._as_json:
            self.json(decision, compact=compact)
            return
        for line in self.decision_lines(decision):
            self._line(line)

    def update(self, decision: common_pb2.Decision, *, first: bool) -> None:
        """Prints one update of a watched decision at once: a JSON line, or a block of text.

        Args:
            decision: The decision as it is now.
            first: Whether it is the first update (later ones are set apart by a blank line).
        """
        if not first and not self._as_json:
            self._line()
        self.decision(decision, compact=True)
        self._out.flush()

    def proposal(self, response: gateway_pb2.ProposeResponse) -> None:
        """Prints the answer to a proposal.

        Args:
            response: The answer.
        """
        if self._as_json:
            self.json(response)
            return
        self._line(self._t("replayed" if response.replayed else "proposed"))
        self.decision(response.decision)

    def queue(self, response: review_pb2.ListQueueResponse) -> None:
        """Prints one page of the review queue as a table.

        Args:
            response: The page.
        """
        if self._as_json:
            self.json(response)
            return
        if not response.decisions:
            self._line(self._t("queue_empty"))
        else:
            header, rows = queue_table.rows(
                response.decisions, self._t, self.names, now=self.now(), near=self.near
            )
            for line in _table(header, rows):
                self._line(line)
        self._next_page(response.next_page_token)

    def events(self, response: audit_pb2.QueryEventsResponse) -> None:
        """Prints one page of audit events, one line each.

        Args:
            response: The page.
        """
        if self._as_json:
            self.json(response)
            return
        if not response.events:
            self._line(self._t("events_empty"))
        else:
            header = [self._t(f"col.{key}") for key in ("seq", "time", "kind", "actor", "decision")]
            rows = [
                [
                    str(e.seq),
                    format_time(e.occurred_at),
                    e.kind,
                    self._actor(e),
                    e.decision_id or _NOTHING,
                ]
                for e in response.events
            ]
            if len({e.tenant for e in response.events}) > 1:  # several tenants: say whose
                header.insert(0, self._t("col.tenant"))
                for row, e in zip(rows, response.events, strict=True):
                    row.insert(0, e.tenant)
            for line in _table(header, rows):
                self._line(line)
        self._next_page(response.next_page_token)

    def journal(self, response: journal_pb2.QueryAccessJournalResponse) -> None:
        """Prints one page of the access journal, one read a line."""
        if self._as_json:
            self.json(response)
            return
        if not response.records:
            self._line(self._t("journal_empty"))
        else:
            keys = ("time", "reader", "action", "decision", "purpose")
            rows = [
                [
                    format_time(r.at),
                    f"{r.reader_kind}:{r.reader}",
                    r.action,
                    r.decision_id or _NOTHING,
                    r.purpose or _NOTHING,
                ]
                for r in response.records
            ]
            for line in _table([self._t(f"col.{key}") for key in keys], rows):
                self._line(line)
        self._next_page(response.next_page_token)

    def _actor(self, event: audit_pb2.AuditEvent) -> str:
        name = self.names.get(event.actor_id)
        actor = f"{event.actor_type}:{event.actor_id}" if event.actor_type else event.actor_id
        return f"{name} ({actor})" if name else actor

    def _next_page(self, token: str) -> None:
        if token:
            self._line(self._t("next_page", token=token))

    def verification(self, response: audit_pb2.VerifyChainResponse) -> None:
        """Prints the result of a verification of the audit trail, each problem on a line.

        Args:
            response: The result.
        """
        if self._as_json:
            self.json(response)
            return
        if response.ok:
            self._line(
                self._t(
                    "chain_ok",
                    events=response.events_checked,
                    decisions=response.decisions_checked,
                    head=response.head_hash or _NOTHING,
                )
            )
        if response.witnessed_tree_size:
            self._line(self._t("chain_witnessed", size=response.witnessed_tree_size))
        if response.unsigned_events:
            self._line(
                self._t(
                    "unsigned_events",
                    count=response.unsigned_events,
                    first=response.signed_events + 1,
                    signed=response.signed_events,
                )
            )
        for problem in response.problems:
            self._line(self.problem_line(problem))

    def problem_line(self, problem: audit_pb2.VerificationProblem) -> str:
        """One problem verification found, on one line."""
        return self._t(
            "problem",
            kind=problem.kind,
            tenant=problem.tenant or _NOTHING,
            seq=problem.seq or _NOTHING,
            decision=problem.decision_id or _NOTHING,
            detail=problem.detail,
        )

    def first_problem(self, response: audit_pb2.VerifyChainResponse) -> str:
        """Says what verification found wrong, naming the first bad event, on one line.

        Args:
            response: A verification that failed.

        Returns:
            The one-line reason.
        """
        ordered = sorted(response.problems, key=lambda p: (p.seq == 0, p.seq))
        if not ordered:
            first = _NOTHING
        elif ordered[0].seq:
            first = self._t("at_event", kind=ordered[0].kind, seq=ordered[0].seq)
        else:
            first = self._t("at_decision", kind=ordered[0].kind, decision=ordered[0].decision_id)
        return self._t("chain_broken", count=len(response.problems), first=first)

    def explanation(self, response: audit_pb2.ExplainDecisionResponse) -> None:
        """Prints an explanation of a decision (Markdown).

        Args:
            response: The explanation.
        """
        if self._as_json:
            self.json(response)
            return
        self._line(response.text.rstrip())
