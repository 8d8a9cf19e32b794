"""Sign-in, sign-out and the session middleware of the dashboard (``/ui``).

A participant signs in with its id and its API token (the credential
``perci-sim init`` gave it); the broker answers with a session cookie
(sessions.py): ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other
site sends it), ``Secure`` over HTTPS, ``Path=/ui``.  Every state-changing request
must carry the session's CSRF token; a refused one is ``csrf_failed`` 403.
"""

from __future__ import annotations

import time

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from perci_sim.api.keys import DATABASE, PARTICIPANT, SIGNER
from perci_sim.api.problems import Unauthenticated
from perci_sim.domain.errors import PerciError
from perci_sim.services.errors import Forbidden
from perci_sim.storage.dashboard_logouts import is_logged_out, record_logout
from perci_sim.storage.registry import (
    ParticipantInfo,
    participant_by_token,
    registry_snapshot,
    token_hash,
)
from perci_sim.web.i18n import Catalogue, catalogue, negotiate
from perci_sim.web.pages import READ_ONLY_ROLES, login_page
from perci_sim.web.sessions import (
    CSRF_HEADER,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Session,
    SessionCodec,
)

__all__ = [
    "CODEC",
    "DASHBOARD_ROLES",
    "READ_ONLY_ROLES",
    "SESSION",
    "CsrfFailed",
    "codec_of",
    "language_of",
    "login",
    "login_form",
    "logout",
    "session_auth",
]

log = structlog.get_logger(__name__)

#: Roles the dashboard has a view for (TCO: issuing authorities, HSPs; drills; readers).
DASHBOARD_ROLES = ("authority", "hsp", "facilitator", *READ_ONLY_ROLES)
SESSION = web.RequestKey("perci_web_session", Session)
CODEC = web.AppKey("perci_web_codec", dict[str, SessionCodec])
#: Paths under /ui reachable without a session.
_OPEN_PATHS = ("/ui/login",)
_OPEN_PREFIXES = ("/ui/static/",)
#: The one state-changing request a read-only role makes: ending its own session.
_READ_ONLY_WRITES = ("/ui/logout",)
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
_SESSION_PURPOSE = "perci-sim web session v1"


class CsrfFailed(PerciError):
    """A state-changing dashboard request without the session's CSRF token."""

    code = "csrf_failed"
    http_status = 403
    title = "Missing or wrong CSRF token"


def codec_of(request: web.Request) -> SessionCodec:
    """The session codec, keyed by the broker key (created on first use)."""
    holder = request.app[CODEC]
    codec = holder.get("codec")
    if codec is None:
        codec = SessionCodec(request.config_dict[SIGNER].derive_secret(_SESSION_PURPOSE))
        holder["codec"] = codec
    return codec


def language_of(request: web.Request) -> Catalogue:
    """The catalogue for the browser's ``Accept-Language``."""
    return catalogue(negotiate(request.headers.get("Accept-Language")))


async def _participant(request: web.Request, session: Session) -> ParticipantInfo | None:
    """The session's participant while the token it was opened with is still theirs."""
    snapshot = await registry_snapshot(request.config_dict[DATABASE])
    participant = snapshot.participants.get(session.participant_id)
    if participant is None:
        return None
    codec = codec_of(request)
    for digest, owner in snapshot.by_token.items():
        if owner == participant.id and codec.token_binding(digest) == session.token_binding:
            return participant
    return None  # the token was rotated or revoked: the session ends with it


def _wants_page(request: web.Request) -> bool:
    return request.method in _SAFE_METHODS and not request.path.startswith(
        ("/ui/api/", "/ui/events")
    )


@web.middleware
async def session_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Resolve the session cookie to a participant; check CSRF on state-changing requests."""
    if request.path in _OPEN_PATHS or request.path.startswith(_OPEN_PREFIXES):
        return await handler(request)
    if request.match_info.http_exception is not None:
        return await handler(request)
    session = await open_session(request, request.cookies.get(SESSION_COOKIE))
    participant = None if session is None else await _participant(request, session)
    if session is None or participant is None:
        if _wants_page(request):
            raise web.HTTPSeeOther("/ui/login")
        raise Unauthenticated("sign in at /ui/login")
    if request.method not in _SAFE_METHODS:
        supplied = request.headers.get(CSRF_HEADER)
        if supplied is None and request.content_type == "application/x-www-form-urlencoded":
            supplied = str((await request.post()).get("csrf_token", ""))
        if not codec_of(request).check_csrf(session.csrf_token, supplied):
            raise CsrfFailed("send the page's CSRF token (X-CSRF-Token or csrf_token)")
        if participant.role in READ_ONLY_ROLES and request.path not in _READ_ONLY_WRITES:
            # Before any draft or document service: the view of these roles only reads.
            raise Forbidden(
                f"the dashboard is read-only for the role {participant.role!r}: "
                "send documents with the SDK or the CLI"
            )
    request[SESSION] = session
    request[PARTICIPANT] = participant
    structlog.contextvars.bind_contextvars(participant=participant.id, via="dashboard")
    return await handler(request)


def _cookie_secure(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "") == "https"


def _login_response(
    request: web.Request, *, status: int = 200, participant_id: str = "", error: str = "",
    notice: str = "",
) -> web.Response:  # fmt: skip
    csrf = SessionCodec.new_login_csrf()
    page = login_page(
        language_of(request), csrf=csrf, participant_id=participant_id, error=error, notice=notice
    )
    response = web.Response(text=page, content_type="text/html", status=status)
    response.set_cookie(
        LOGIN_CSRF_COOKIE, csrf, httponly=True, samesite="Strict", path="/ui/login",
        secure=_cookie_secure(request), max_age=3600,
    )  # fmt: skip
    return response


async def login_form(request: web.Request) -> web.Response:
    """GET /ui/login."""
    notice = language_of(request).t("login.signed_out") if "signed_out" in request.query else ""
    return _login_response(request, notice=notice)


async def login(request: web.Request) -> web.StreamResponse:
    """POST /ui/login: participant id + API token -> a session cookie."""
    cat = language_of(request)
    form = await request.post()
    participant_id = str(form.get("participant_id", ""))[:63].strip()
    token = str(form.get("token", "")).strip()
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not SessionCodec.check_csrf(expected, str(form.get("csrf_token", ""))):
        return _login_response(
            request, status=403, participant_id=participant_id, error=cat.t("login.csrf")
        )
    found = await participant_by_token(request.config_dict[DATABASE], token) if token else None
    if found is None or found.id != participant_id:
        log.info("dashboard_sign_in_refused", participant=participant_id)
        return _login_response(
            request, status=401, participant_id=participant_id, error=cat.t("login.failed")
        )
    if found.role not in DASHBOARD_ROLES:
        return _login_response(
            request,
            status=403,
            participant_id=participant_id,
            error=cat.t("login.role_unsupported"),
        )
    codec = codec_of(request)
    cookie, _ = codec.issue(found.id, token_hash(token))
    response = web.HTTPSeeOther("/ui/")
    response.set_cookie(
        SESSION_COOKIE, cookie, httponly=True, samesite="Strict", path="/ui",
        secure=_cookie_secure(request), max_age=int(codec.ttl_s),
    )  # fmt: skip
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/ui/login")
    log.info("dashboard_signed_in", participant=found.id, role=found.role)
    raise response


async def open_session(request: web.Request, cookie: str | None) -> Session | None:
    """The session of ``cookie`` unless it is forged, expired or logged out on any replica."""
    session = codec_of(request).open(cookie)
    if session is None or await is_logged_out(request.config_dict[DATABASE], session.session_id):
        return None
    return session


async def logout(request: web.Request) -> web.StreamResponse:
    """POST /ui/logout (CSRF-checked by the middleware): end the session on every replica."""
    session: Session = request[SESSION]
    codec_of(request).revoke(session)
    await record_logout(
        request.config_dict[DATABASE],
        session_id=session.session_id,
        participant_id=session.participant_id,
        expires_at=session.expires_at,
        now=time.time(),
    )
    response = web.HTTPSeeOther("/ui/login?signed_out=1")
    response.del_cookie(SESSION_COOKIE, path="/ui")
    log.info("dashboard_signed_out", participant=request[PARTICIPANT].id)
    raise response
