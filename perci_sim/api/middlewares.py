"""Request id, problem mapping, body size limit and bearer authentication."""

from __future__ import annotations

import time
import uuid

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from perci_sim.api.keys import DATABASE, PARTICIPANT, REQUEST_ID, SETTINGS
from perci_sim.api.problems import (
    PayloadTooLarge,
    Unauthenticated,
    http_error_problem,
    perci_error_problem,
    problem_response,
)
from perci_sim.api.refusals import sign_refusal
from perci_sim.domain.errors import PerciError
from perci_sim.storage.registry import participant_by_token, registry_scope

__all__ = ["BATCH_PATHS", "DASHBOARD_PREFIX", "PUBLIC_PATHS", "middlewares"]

log = structlog.get_logger(__name__)

#: Routes that need no bearer token (docs/API.md "Conventions").
PUBLIC_PATHS = frozenset({"/v1/health", "/v1/clock", "/v1/broker/jwks"})
#: The web dashboard (perci_sim/web) authenticates its own requests: session cookie + CSRF.
DASHBOARD_PREFIX = "/ui/"
#: Routes whose body may reach ``max_batch_body_bytes`` (a Referral Action Day's batches).
BATCH_PATHS = frozenset({"/v1/referrals/batch", "/v1/referral-outcomes/batch"})
_MAX_REQUEST_ID = 128


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bind a request id (X-Request-ID, or a fresh one) and log one line per request."""
    supplied = request.headers.get("X-Request-ID", "")
    request_id = supplied[:_MAX_REQUEST_ID] if supplied.isprintable() and supplied else ""
    request_id = request_id or uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    started = time.perf_counter()
    response = await handler(request)
    if not response.prepared:
        response.headers["X-Request-ID"] = request_id
    log.info(
        "request_handled",
        method=request.method,
        path=request.path,
        status=response.status,
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
    )
    return response


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render every refusal as application/problem+json, signed by the broker
    (api/refusals.py); never leak internals."""
    response = await _problem_of(request, handler)
    sign_refusal(request, response)
    return response


async def _problem_of(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except PerciError as exc:
        log.info("request_refused", code=exc.code, status=exc.http_status, detail=exc.detail)
        response = perci_error_problem(exc)
        if exc.http_status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="perci-sim"'
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 413:
            return perci_error_problem(PayloadTooLarge(exc.text or "request body too large"))
        return http_error_problem(exc)
    except ConnectionResetError:
        # The client hung up before its request was read: nothing was accepted, so
        # nothing to answer and not a broker failure. The status only feeds the log.
        log.info("client_disconnected", method=request.method, path=request.path)
        return problem_response(
            status=400,
            code="client_disconnected",
            title="Client disconnected",
            detail="the connection closed before the request was complete",
        )
    except Exception:
        log.exception("request_failed", method=request.method, path=request.path)
        return problem_response(
            status=500,
            code="internal_error",
            title="Internal error",
            detail="the broker could not handle this request; it has been logged",
        )


@web.middleware
async def body_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a declared body larger than the route's limit before reading it (413).

    The limit is ``max_body_bytes``, or ``max_batch_body_bytes`` on the batch routes
    (the application's ``client_max_size``, which also bounds an undeclared body, is
    raised for those requests only).
    """
    settings = request.app[SETTINGS]
    limit = settings.max_body_bytes
    if request.method == "POST" and request.path in BATCH_PATHS:
        limit = settings.max_batch_body_bytes
        if limit != request.client_max_size:
            request = request.clone(client_max_size=limit)
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"the body is {request.content_length} bytes; the limit is {limit}")
    return await handler(request)


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bearer-token authentication for every route but the public ones."""
    if request.path in PUBLIC_PATHS or request.match_info.http_exception is not None:
        return await handler(request)
    if request.path.startswith(DASHBOARD_PREFIX):
        return await handler(request)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send 'Authorization: Bearer <token>'")
    db = request.app[DATABASE]
    # The registry cache is validated once here (one single-row read of
    # registry_version) and serves every participant and key lookup of this request.
    async with registry_scope(db):
        participant = await participant_by_token(db, token.strip())
        if participant is None:
            raise Unauthenticated("the bearer token is not valid")
        request[PARTICIPANT] = participant
        structlog.contextvars.bind_contextvars(participant=participant.id)
        return await handler(request)


def middlewares() -> list[Middleware]:
    """The middlewares in order, outermost first."""
    return [request_context, problems, body_limit, authenticate]
