"""Route handlers: parse the request, call one service, render its result (docs/API.md)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from perci_sim.api.feed import serve_feed
from perci_sim.api.keys import (
    BROKER,
    CLOCK,
    DATABASE,
    FEED_HUB,
    PARTICIPANT,
    SIGNER,
    SUBMITTED_JWS,
)
from perci_sim.api.problems import InvalidJson
from perci_sim.crypto.errors import SchemaViolationError
from perci_sim.domain.states import OrderState
from perci_sim.services import queries
from perci_sim.services.acknowledge import acknowledge
from perci_sim.services.advance_information import record_advance_information
from perci_sim.services.context import BrokerContext
from perci_sim.services.documents import DocumentResult, require_role
from perci_sim.services.issue_order import issue_order
from perci_sim.services.record_clarification import record_clarification
from perci_sim.services.record_feedback import record_feedback
from perci_sim.services.record_grounds_ceased import record_grounds_ceased
from perci_sim.services.record_impossibility import record_impossibility
from perci_sim.services.views import participant_view
from perci_sim.services.withdraw import withdraw
from perci_sim.storage.log import iso_ms
from perci_sim.storage.registry import ParticipantInfo, list_participants, set_webhook

__all__ = ["routes"]

OrderService = Callable[..., Awaitable[DocumentResult]]

#: POST /v1/orders/{order_id}/<document> → the service recording it.
ORDER_DOCUMENTS: dict[str, OrderService] = {
    "acknowledgement": acknowledge,
    "feedback": record_feedback,
    "impossibility": record_impossibility,
    "grounds-ceased": record_grounds_ceased,
    "clarification": record_clarification,
    "withdrawal": withdraw,
}


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259)")


async def _json_body(request: web.Request) -> Any:
    raw = await request.read()
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJson(f"the request body is not JSON: {exc}") from exc
    except RecursionError:
        # A nesting bomb ("[[[[…"): refused like any other unreadable body, not a 500.
        raise InvalidJson("the request body is nested too deeply") from None


async def _jws_body(request: web.Request) -> str:
    body = await _json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("jws"), str):
        raise SchemaViolationError(
            'the body must be {"jws": "<compact JWS>"}',
            [("/jws", "is required and must be a string")],
        )
    token = str(body["jws"])
    # A refusal of this request names the document it refuses (api/refusals.py hashes
    # it then: an accepted document costs nothing more).
    request[SUBMITTED_JWS] = token
    return token


def _int_query(request: web.Request, name: str, default: int, *, maximum: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= maximum:
        raise SchemaViolationError(
            f"query parameter {name!r} must be an integer from 0 to {maximum}",
            [(f"/{name}", f"query parameter: must be an integer from 0 to {maximum}")],
        )
    return value


def _document_response(result: DocumentResult) -> web.Response:
    body: dict[str, Any] = {"receipt": result.receipt}
    if result.order is not None:
        body = {"order": result.order, "receipt": result.receipt}
    # Idempotent replay: the original receipt, 200, nothing stored.
    return web.json_response(body, status=200 if result.replayed else 201)


def _broker(request: web.Request) -> BrokerContext:
    return request.app[BROKER]


def _me(request: web.Request) -> ParticipantInfo:
    return request[PARTICIPANT]


async def health(request: web.Request) -> web.Response:
    """GET /v1/health."""
    return web.json_response({"status": "ok"})


async def clock(request: web.Request) -> web.Response:
    """GET /v1/clock: the broker's (possibly simulated) time."""
    source = request.app[CLOCK]
    return web.json_response({"now": iso_ms(source.now()), "speed": source.speed})


async def jwks(request: web.Request) -> web.Response:
    """GET /v1/broker/jwks: the keys that verify receipts and webhook events."""
    return web.json_response(request.app[SIGNER].jwks())


async def participants(request: web.Request) -> web.Response:
    """GET /v1/participants: the public directory with keys (others' webhook URLs hidden)."""
    me_id = _me(request).id
    listed = await list_participants(request.app[DATABASE])
    views = [participant_view(p) for p in listed]
    for view in views:
        # A webhook URL may carry a secret: only its owner sees it.
        if view["id"] != me_id:
            view["webhook_url"] = None
    return web.json_response({"participants": views})


async def me(request: web.Request) -> web.Response:
    """GET /v1/participants/me."""
    return web.json_response(participant_view(_me(request)))


def _is_http_url(value: object) -> bool:
    if not isinstance(value, str) or len(value) > 2048:
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


async def put_webhook(request: web.Request) -> web.Response:
    """PUT /v1/participants/me/webhook: an HSP sets or clears its webhook URL."""
    participant = _me(request)
    require_role(participant, "hsp")
    body = await _json_body(request)
    url: object = body.get("url", ...) if isinstance(body, dict) else ...
    if url is not None and not _is_http_url(url):
        raise SchemaViolationError(
            'the body must be {"url": "<http(s) URL>" | null}',
            [("/url", "must be an absolute http or https URL, or null")],
        )
    updated = await set_webhook(
        request.app[DATABASE], participant.id, url if isinstance(url, str) else None
    )
    return web.json_response(participant_view(updated))


async def post_advance_information(request: web.Request) -> web.Response:
    """POST /v1/advance-information (TCO Art. 3(2))."""
    token = await _jws_body(request)
    result = await record_advance_information(
        ctx=_broker(request), participant=_me(request), token=token
    )
    return _document_response(result)


async def post_order(request: web.Request) -> web.Response:
    """POST /v1/orders: issue a removal order (Annex I)."""
    token = await _jws_body(request)
    result = await issue_order(ctx=_broker(request), participant=_me(request), token=token)
    return _document_response(result)


def _order_document(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    service = ORDER_DOCUMENTS[name]

    async def handler(request: web.Request) -> web.Response:
        token = await _jws_body(request)
        result = await service(
            ctx=_broker(request),
            participant=_me(request),
            order_id=request.match_info["order_id"],
            token=token,
        )
        return _document_response(result)

    handler.__doc__ = f"POST /v1/orders/{{order_id}}/{name}."
    return handler


async def get_orders(request: web.Request) -> web.Response:
    """GET /v1/orders?state=&limit=&offset=: the participant's own orders."""
    raw_state = request.query.get("state") or None
    state = None
    if raw_state is not None:
        try:
            state = OrderState(raw_state)
        except ValueError:
            raise SchemaViolationError(
                f"unknown state {raw_state!r}",
                [
                    (
                        "/state",
                        "query parameter: must be one of " + ", ".join(s.value for s in OrderState),
                    )
                ],
            ) from None
    orders = await queries.list_orders(
        request.app[DATABASE],
        _me(request),
        state=state,
        limit=_int_query(request, "limit", 100, maximum=queries.MAX_LIMIT),
        offset=_int_query(request, "offset", 0, maximum=10**9),
    )
    return web.json_response({"orders": orders})


async def get_order(request: web.Request) -> web.Response:
    """GET /v1/orders/{order_id}."""
    view = await queries.get_order(
        request.app[DATABASE], _me(request), request.match_info["order_id"]
    )
    return web.json_response(view)


async def get_history(request: web.Request) -> web.Response:
    """GET /v1/orders/{order_id}/history."""
    events = await queries.order_history(
        request.app[DATABASE], _me(request), request.match_info["order_id"]
    )
    return web.json_response({"events": events})


async def get_inbox(request: web.Request) -> web.Response:
    """GET /v1/inbox: open orders addressed to the HSP, earliest deadline first."""
    return web.json_response({"orders": await queries.inbox(request.app[DATABASE], _me(request))})


async def get_events(request: web.Request) -> web.Response:
    """GET /v1/events?after=&limit=: the poll feed."""
    after = _int_query(request, "after", 0, maximum=2**62)
    events = await queries.events_after(
        request.app[DATABASE],
        _me(request),
        after=after,
        limit=_int_query(request, "limit", 100, maximum=queries.MAX_LIMIT),
    )
    last = int(events[-1]["seq"]) if events else after
    return web.json_response({"events": events, "last_seq": last})


async def feed(request: web.Request) -> web.WebSocketResponse:
    """GET /v1/feed: WebSocket; replays after ``?after=`` (default 0), then live."""
    after = _int_query(request, "after", 0, maximum=2**62)
    return await serve_feed(
        request,
        hub=request.app[FEED_HUB],
        db=request.app[DATABASE],
        participant=_me(request),
        after=after,
    )


def routes() -> list[web.RouteDef]:
    """Every route of docs/API.md."""
    table = [
        web.get("/v1/health", health, allow_head=False),
        web.get("/v1/clock", clock, allow_head=False),
        web.get("/v1/broker/jwks", jwks, allow_head=False),
        web.get("/v1/participants", participants, allow_head=False),
        web.get("/v1/participants/me", me, allow_head=False),
        web.put("/v1/participants/me/webhook", put_webhook),
        web.post("/v1/advance-information", post_advance_information),
        web.post("/v1/orders", post_order),
        web.get("/v1/orders", get_orders, allow_head=False),
        web.get("/v1/orders/{order_id}", get_order, allow_head=False),
        web.get("/v1/orders/{order_id}/history", get_history, allow_head=False),
        web.get("/v1/inbox", get_inbox, allow_head=False),
        web.get("/v1/events", get_events, allow_head=False),
        web.get("/v1/feed", feed, allow_head=False),
    ]
    table += [
        web.post(f"/v1/orders/{{order_id}}/{name}", _order_document(name))
        for name in ORDER_DOCUMENTS
    ]
    return table
