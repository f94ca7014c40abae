"""What every console response carries, and what every form post must prove.

- Headers: a Content-Security-Policy with no inline script, style or handler (scripts and
  styles are files of the console's own origin), no framing, no referrer beyond the console
  (`no-referrer` would make browsers send `Origin: null` and defeat the origin check), no
  caching of pages (they hold personal data), HSTS behind TLS.
- CSRF: a POST is accepted only with the session's CSRF token in its form (a random value per
  session, compared in constant time), from the console's own origin when the browser says
  where it comes from (`Origin`, else `Sec-Fetch-Site`). Before sign-in, the token is a
  random value the browser holds in a cookie and repeats in the form (double submit).
- Server-Timing: the time the console took to start its answer (no personal data).
- Text: every value a template prints is escaped (autoescape), and characters that are
  invisible or reorder text (controls, bidi marks, zero-width characters…) are written as
  visible escapes, so that citizen text can neither run as markup nor hide or reorder words.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from markupsafe import Markup

from aval.texts.formatting import escape_char

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
# Characters kept as they are although str.isprintable() says otherwise: layout, and the
# no-break spaces of French typography (they show as spaces; they neither hide nor reorder).
_LAYOUT = {"\n", "\t", "\u00a0", "\u202f"}


def visible(value: object) -> object:
    """What a template prints: strings with invisible characters made visible; markup the
    console built itself (Markup) as it is; other values untouched (escaped later)."""
    if isinstance(value, Markup) or not isinstance(value, str):
        return value
    if value.isprintable():
        return value
    return "".join(c if c.isprintable() or c in _LAYOUT else escape_char(c) for c in value)


class SecurityHeaders:
    """ASGI middleware adding the console's headers to every HTTP response."""

    def __init__(self, app: ASGIApp, *, secure: bool) -> None:
        self.app, self.secure = app, secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                # The time the console took until the response started (gateway calls and
                # rendering included): what the benchmark reads (tests/benchmarks).
                took = (time.perf_counter() - started) * 1000
                headers.append((b"server-timing", f"app;dur={took:.1f}".encode()))
                names = {name.lower() for name, _ in headers}
                extra = [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
                ]
                if b"cache-control" not in names:
                    extra.append((b"cache-control", b"no-store"))
                if self.secure:
                    extra.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = headers + extra
            await send(message)

        await self.app(scope, receive, with_headers)


def same_origin(headers: Any, host: str) -> bool:
    """Whether a POST's browser-given provenance allows it (absent provenance is left to the
    CSRF token)."""
    origin = headers.get("origin")
    # `Origin: null` (a browser under a `no-referrer` policy, a sandboxed document) says
    # nothing: Sec-Fetch-Site, which pages cannot forge, then says where the post is from.
    if origin is not None and origin != "null":
        return bool(origin.split("://", 1)[-1] == host)
    site = headers.get("sec-fetch-site")
    return site in (None, "same-origin", "none")
