"""The OpenID Connect file is checked at start-up: each mistake is named with its file, line,
field and fix, before any provider is asked anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from aval.policies import PolicyError
from aval.service.identity import PrincipalsFileError, load_principals, token_hash
from aval.service.oidc import load_oidc_file
from aval.service.oidc.authenticator import principal_of

TENANTS = {"ville-a", "ville-b"}
VALID = """\
issuers:
  - name: keycloak-ville
    issuer: https://sso.ville-a.fr/realms/agents
    audience: urn:aval:ville-a
    token_types: [at+jwt, JWT]
tenants:
  ville-a:
    issuer: keycloak-ville
    when: {claim: tenant, equals: ville-a}
    roles_claim: groups
    roles:
      aval-superviseurs: [supervisor]
      aval-inspection: [inspector]
  ville-b:
    issuer: keycloak-ville
    roles:
      aval-superviseurs: [supervisor, inspector]
"""


def _load(tmp_path: Path, text: str) -> None:
    path = tmp_path / "oidc.yaml"
    path.write_text(text, encoding="utf-8")
    load_oidc_file(path, TENANTS)


def test_a_valid_file_gives_each_person_the_roles_of_their_claims(tmp_path: Path) -> None:
    path = tmp_path / "oidc.yaml"
    path.write_text(VALID, encoding="utf-8")
    config = load_oidc_file(path, TENANTS)
    issuer = config.issuers[0]
    assert issuer.algorithms == ("RS256", "ES256") and issuer.clock_skew_seconds == 60
    claims = {"sub": "u1", "tenant": "ville-a", "groups": ["aval-superviseurs", "x"], "name": "A"}
    person = principal_of(config, issuer, claims)
    assert person.id == "oidc:keycloak-ville:u1" and person.tenant == "ville-a"
    assert person.roles_in("ville-a") == {"supervisor"}
    assert person.roles_in("ville-b") == {"supervisor", "inspector"}  # no condition there
    assert str(person.key) == '["oidc","keycloak-ville","u1"]' and person.display_name == "A"
    elsewhere = principal_of(config, issuer, {**claims, "tenant": "ville-b"})
    assert elsewhere.roles_in("ville-a") == frozenset() and elsewhere.tenant == "ville-b"
    one_group = principal_of(config, issuer, {"sub": "u2", "groups": "aval-inspection"})
    assert one_group.roles == {}  # ville-a needs the tenant claim; ville-b maps no inspection


MISTAKES = {
    "unknown issuer name": (
        VALID.replace("    issuer: keycloak-ville\n    when", "    issuer: keycloack\n    when"),
        8,
        "tenants.ville-a.issuer",
        "keycloak-ville",
    ),
    "unknown role": (
        VALID.replace("[supervisor]\n      aval-insp", "[superviseur]\n      aval-insp"),
        12,
        "tenants.ville-a.roles.aval-superviseurs",
        "supervisor, inspector, admin",
    ),
    "application role for a person": (
        VALID.replace("[inspector]\n  ville-b", "[application]\n  ville-b"),
        13,
        "tenants.ville-a.roles.aval-inspection",
        "principals file",
    ),
    "tenant without review policies": (
        VALID.replace("  ville-b:", "  ville-z:"),
        14,
        "tenants.ville-z",
        "AVAL_POLICY_DIR",
    ),
    "duplicate issuer names": (
        VALID.replace(
            "tenants:",
            "  - name: keycloak-ville\n    issuer: https://other.fr\n    audience: x\ntenants:",
        ),
        6,
        "issuers.1.name",
        "its own name",
    ),
    "a key given twice": (
        VALID.replace("    roles_claim: groups\n", "    roles_claim: groups\n    issuer: x\n"),
        11,
        "tenants.ville-a.issuer",
        "keep one 'issuer'",
    ),
    "plain http on a remote host": (
        VALID.replace("https://sso.ville-a.fr", "http://sso.ville-a.fr"),
        3,
        "issuers.0.issuer",
        "https://",
    ),
    "plain http for the keys": (
        VALID.replace(
            "    token_types", "    jwks_uri: http://sso.ville-a.fr/keys\n    token_types"
        ),
        5,
        "issuers.0.jwks_uri",
        "https://",
    ),
    "an HMAC algorithm": (
        VALID.replace("    token_types", "    algorithms: [RS256, HS256]\n    token_types"),
        5,
        "issuers.0.algorithms.1",
        "never none nor HS*",
    ),
    "algorithm none": (
        VALID.replace("    token_types", "    algorithms: [none]\n    token_types"),
        5,
        "issuers.0.algorithms.0",
        "never none nor HS*",
    ),
    "too much clock skew": (
        VALID.replace("    token_types", "    clock_skew_seconds: 301\n    token_types"),
        5,
        "issuers.0.clock_skew_seconds",
        "within the bounds",
    ),
    "no audience": (
        VALID.replace("    audience: urn:aval:ville-a\n", ""),
        2,
        "issuers.0.audience",
        "add 'audience'",
    ),
    "an unknown field": (
        VALID.replace("    token_types", "    audiance: x\n    token_types"),
        5,
        "issuers.0.audiance",
        "remove 'audiance'",
    ),
    "an issuer mapped to no tenant": (
        VALID.replace(
            "tenants:",
            "  - name: spare\n    issuer: https://other.fr\n    audience: x\ntenants:",
        ),
        6,
        "issuers.1.name",
        "map it to a tenant",
    ),
    "a bad token type": (
        VALID.replace("[at+jwt, JWT]", "[at+jwt, id_token]"),
        5,
        "issuers.0.token_types.1",
        "at+jwt",
    ),
    "yaml syntax": ("issuers: [\n", 2, "(syntax)", "YAML syntax"),
}


@pytest.mark.parametrize("case", sorted(MISTAKES))
def test_each_mistake_names_its_line_field_and_fix(tmp_path: Path, case: str) -> None:
    text, line, field, fix = MISTAKES[case]
    with pytest.raises(PolicyError) as refused:
        _load(tmp_path, text)
    error = refused.value
    assert (error.line, error.field) == (line, field), (case, str(error))
    assert fix in error.fix, (case, error.fix)
    assert str(tmp_path / "oidc.yaml") in str(error)


def test_an_http_issuer_is_allowed_when_its_keys_come_from_https(tmp_path: Path) -> None:
    """AD FS names its access tokens' issuer http://…/adfs/services/trust."""
    _load(
        tmp_path,
        VALID.replace(
            "https://sso.ville-a.fr/realms/agents",
            "http://adfs.ville-a.fr/adfs/services/trust\n"
            "    jwks_uri: https://adfs.ville-a.fr/adfs/discovery/keys",
        ),
    )


def test_a_file_principal_cannot_take_an_id_kept_for_people_of_a_provider(
    tmp_path: Path,
) -> None:
    path = tmp_path / "principals.yaml"
    path.write_text(
        "principals:\n"
        "  - id: OIDC:keycloak-ville:u1\n"
        "    tenant: ville-a\n"
        "    roles: [supervisor]\n"
        f"    token_sha256: {token_hash('t')}\n",
        encoding="utf-8",
    )
    with pytest.raises(PrincipalsFileError) as refused:
        load_principals(path)
    assert refused.value.line == 2 and "oidc:" in refused.value.fix
