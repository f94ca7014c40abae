"""Settings from AVAL_* environment variables (and command-line options that override them)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_serializer, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from aval.audit_store.embedded import default_data_dir


class Settings(BaseSettings):
    """Every setting of the server; see the configuration table in README.md."""

    model_config = SettingsConfigDict(env_prefix="AVAL_", extra="ignore")

    # PostgreSQL URL; when unset an embedded PostgreSQL runs in data_dir.
    database_url: str | None = None
    listen: str = "127.0.0.1:50051"
    data_dir: Path = Field(default_factory=default_data_dir)
    # Folder of tenant review-policy files (*.yaml).
    policy_dir: Path | None = None
    # YAML file of principals with their token hashes.
    principals_file: Path | None = None
    # Casbin grants (role, tenant, action); the packaged policies/grants.csv when unset.
    grants_file: Path | None = None
    # Largest accepted input or suggestion, in bytes of canonical JSON.
    max_payload_bytes: int = Field(default=64 * 1024, ge=1024)
    claim_lease_seconds: float = Field(default=900.0, gt=0)
    # The longest one supervisor may hold a claim on a decision, renewals included; then it
    # must stay free for a lease before they claim it again. 4 leases when unset.
    claim_max_hold_seconds: float | None = Field(default=None, gt=0)
    # WatchQueue streams one process serves at once; one more is refused (RESOURCE_EXHAUSTED).
    max_queue_watchers: int = Field(default=200, ge=1)
    expiry_interval_seconds: float = Field(default=5.0, gt=0)
    pool_min_size: int = Field(default=2, ge=1)
    pool_max_size: int = Field(default=16, ge=1)
    # Connections of the pool that ExportEvents streams read from, apart from the main pool so
    # that exports never starve other calls; an export beyond them is refused at once.
    export_pool_size: int = Field(default=4, ge=1)
    # Seconds a server stream (an export above all) waits for its client to take the next
    # message before the server ends it (ABORTED, STREAM_STALLED) and frees what it holds.
    stream_stall_seconds: float = Field(default=30.0, gt=0)
    # Request bodies read and decoded at once (calls with a token); more calls wait, their
    # bodies unread. A call gives its slot back once its request is decoded.
    max_concurrent_requests: int = Field(default=16, ge=1)
    # Seconds between probes of the database; health says NOT_SERVING while it is unusable.
    health_probe_seconds: float = Field(default=5.0, gt=0)
    # Server processes sharing the listening port; more than 1 uses more cores of one host.
    workers: int = Field(default=1, ge=1, le=64)
    # Seconds in-flight RPCs get to finish after SIGTERM.
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    # Ed25519 private key (PEM, PKCS8) that signs checkpoints: a file, or the PEM text itself.
    # Never stored in the database; without one, checkpoint RPCs are refused.
    signing_key_file: Path | None = None
    signing_key: SecretStr | None = None
    # Append-only JSON Lines copy of every new checkpoint (an external witness to ship
    # elsewhere); <data_dir>/witness/checkpoints.jsonl when unset.
    witness_file: Path | None = None
    # The name of this deployment's log (docs/witness.md): the key name of its checkpoints'
    # signatures, and the origin of a tenant's checkpoints is `<trail_origin>/<tenant>`. No
    # space, no `+`; `aval-<key id>` when unset, stable as long as the signing key is.
    trail_origin: str | None = None
    # The witnesses (another authority's `aval witness serve`, or any C2SP tlog witness) each
    # new checkpoint is submitted to, for their cosignatures (docs/witness.md): a YAML file of
    # name, url and verifier key. Not to be confused with witness_file, a local copy. Each
    # request may take witness_timeout_seconds; a failed one is tried witness_attempts times.
    witnesses_file: Path | None = None
    witness_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    witness_attempts: int = Field(default=3, ge=1, le=20)
    # Seconds between two passes that submit again the latest checkpoints a witness has not
    # cosigned (after it was down, or the server restarted); the first pass runs at start-up.
    witness_catch_up_seconds: float = Field(default=60.0, gt=0)
    # Seconds between automatic checkpoints of the tenants with new events; 0 disables them.
    # Short, so that what the service writes is signed within seconds (docs/signing.md).
    checkpoint_interval_seconds: float = Field(default=2.0, ge=0)
    # Seconds between two passes of the checkpoints' retention, which deletes the checkpoints
    # its rule drops from the database and the witness file (docs/signing.md); 0 disables it.
    checkpoint_thinning_interval_seconds: float = Field(default=300.0, ge=0)
    # The operator's AI egress file: per tenant, the secrets its AI systems may use (a name
    # -> an environment variable) and the endpoints they may reach (service/egress_file.py).
    # Without one, no AI system may reach any endpoint nor use any secret.
    ai_egress_file: Path | None = None
    # Outcome webhooks (service/webhooks/): how often the outbox is polled, how long one POST
    # may take, the backoff between attempts (exponential from base to max, with jitter), and
    # when an outcome is given up (dead): after so many attempts or so long after the decision.
    webhook_poll_seconds: float = Field(default=1.0, gt=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    webhook_retry_base_seconds: float = Field(default=10.0, gt=0)
    webhook_retry_max_seconds: float = Field(default=3600.0, gt=0)
    webhook_max_attempts: int = Field(default=20, ge=1)
    webhook_max_age_seconds: float = Field(default=3 * 86400.0, gt=0)
    # The server's event loop: uvloop (libuv; about a tenth less CPU per call here) or the
    # standard library's asyncio loop.
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    # TLS of the gRPC port: the server's certificate (PEM, its chain after it) and private key
    # (PEM, unencrypted; never logged). Without them the port serves plaintext, which is
    # allowed only on loopback unless allow_plaintext is set.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # CA certificates (PEM) that issue the callers' client certificates: when set, every caller
    # must present one they issued (mutual TLS); the principals file maps them to principals.
    tls_client_ca_file: Path | None = None
    # Serve plaintext on a non-loopback address (behind a proxy or mesh that terminates TLS).
    allow_plaintext: bool = False
    # The OpenID Connect file: identity providers people sign in with, and the roles their
    # tokens' claims give per tenant (service/oidc, docs/identity.md). Without one, only the
    # principals file's tokens are accepted.
    oidc_file: Path | None = None
    # The people directory (service/people): display names of people signed in through OpenID
    # Connect, rewritten at most every people_refresh_seconds per person, deleted once not
    # seen for people_retention_months (checked every people_purge_interval_seconds).
    people_retention_months: int = Field(default=12, ge=1, le=120)
    people_refresh_seconds: float = Field(default=3600.0, gt=0)
    people_purge_interval_seconds: float = Field(default=3600.0, gt=0)
    # The HTTP/JSON door (Connect protocol, service/edge/door): HOST:PORT it listens on; off
    # when unset (`aval serve --demo`: the gRPC host, port 8080). It serves TLS with the gRPC
    # port's certificate (tls_cert_file, tls_key_file), and plaintext only on loopback unless
    # allow_plaintext.
    http_listen: str | None = None
    # The web console of supervisors and inspectors (aval/console): where it listens (on by
    # default in the demo), and its file (authority, sign-in, sessions; the demo's commune
    # when unset in the demo). Same TLS rules as the HTTP door.
    console_listen: str | None = None
    console_file: Path | None = None
    # Months the access journal keeps each read (CNIL deliberation 2021-122: 6 to 12).
    access_journal_retention_months: int = 12
    # Seconds between purges of the access journal's rows past their retention.
    access_journal_purge_interval_seconds: float = Field(default=3600.0, gt=0)
    # Tests only: a file of seconds added to the clock, so an end-to-end test makes a deadline
    # pass without sleeping; refused unless listening on loopback (see clock.FileClock).
    test_clock_file: Path | None = None

    @property
    def claim_max_hold(self) -> float:
        """The longest hold of a claim, in seconds (`claim_max_hold_seconds` or 4 leases)."""
        return self.claim_max_hold_seconds or 4 * self.claim_lease_seconds

    @field_validator("access_journal_retention_months", mode="before")
    @classmethod
    def _retention_6_to_12(cls, value: object) -> int:
        text = str(value).strip()
        if not text.lstrip("-").isdigit() or not 6 <= int(text) <= 12:
            raise ValueError(
                f"{text!r} months is not what CNIL deliberation 2021-122 allows for an access "
                "journal; set AVAL_ACCESS_JOURNAL_RETENTION_MONTHS to a whole number from 6 to 12"
            )
        return int(text)

    @field_validator(
        "signing_key_file",
        "signing_key",
        "witness_file",
        "trail_origin",
        "witnesses_file",
        "claim_max_hold_seconds",
        "ai_egress_file",
        "tls_cert_file",
        "tls_key_file",
        "tls_client_ca_file",
        "oidc_file",
        "http_listen",
        "console_listen",
        "console_file",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_serializer("signing_key", when_used="json")
    def _signing_key_for_workers(self, value: SecretStr | None) -> str | None:
        # The worker processes of `--workers N` receive the settings as JSON (service/workers.py)
        # over a pipe; everywhere else (repr, logs) the key stays masked.
        return None if value is None else value.get_secret_value()
