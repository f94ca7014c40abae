"""The supervisors' team page (R12): colleagues who approve almost everything very fast are
flagged to the other supervisors; the flagged one's own pages show nothing about it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from html import unescape

from aval.clients import Client
from tests.console.support import Visitor, assert_well_formed


def test_a_supervisor_sees_a_colleague_flagged_and_the_colleague_sees_no_flag(
    gateway: Callable[[str], Client], visitor: Callable[..., Visitor]
) -> None:
    for _ in range(3):  # sup-a3 approves at once, three times: a rubber stamp
        proposed = gateway("app-a").propose(
            decision_type="voirie.signalement",
            subject_ref=f"usager:{uuid.uuid4().hex[:10]}",
            input={"x": 1},
            suggestion={"service": "voirie"},
            confidence=0.9,
            model="tri@1",
        )
        gateway("sup-a3").decide(str(proposed.decision.id), verdict="approve")
    lead = visitor("sup-a1")
    page = lead.get("/equipe")
    assert page.status_code == 200
    assert_well_formed(page)
    html = unescape(page.text)
    row = next(r for r in html.split("<tr") if "sup-a3" in r)
    assert "Oui" in row and 'class="flag"' in row
    flagged = visitor("sup-a3")
    own = unescape(flagged.get("/equipe").text)
    table = own.split('id="team-reviewers"', 1)[-1].split("</table>", 1)[0]
    assert 'id="team-reviewers"' not in own or "sup-a3" not in table
    for path in ("/file",):
        assert "Validation systématique" not in unescape(flagged.get(path).text)


def test_the_team_page_is_for_supervisors(visitor: Callable[..., Visitor]) -> None:
    page = visitor("insp-a").get("/equipe")
    assert page.status_code == 403
