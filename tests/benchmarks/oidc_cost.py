"""CPU per authentication: a person's OpenID Connect access token against an application's
static token of the principals file (issue 13).

A real provider (tests/oidc, oidc-provider from npm; `make test-setup` installs it) issues a
user token through the authorization code flow; the gateway's own authenticators check it
in-process, keys cached as in a running server. Prints the process CPU per call of each, per
round, and their ratio measured in the same round (the baseline is the static token).

    .venv/bin/python tests/benchmarks/oidc_cost.py --calls 2000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aval.service.file_authenticator import FileAuthenticator  # noqa: E402
from aval.service.identity import Credentials, Principal  # noqa: E402
from aval.service.oidc import OidcAuthenticator  # noqa: E402
from aval.service.oidc.config import load_oidc_file  # noqa: E402
from tests.e2e.oidc.conftest import ACCOUNTS, AUDIENCE  # noqa: E402
from tests.e2e.oidc.provider import Provider, rsa_jwk  # noqa: E402
from tests.support import principal_entries, token_of  # noqa: E402


async def _cpu_per_call(authenticate: object, credentials: Credentials, calls: int) -> float:
    """Process CPU seconds per call of `authenticate(credentials)`."""
    check = authenticate  # an async callable
    started = time.process_time()
    for _ in range(calls):
        principal = await check(credentials)  # type: ignore[operator]
        assert isinstance(principal, Principal)
    return (time.process_time() - started) / calls


async def _main(calls: int, rounds: int, folder: Path) -> None:
    provider = Provider(folder / "idp", [rsa_jwk("k1")], AUDIENCE, ACCOUNTS, name="idp").start()
    try:
        oidc_file = folder / "oidc.yaml"
        oidc_file.write_text(
            yaml.safe_dump(
                {
                    "issuers": [{"name": "idp", "issuer": provider.issuer, "audience": AUDIENCE}],
                    "tenants": {
                        "ville-a": {
                            "issuer": "idp",
                            "roles": {"aval-superviseurs": ["supervisor"]},
                        }
                    },
                }
            ),
            encoding="utf-8",
        )
        people = OidcAuthenticator(load_oidc_file(oidc_file, ["ville-a"]))
        principals = folder / "principals.yaml"
        principals.write_text(yaml.safe_dump({"principals": principal_entries()}), "utf-8")
        machines = FileAuthenticator.from_file(principals)
        person = Credentials([("authorization", f"Bearer {provider.user_token('sup1')}")])
        machine = Credentials([("authorization", f"Bearer {token_of('app-a')}")])
        await people.authenticate(person)  # keys fetched once, then cached
        print(f"calls per round: {calls}; token of {len(provider.user_token('sup1'))} bytes")
        ratios = []
        for round_ in range(1, rounds + 1):
            static = await _cpu_per_call(machines.authenticate, machine, calls)
            oidc = await _cpu_per_call(people.authenticate, person, calls)
            ratios.append(oidc / static)
            print(
                f"round {round_}: static token {static * 1e6:.1f} µs CPU/call, "
                f"OpenID Connect token {oidc * 1e6:.1f} µs CPU/call, ratio {oidc / static:.1f}"
            )
        print(f"oidc_over_static_ratio={min(ratios):.1f}..{max(ratios):.1f}")
        await people.aclose()
    finally:
        provider.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aval-oidc-bench-") as folder:
        asyncio.run(_main(args.calls, args.rounds, Path(folder)))


if __name__ == "__main__":
    main()
