"""Client certificates as principals: how the principals file names one (subject, fingerprint)
and how a certificate a caller presented is matched against those names."""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class CertificateSpec(BaseModel):
    """The client certificate that proves a principal: its subject, its fingerprint, or both
    (then the certificate must match both)."""

    model_config = ConfigDict(extra="forbid")
    # As RFC 4514 writes it, most specific first: "CN=app-urbanisme,O=Ville-A".
    subject: str | None = Field(default=None, min_length=1, max_length=1000)
    # SHA-256 of the certificate's DER, as `openssl x509 -fingerprint -sha256` prints it or bare.
    sha256: str | None = None

    @field_validator("subject")
    @classmethod
    def _rfc4514(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            name = x509.Name.from_rfc4514_string(value)
        except ValueError:
            raise ValueError(
                "not a distinguished name as RFC 4514 writes it (TYPE=value, comma-separated, "
                "no space after the commas)"
            ) from None
        if not len(name):
            raise ValueError("an empty distinguished name")
        return name.rfc4514_string()  # one spelling: spaces and the case of attribute names

    @field_validator("sha256", mode="before")
    @classmethod
    def _fingerprint(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.replace(":", "").lower()
            if not re.fullmatch(r"[0-9a-f]{64}", value):
                raise ValueError("a SHA-256 fingerprint is 64 hexadecimal digits")
        return value

    @model_validator(mode="after")
    def _something(self) -> CertificateSpec:
        if self.subject is None and self.sha256 is None:
            raise ValueError("a certificate is named by its subject, its sha256, or both")
        return self


@dataclass(frozen=True)
class PresentedCertificate:
    """What of a caller's certificate names it: its subject (RFC 4514) and fingerprint."""

    subject: str
    sha256: str

    @classmethod
    def of_pem(cls, pem: str) -> PresentedCertificate | None:
        """The names of a PEM certificate, or None when it cannot be read."""
        return _names_of(pem)

    @classmethod
    def _parse(cls, pem: str) -> PresentedCertificate | None:
        try:
            certificate = x509.load_pem_x509_certificate(pem.encode("ascii", "replace"))
        except ValueError:
            return None
        der = certificate.public_bytes(serialization.Encoding.DER)
        return cls(certificate.subject.rfc4514_string(), hashlib.sha256(der).hexdigest())

    def matches(self, subject: str | None, sha256: str | None) -> bool:
        """Whether it is the certificate so named (every name given must match)."""
        if subject is None and sha256 is None:
            return False
        return (subject is None or subject == self.subject) and (
            sha256 is None or sha256 == self.sha256
        )


@functools.lru_cache(maxsize=256)
def _names_of(pem: str) -> PresentedCertificate | None:
    # A caller sends its certificate once per connection but calls many times on it.
    return PresentedCertificate._parse(pem)
