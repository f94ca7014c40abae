"""Credentials in the principals file: certificates, expiry and revocation, each checked at load
with file, line and fix; the authenticator refuses expired and revoked ones and reloads."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aval.service.clock import MovableClock
from aval.service.errors import Unauthenticated
from aval.service.file_authenticator import FileAuthenticator
from aval.service.identity import (
    Credentials,
    PrincipalsFileError,
    load_principal_entries,
    token_hash,
)
from tests.throwaway_ca import ThrowawayCA


def principal(pid: str, *lines: str, token: str | None = "") -> str:
    text = f"  - id: {pid}\n    tenant: ville-a\n    roles: [application]\n"
    if token is not None:
        text += f"    token_sha256: {token_hash(token or pid)}\n"
    return text + "".join(f"    {line}\n" for line in lines)


def refusal(tmp_path: Path, text: str) -> PrincipalsFileError:
    path = tmp_path / "principals.yaml"
    path.write_text("principals:\n" + text, encoding="utf-8")
    with pytest.raises(PrincipalsFileError) as refused:
        load_principal_entries(path)
    assert str(refused.value).startswith(f"{path}:"), refused.value
    return refused.value


def written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "principals.yaml"
    path.write_text("principals:\n" + text, encoding="utf-8")
    return path


# Bad credentials: (the file's entries, the line and field of the refusal, words of its fix).
BAD = {
    "no credential at all": (
        principal("app-a", token=None),
        (2, "principals.0"),
        "token_sha256",
    ),
    "a certificate naming nothing": (
        principal("app-a", "certificate: {}", token=None),
        (5, "principals.0.certificate"),
        "subject",
    ),
    "a subject that is no distinguished name": (
        principal("app-a", 'certificate: {subject: "pas un nom"}', token=None),
        (5, "principals.0.certificate.subject"),
        "RFC2253",
    ),
    "a fingerprint too short": (
        principal("app-a", "certificate: {sha256: abcd}", token=None),
        (5, "principals.0.certificate.sha256"),
        "fingerprint",
    ),
    "an expiry without its offset": (
        principal("app-a", "expires_at: 2027-01-31T23:00:00"),
        (6, "principals.0.expires_at"),
        "RFC 3339",
    ),
    "an expiry that is no time": (
        principal("app-a", "expires_at: demain"),
        (6, "principals.0.expires_at"),
        "RFC 3339",
    ),
    "revoked that is not a boolean": (
        principal("app-a", "revoked: peut-être"),
        (6, "principals.0.revoked"),
        "",
    ),
    "one subject for two principals": (
        principal("app-a", 'certificate: {subject: "CN=app,O=Ville-A"}', token=None)
        + principal("app-b", 'certificate: {subject: "cn=app,o=Ville-A"}', token=None),
        (9, "principals.1.certificate.subject"),
        "its own certificate",
    ),
    "one fingerprint for two principals": (
        principal("app-a", f"certificate: {{sha256: {'ab' * 32}}}")
        + principal("app-b", f"certificate: {{sha256: {'AB:' * 31}AB}}"),
        (11, "principals.1.certificate.sha256"),
        "its own certificate",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_credentials_are_refused_at_load_with_line_field_and_fix(
    tmp_path: Path, case: str
) -> None:
    text, (line, field), fix = BAD[case]
    error = refusal(tmp_path, text)
    assert (error.line, error.field) == (line, field), error
    assert fix in error.fix, error


def test_credentials_load_in_one_spelling(tmp_path: Path) -> None:
    path = written(
        tmp_path,
        principal("app-a", 'certificate: {subject: "cn=app,o=Ville-A"}', token=None)
        + principal("app-b", f"certificate: {{sha256: {'AB:' * 31}AB}}")
        + principal("app-c", 'expires_at: "2027-01-31T23:00:00+01:00"', "revoked: true"),
    )
    a, b, c = load_principal_entries(path)
    assert (a.token_sha256, a.certificate_subject) == (None, "CN=app,O=Ville-A")
    assert b.certificate_sha256 == "ab" * 32 and b.token_sha256 == token_hash("app-b")
    assert c.expires_at == datetime(2027, 1, 31, 22, tzinfo=UTC) and c.revoked


def _bearer(token: str) -> Credentials:
    return Credentials([("authorization", f"Bearer {token}")])


async def test_an_expired_token_is_refused_from_its_expiry_on_the_deployments_clock(
    tmp_path: Path,
) -> None:
    expiry = datetime.now(UTC) + timedelta(hours=1)
    path = written(tmp_path, principal("app-a", f'expires_at: "{expiry.isoformat()}"'))
    clock = MovableClock()
    authenticator = FileAuthenticator.from_file(path, clock=clock)
    assert (await authenticator.authenticate(_bearer("app-a"))).id == "app-a"
    clock.advance(3600)
    with pytest.raises(Unauthenticated) as refused:
        await authenticator.authenticate(_bearer("app-a"))
    assert refused.value.reason == "CREDENTIAL_EXPIRED"
    assert refused.value.params["expired_at"].startswith(expiry.strftime("%Y-%m-%dT%H:%M"))


async def test_a_revocation_takes_effect_on_reload_and_a_bad_file_keeps_the_old_one(
    tmp_path: Path,
) -> None:
    path = written(tmp_path, principal("app-a") + principal("app-b"))
    authenticator = FileAuthenticator.from_file(path)
    assert (await authenticator.authenticate(_bearer("app-b"))).id == "app-b"
    written(tmp_path, principal("app-a") + principal("app-b", "revoked: true"))
    # Not yet: the file is read again only when reloaded.
    assert (await authenticator.authenticate(_bearer("app-b"))).id == "app-b"
    assert [p.id for p in authenticator.reload()] == ["app-a", "app-b"]
    with pytest.raises(Unauthenticated) as refused:
        await authenticator.authenticate(_bearer("app-b"))
    assert refused.value.reason == "CREDENTIAL_REVOKED"
    # A broken file is refused whole; the version served so far stays.
    written(tmp_path, principal("app-a") + principal("app-c", token="app-a"))
    with pytest.raises(PrincipalsFileError):
        authenticator.reload()
    assert (await authenticator.authenticate(_bearer("app-a"))).id == "app-a"
    with pytest.raises(Unauthenticated) as refused:
        await authenticator.authenticate(_bearer("app-c"))
    assert refused.value.reason == "UNKNOWN_TOKEN"


def test_credentials_expiring_within_14_days_are_warned_about_at_load(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    soon = datetime.now(UTC) + timedelta(days=13)
    later = datetime.now(UTC) + timedelta(days=15)
    path = written(
        tmp_path,
        principal("app-soon", f'expires_at: "{soon.isoformat()}"')
        + principal("app-later", f'expires_at: "{later.isoformat()}"'),
    )
    with caplog.at_level(logging.WARNING, logger="aval"):
        FileAuthenticator.from_file(path)
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "app-soon" in warned and "app-later" not in warned
    assert token_hash("app-soon") not in warned


async def test_a_certificate_maps_by_subject_or_fingerprint_and_an_unknown_one_is_refused(
    tmp_path: Path,
) -> None:
    ca = ThrowawayCA(tmp_path / "ca")
    by_subject = ca.issue("by-subject", "app-urbanisme")
    by_print = ca.issue("by-print", "app-voirie")
    both = ca.issue("both", "app-etat-civil")
    same_subject = ca.issue("same-subject", "app-etat-civil")
    unknown = ca.issue("unknown", "app-inconnue")
    path = written(
        tmp_path,
        principal("app-a", f'certificate: {{subject: "{by_subject.subject}"}}', token=None)
        + principal("app-b", f"certificate: {{sha256: {by_print.sha256}}}", token=None)
        + principal(
            "app-c",
            f'certificate: {{subject: "{both.subject}", sha256: {both.sha256}}}',
            token=None,
        ),
    )
    authenticator = FileAuthenticator.from_file(path)

    async def who(issued_pem: str) -> str:
        return (await authenticator.authenticate(Credentials([], issued_pem))).id

    assert await who(by_subject.cert_file.read_text()) == "app-a"
    assert await who(by_print.cert_file.read_text()) == "app-b"
    assert await who(both.cert_file.read_text()) == "app-c"
    for refused_pem in (same_subject, unknown):  # both names must match when both are given
        with pytest.raises(Unauthenticated) as refused:
            await who(refused_pem.cert_file.read_text())
        assert refused.value.reason == "UNKNOWN_CERTIFICATE"
    # A token wins over the certificate that opened the connection.
    credentials = Credentials([("authorization", "Bearer nope")], by_subject.cert_file.read_text())
    with pytest.raises(Unauthenticated) as refused:
        await authenticator.authenticate(credentials)
    assert refused.value.reason == "UNKNOWN_TOKEN"


async def test_a_certificate_two_principals_name_two_ways_is_refused(tmp_path: Path) -> None:
    ca = ThrowawayCA(tmp_path / "ca")
    issued = ca.issue("app", "app-urbanisme")
    path = written(
        tmp_path,
        principal("app-a", f'certificate: {{subject: "{issued.subject}"}}', token=None)
        + principal("app-b", f"certificate: {{sha256: {issued.sha256}}}", token=None),
    )
    with pytest.raises(Unauthenticated) as refused:
        await FileAuthenticator.from_file(path).authenticate(
            Credentials([], issued.cert_file.read_text())
        )
    assert refused.value.reason == "AMBIGUOUS_CERTIFICATE"
