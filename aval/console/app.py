"""The console's web application: sign-in and sign-out, sessions, the frame every page shares,
and the helpers the pages use (aval/console/pages/) to call the gateway as the person.

The console is a client of the gateway. It reaches the gateway over the server's internal Unix
socket with the signed-in person's own credentials (their OpenID Connect access token, or in
the demo their principal's token), so that every rule — who may see, claim, decide — is the
gateway's, applied to that person. A refusal is shown as the gateway worded it.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import grpc
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from aval.clients.sdk.client import AsyncClient
from aval.clients.sdk.errors import AvalError
from aval.console.config import ConsoleConfig
from aval.console.oidc_client import OidcClient, SignInFailed
from aval.console.security import SecurityHeaders, same_origin, visible
from aval.console.sessions import Session, SessionStore
from aval.texts import catalogue
from aval.verifier.signed_note import VerifierKey

log = logging.getLogger("aval.console")

TEXTS = catalogue.load("console")
# A form post larger than this is refused before it is read.
MAX_FORM_BYTES = 256 * 1024
# An OpenID Connect access token is refreshed when it has less than this many seconds left.
REFRESH_MARGIN_SECONDS = 30
ROLE_NAMES = {
    "fr": {
        "supervisor": "superviseur",
        "inspector": "inspecteur",
        "admin": "administrateur",
        "privacy_officer": "délégué à la protection des données",
        "application": "application",
    },
    "en": {},
}

PageRoutes = Callable[["Console"], Sequence[BaseRoute]]


@dataclass(frozen=True)
class DemoPerson:
    """Someone of the demo, whose principal token the console may sign in with (demo only)."""

    id: str
    name: str
    roles: tuple[str, ...]
    token: str


class Refused(Exception):
    """A request the console turns away before calling the gateway (CSRF, size)."""

    def __init__(self, status: int, key: str) -> None:
        super().__init__(key)
        self.status, self.key = status, key


class Console:
    def __init__(
        self,
        config: ConsoleConfig,
        gateway: AsyncClient,
        *,
        secure: bool,
        demo_people: Sequence[DemoPerson] = (),
        oidc: OidcClient | None = None,
        pages: Sequence[PageRoutes] = (),
        witnesses: Sequence[VerifierKey] = (),
    ) -> None:
        self.config, self.gateway, self.secure = config, gateway, secure
        # The keys of the witnesses the deployment submits its checkpoints to
        # (AVAL_WITNESSES_FILE): the proofs' cosignatures are checked against them.
        self.witnesses = tuple(witnesses)
        self.demo_people = tuple(demo_people)
        self.oidc = oidc or OidcClient()
        self.sessions = SessionStore(config.idle_seconds, config.max_seconds)
        self._pages = tuple(pages)
        self._paths: set[str] = set()
        prefix = "__Host-" if secure else ""
        self.session_cookie = f"{prefix}aval-session"
        self.presession_cookie = f"{prefix}aval-presession"
        self.language_cookie = "aval-lang"
        self.signin_cookie = "aval-signin"
        self.templates = Environment(
            loader=PackageLoader("aval.console", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            finalize=visible,
            enable_async=False,
        )

    # -- the application ---------------------------------------------------------------------

    def app(self) -> Callable[..., Awaitable[None]]:
        routes: list[BaseRoute] = [
            Route("/", self.home, methods=["GET"]),
            Route("/connexion", self.sign_in_page, methods=["GET"]),
            Route("/connexion/demo", self.sign_in_demo, methods=["POST"]),
            Route("/connexion/jeton", self.sign_in_token, methods=["POST"]),
            Route("/connexion/oidc/{key}", self.sign_in_oidc, methods=["GET"]),
            Route("/connexion/retour", self.sign_in_return, methods=["GET"]),
            Route("/deconnexion", self.sign_out, methods=["POST"]),
            Route("/langue", self.switch_language, methods=["POST"]),
            Route("/marque/logo", self.logo, methods=["GET"]),
            Route("/marque/couleurs.css", self.colors, methods=["GET"]),
            Route("/healthz", self.healthz, methods=["GET"]),
            Mount("/static", StaticFiles(packages=[("aval.console", "static")]), name="static"),
        ]
        for page in self._pages:
            routes.extend(page(self))
        self._paths = {str(getattr(r, "path", "")) for r in routes}
        app = Starlette(
            routes=routes,
            exception_handlers={
                HTTPException: self._http_error,
                Refused: self._refused,
                # A gateway refusal no page caught: shown as the gateway worded it. (Starlette
                # re-raises after an `Exception` handler, which resets the connection.)
                AvalError: self._failed,
                Exception: self._failed,
            },
        )
        return SecurityHeaders(app, secure=self.secure)

    async def aclose(self) -> None:
        await self.oidc.aclose()

    # -- helpers for pages -------------------------------------------------------------------

    def language(self, request: Request, session: Session | None = None) -> str:
        if session is not None:
            return session.language
        chosen = request.cookies.get(self.language_cookie)
        return chosen if chosen in ("fr", "en") else "fr"

    def text(self, language: str) -> catalogue.Texts:
        return catalogue.Texts(TEXTS, TEXTS.language(language))

    def session_of(self, request: Request) -> Session | None:
        return self.sessions.get(request.cookies.get(self.session_cookie))

    def signed_in(self, request: Request, role: str | None = None) -> Session | Response:
        """The request's live session (with `role` if given), else where to go instead: the
        sign-in page, or a 403 page naming the missing role."""
        session = self.session_of(request)
        if session is None:
            return RedirectResponse("/connexion?fin=1", status_code=303)
        if role is not None and role not in session.roles:
            return self.render(
                request,
                "error.html",
                session,
                status=403,
                message_key="home.no_role",
                message_params={"tenant": session.tenant},
            )
        return session

    async def gateway_for(self, session: Session) -> AsyncClient:
        """The gateway client calling as the session's person (refreshing their access token
        when it is about to expire)."""
        if (
            session.token_expires is not None
            and session.refresh_token
            and session.token_expires - time.monotonic() < REFRESH_MARGIN_SECONDS
        ):
            option = self.config.option(session.sign_in)
            if option is not None:
                try:
                    tokens = await self.oidc.refresh(option, session.refresh_token)
                except SignInFailed as exc:
                    log.warning("refreshing a console session's token failed: %s", exc)
                else:
                    session.token = tokens.access_token
                    session.refresh_token = tokens.refresh_token or session.refresh_token
                    if tokens.expires_in is not None:
                        session.token_expires = time.monotonic() + tokens.expires_in
        return self.gateway.as_caller(session.token, session.language)

    async def form(self, request: Request, session: Session | None) -> FormData:
        """The posted form, once its size, origin and CSRF token are checked.

        Raises:
            Refused: too large (413), or not from the console (403).
        """
        length = request.headers.get("content-length")
        if length is None or not length.isdigit() or int(length) > MAX_FORM_BYTES:
            raise Refused(413, "error.too_large")
        if not same_origin(request.headers, request.headers.get("host", "")):
            raise Refused(403, "error.csrf")
        form = await request.form(max_files=0, max_fields=200, max_part_size=MAX_FORM_BYTES)
        offered = form.get("csrf")
        token = offered if isinstance(offered, str) else None
        if session is not None:
            if not session.csrf_matches(token):
                raise Refused(403, "error.csrf")
        else:
            cookie = request.cookies.get(self.presession_cookie, "")
            if not cookie or not token or not secrets.compare_digest(cookie, token):
                raise Refused(403, "error.csrf")
        return form

    def render(
        self,
        request: Request,
        template: str,
        session: Session | None,
        *,
        status: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        language = self.language(request, session)
        presession = None
        if session is None:
            presession = request.cookies.get(self.presession_cookie) or secrets.token_urlsafe(32)
        body = self.templates.get_template(template).render(
            t=self.text(language),
            lang=language,
            authority=self.config.authority,
            has_logo=self.config.logo is not None,
            session=session,
            csrf=session.csrf if session is not None else presession,
            roles_shown=self.roles_shown(session, language) if session else "",
            path=request.url.path,
            **context,
        )
        response = HTMLResponse(body, status_code=status)
        if presession is not None and presession != request.cookies.get(self.presession_cookie):
            self._cookie(response, self.presession_cookie, presession, max_age=3600)
        return response

    def gateway_error(
        self, request: Request, session: Session, error: AvalError, *, status: int | None = None
    ) -> Response:
        """A page saying what the gateway refused, in its own words; when it no longer accepts
        the person's credentials (an expired access token), the session ends and the person
        is sent to sign in again."""
        if error.code == grpc.StatusCode.UNAUTHENTICATED:
            self.sessions.end(request.cookies.get(self.session_cookie))
            response = RedirectResponse("/connexion?fin=1", status_code=303)
            response.delete_cookie(self.session_cookie)
            return response
        code = status or _HTTP_STATUS.get(error.code, 502)
        return self.render(
            request,
            "error.html",
            session,
            status=code,
            message_key="error.gateway",
            message_params={"message": error.localized or error.message},
        )

    def roles_shown(self, session: Session, language: str) -> str:
        names = ROLE_NAMES.get(language, {})
        return ", ".join(names.get(r, r) for r in sorted(session.roles))

    def _cookie(
        self,
        response: Response,
        name: str,
        value: str,
        *,
        max_age: int | None = None,
        samesite: str = "lax",
        path: str = "/",
    ) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=path,
            secure=self.secure,
            httponly=True,
            samesite=samesite,  # type: ignore[arg-type]
        )

    # -- routes --------------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        session = self.session_of(request)
        if session is None:
            return RedirectResponse("/connexion", status_code=303)
        if session.is_supervisor and self._has("/file"):
            return RedirectResponse("/file", status_code=303)
        if session.is_inspector and self._has("/inspection"):
            return RedirectResponse("/inspection", status_code=303)
        return self.render(request, "home.html", session)

    def _has(self, path: str) -> bool:
        return path in self._paths

    async def sign_in_page(self, request: Request) -> Response:
        session = self.session_of(request)
        if session is not None:
            return RedirectResponse("/", status_code=303)
        notice = None
        if request.query_params.get("fin"):
            notice = "signin.expired"
        elif request.query_params.get("sortie"):
            notice = "signin.signed_out"
        elif request.query_params.get("echec"):
            notice = "signin.failed"
        return self.render(
            request,
            "sign_in.html",
            None,
            notice=notice,
            options=self.config.sign_in,
            demo_people=self.demo_people,
            token_sign_in=self.config.token_sign_in,
        )

    async def sign_in_demo(self, request: Request) -> Response:
        form = await self.form(request, None)
        wanted = form.get("person")
        person = next((p for p in self.demo_people if p.id == wanted), None)
        if person is None:
            raise HTTPException(404)
        return await self._open_session(request, person.token, sign_in="demo")

    async def sign_in_token(self, request: Request) -> Response:
        """A person of the principals file signs in with their personal token (when the
        console file allows it); the gateway says whether it is anyone's."""
        if not self.config.token_sign_in:
            raise HTTPException(404)
        form = await self.form(request, None)
        token = form.get("jeton")
        if not isinstance(token, str) or not token.strip() or len(token) > 4096:
            raise HTTPException(400)
        return await self._open_session(request, token.strip(), sign_in="token")

    async def sign_in_oidc(self, request: Request) -> Response:
        option = self.config.option(request.path_params["key"])
        if option is None:
            raise HTTPException(404)
        redirect_uri = str(request.url_for("sign_in_return"))
        try:
            key, url = await self.oidc.start(option, redirect_uri)
        except SignInFailed as exc:
            log.warning("console sign-in through %s could not start: %s", option.key, exc)
            return RedirectResponse("/connexion?echec=1", status_code=303)
        response = RedirectResponse(url, status_code=303)
        self._cookie(response, self.signin_cookie, key, max_age=600, path="/connexion")
        return response

    async def sign_in_return(self, request: Request) -> Response:
        params = request.query_params
        pending = self.oidc.take(request.cookies.get(self.signin_cookie), params.get("state"))
        code = params.get("code")
        option = self.config.option(pending.option) if pending else None
        if pending is None or option is None or not code:
            log.info("console sign-in return refused (unknown or replayed state, or an error)")
            return RedirectResponse("/connexion?echec=1", status_code=303)
        try:
            tokens = await self.oidc.exchange(option, pending, code)
        except SignInFailed as exc:
            log.warning("console sign-in through %s failed: %s", option.key, exc)
            return RedirectResponse("/connexion?echec=1", status_code=303)
        expires = None if tokens.expires_in is None else time.monotonic() + tokens.expires_in
        response = await self._open_session(
            request,
            tokens.access_token,
            sign_in=option.key,
            refresh_token=tokens.refresh_token,
            token_expires=expires,
        )
        response.delete_cookie(self.signin_cookie, path="/connexion")
        return response

    async def _open_session(self, request: Request, token: str, **extra: Any) -> Response:
        """Asks the gateway who the token is, then opens a session for them."""
        language = self.language(request)
        try:
            me = await self.gateway.as_caller(token, language).whoami()
        except AvalError as error:
            return self.render(
                request,
                "sign_in.html",
                None,
                status=_HTTP_STATUS.get(error.code, 502),
                refusal=error.localized or error.message,
                options=self.config.sign_in,
                demo_people=self.demo_people,
                token_sign_in=self.config.token_sign_in,
            )
        session_id, _ = self.sessions.create(
            principal_id=me.id,
            tenant=me.tenant,
            roles=frozenset(me.roles),
            display_name=me.display_name or me.id,
            token=token,
            language=language,
            **extra,
        )
        log.info("console session opened (%s)", extra.get("sign_in"))
        response = RedirectResponse("/", status_code=303)
        self._cookie(response, self.session_cookie, session_id, max_age=self.config.max_seconds)
        response.delete_cookie(self.presession_cookie)
        return response

    async def sign_out(self, request: Request) -> Response:
        session = self.session_of(request)
        await self.form(request, session)
        self.sessions.end(request.cookies.get(self.session_cookie))
        response = RedirectResponse("/connexion?sortie=1", status_code=303)
        response.delete_cookie(self.session_cookie)
        return response

    async def switch_language(self, request: Request) -> Response:
        session = self.session_of(request)
        form = await self.form(request, session)
        chosen = form.get("langue")
        language = chosen if chosen in ("fr", "en") else "fr"
        if session is not None:
            session.language = language
        back = form.get("retour")
        target = back if isinstance(back, str) and _local_path(back) else "/"
        response = RedirectResponse(target, status_code=303)
        self._cookie(response, self.language_cookie, language, max_age=365 * 86400)
        return response

    async def logo(self, request: Request) -> Response:
        logo = self.config.logo
        if logo is None:
            raise HTTPException(404)
        return Response(
            logo.content,
            media_type=logo.media_type,
            headers={"cache-control": "public, max-age=3600"},
        )

    async def colors(self, request: Request) -> Response:
        """The authority's colours as CSS variables (checked for contrast at start-up)."""
        colors = self.config.authority.colors
        css = f":root {{ --primary: {colors.primary}; --on-primary: {colors.on_primary}; }}\n"
        return Response(
            css, media_type="text/css", headers={"cache-control": "public, max-age=3600"}
        )

    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok")

    # -- errors ----------------------------------------------------------------------------------

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        key = "error.not_found" if status == 404 else "error.title"
        return self.render(
            request, "error.html", self.session_of(request), status=status, message_key=key
        )

    async def _refused(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refused)
        return self.render(
            request,
            "error.html",
            self.session_of(request),
            status=exc.status,
            message_key=exc.key,
        )

    async def _failed(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, AvalError):
            session = self.session_of(request)
            if session is not None:
                return self.gateway_error(request, session, exc)
        log.exception("console page %s failed", request.url.path)
        return self.render(request, "error.html", None, status=500, message_key="error.title")


_HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


def _local_path(target: str) -> bool:
    """Whether `target` is a path of this site (no scheme, no host, no backslash trick)."""
    parts = urlsplit(target)
    return (
        target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not parts.scheme
        and not parts.netloc
    )
