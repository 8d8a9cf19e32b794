"""The dashboard's routes under ``/ui``: pages, JSON for the page's script, live events.

Reads go through the same read services as the API (services/queries.py: a
participant sees only its own orders, a facilitator everything; a court, Europol or a
content provider exactly what ``GET /v1/orders`` and the history give it, Art. 11(2)
withholding included, read-only: auth.py refuses its writes).  Documents
signed in the browser are posted to ``/ui/api/orders[/{id}/{document}]`` and
recorded by exactly the services behind ``POST /v1/orders[/{id}/{document}]``:
same verification, same events, same receipts; only the caller is authenticated
by its session cookie and CSRF token instead of a bearer token.
"""

from __future__ import annotations

import base64
import json
import re
from importlib import resources
from typing import Any

from aiohttp import web
from sqlmodel import col, select

from perci_sim.api.drill_injects import INJECTS
from perci_sim.api.handlers import ORDER_DOCUMENTS, _document_response, _json_body, _jws_body
from perci_sim.api.keys import BROKER, CLOCK, DATABASE, FEED_HUB, PARTICIPANT
from perci_sim.domain.states import TRANSITIONS, Trigger
from perci_sim.services import queries
from perci_sim.services.errors import NotFound
from perci_sim.services.issue_order import issue_order
from perci_sim.services.views import participant_view
from perci_sim.storage.log import iso_ms
from perci_sim.storage.models import Event
from perci_sim.storage.registry import ParticipantInfo, list_participants
from perci_sim.web import auth
from perci_sim.web.drafts import make_draft
from perci_sim.web.figures import compliance_series, hsp_figures
from perci_sim.web.pages import dashboard_page, error_page, order_page
from perci_sim.web.sessions import SESSION_COOKIE
from perci_sim.web.sse import serve_events

__all__ = ["routes"]

#: Orders read for figures and lists (a drill's year has ~500; RAD ~40 orders).
_MAX_ORDERS = 20_000
_STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
_STATIC_NAME = re.compile(r"^[a-z0-9-]+\.(js|css|svg)$")
#: The states the broker accepts a withdrawal in (the page offers "Withdraw…" there).
WITHDRAWABLE = sorted(
    origin.value for origin, out in TRANSITIONS.items() if Trigger.WITHDRAWAL in out
)


def _me(request: web.Request) -> ParticipantInfo:
    return request[PARTICIPANT]


def _csrf(request: web.Request) -> str:
    return request[auth.SESSION].csrf_token


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, content_type="text/html", status=status)


async def index(request: web.Request) -> web.Response:
    """GET /ui/: the dashboard of the signed-in participant's role."""
    return _html(dashboard_page(auth.language_of(request), me=_me(request), csrf=_csrf(request)))


async def order_detail(request: web.Request) -> web.Response:
    """GET /ui/orders/{order_id}: an order's summary and history (HTML shell)."""
    cat = auth.language_of(request)
    order_id = request.match_info["order_id"]
    try:
        await queries.get_order(request.config_dict[DATABASE], _me(request), order_id)
    except NotFound:
        return _html(error_page(cat, message=cat.t("error.not_found")), status=404)
    return _html(order_page(cat, me=_me(request), csrf=_csrf(request), order_id=order_id))


async def static(request: web.Request) -> web.Response:
    """GET /ui/static/{name}: the page's own scripts and styles (no CDN)."""
    name = request.match_info["name"]
    if not _STATIC_NAME.match(name):
        raise NotFound(f"no static file {name!r}")
    entry = resources.files("perci_sim.web").joinpath("static", name)
    if not entry.is_file():
        raise NotFound(f"no static file {name!r}")
    suffix = name[name.rindex(".") :]
    return web.Response(
        body=entry.read_bytes(),
        content_type=_STATIC_TYPES[suffix],
        charset="utf-8",
        headers={"Cache-Control": "no-cache"},
    )


def _list_view(view: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in view.items() if k != "document"}


async def _all_orders(request: web.Request) -> list[dict[str, Any]]:
    db, me = request.config_dict[DATABASE], _me(request)
    orders: list[dict[str, Any]] = []
    while len(orders) < _MAX_ORDERS:
        page = await queries.list_orders(db, me, limit=queries.MAX_LIMIT, offset=len(orders))
        orders += [_list_view(v) for v in page]
        if len(page) < queries.MAX_LIMIT:
            break
    return orders


async def state(request: web.Request) -> web.Response:
    """GET /ui/api/state: everything the dashboard shows, once; live events follow."""
    db, me, clock = request.config_dict[DATABASE], _me(request), request.config_dict[CLOCK]
    # Read the log position first: the live stream resumes from it, so an event
    # committed while the rest is read is delivered (again) rather than missed.
    last_seq = await queries.last_seq(db)
    orders = await _all_orders(request)
    body: dict[str, Any] = {
        "me": {"id": me.id, "role": me.role, "name": me.name, "member_state": me.member_state},
        "clock": {"now": iso_ms(clock.now()), "speed": clock.speed},
        "last_seq": last_seq,
        "orders": orders,
        "figures": hsp_figures(orders),
    }
    if me.role == "authority":
        body["hsps"] = [
            {"id": p.id, "name": p.name, "languages": p.languages}
            for p in await list_participants(db)
            if p.role == "hsp"
        ]
        body["clarifications"] = await _clarification_requests(request, orders)
        body["withdrawable"] = WITHDRAWABLE
    if me.role == "hsp":
        body["inbox"] = [_list_view(v) for v in await queries.inbox(db, me)]
    if me.role == "facilitator":
        body["series"] = compliance_series(orders)
        body["injects"] = request.config_dict[INJECTS].entries()
    return web.json_response(body)


async def _clarification_requests(
    request: web.Request, orders: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The Annex III requests waiting for this authority (the latest one per order)."""
    waiting = [o for o in orders if o["state"] == "clarification_requested"]
    if not waiting:
        return []
    ids = [o["order_id"] for o in waiting]
    async with request.config_dict[DATABASE].read() as session:
        rows = (
            await session.exec(
                select(Event)
                .where(col(Event.order_id).in_(ids), col(Event.kind) == "impossibility_received")
                .order_by(col(Event.seq))
            )
        ).all()
    latest = {row.order_id: row for row in rows}
    result = []
    for order in waiting:
        row = latest.get(order["order_id"])
        question = ""
        if row is not None and row.document:
            question = _annex3_question(row.document)
        result.append({**order, "question": question})
    return result


def _annex3_question(token: str) -> str:
    body = token.split(".")[1]
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    section = payload.get("section_b", {}) if isinstance(payload, dict) else {}
    return str(section.get("clarification_required") or section.get("further_information") or "")


async def order_json(request: web.Request) -> web.Response:
    """GET /ui/api/orders/{order_id}: the order and its history with signers and receipts."""
    db, me = request.config_dict[DATABASE], _me(request)
    order_id = request.match_info["order_id"]
    order = await queries.get_order(db, me, order_id)
    events = await queries.order_history(db, me, order_id)
    seqs = [e["seq"] for e in events]
    async with db.read() as session:
        receipts = dict(
            (
                await session.exec(select(Event.seq, Event.receipt).where(col(Event.seq).in_(seqs)))
            ).all()
        )
    for event in events:
        event["receipt"] = receipts.get(event["seq"])
    clock = request.config_dict[CLOCK]
    return web.json_response(
        {
            "order": order,
            "events": events,
            "clock": {"now": iso_ms(clock.now()), "speed": clock.speed},
        }
    )


async def draft(request: web.Request) -> web.Response:
    """POST /ui/api/drafts/{kind}: an unsigned document for the page to sign."""
    body = await _json_body(request)
    result = await make_draft(
        ctx=request.config_dict[BROKER],
        me=_me(request),
        kind=request.match_info["kind"],
        body=body if isinstance(body, dict) else {},
    )
    return web.json_response(result)


async def submit_order(request: web.Request) -> web.Response:
    """POST /ui/api/orders: a removal order signed in the browser (as POST /v1/orders)."""
    token = await _jws_body(request)
    result = await issue_order(
        ctx=request.config_dict[BROKER], participant=_me(request), token=token
    )
    return _document_response(result)


async def submit_order_document(request: web.Request) -> web.Response:
    """POST /ui/api/orders/{order_id}/{document}: as POST /v1/orders/{order_id}/{document}."""
    name = request.match_info["document"]
    service = ORDER_DOCUMENTS.get(name)
    if service is None:
        raise NotFound(f"no document route {name!r}")
    token = await _jws_body(request)
    result = await service(
        ctx=request.config_dict[BROKER],
        participant=_me(request),
        order_id=request.match_info["order_id"],
        token=token,
    )
    return _document_response(result)


async def events(request: web.Request) -> web.StreamResponse:
    """GET /ui/events: Server-Sent Events (sse.py)."""
    cookie = request.cookies.get(SESSION_COOKIE)

    async def still_signed_in() -> bool:
        return await auth.open_session(request, cookie) is not None

    return await serve_events(
        request,
        hub=request.config_dict[FEED_HUB],
        db=request.config_dict[DATABASE],
        participant=_me(request),
        still_signed_in=still_signed_in,
    )


async def me_json(request: web.Request) -> web.Response:
    """GET /ui/api/me: the signed-in participant's directory entry (keys: to check a key file)."""
    return web.json_response(participant_view(_me(request)))


def routes() -> list[web.RouteDef]:
    """The dashboard's routes, relative to its ``/ui`` prefix."""
    return [
        web.get("/", index),
        web.get("/login", auth.login_form),
        web.post("/login", auth.login),
        web.post("/logout", auth.logout),
        web.get("/orders/{order_id}", order_detail),
        web.get("/static/{name}", static),
        web.get("/events", events),
        web.get("/api/me", me_json),
        web.get("/api/state", state),
        web.get("/api/orders/{order_id}", order_json),
        web.post("/api/drafts/{kind}", draft),
        web.post("/api/orders", submit_order),
        web.post("/api/orders/{order_id}/{document}", submit_order_document),
    ]
