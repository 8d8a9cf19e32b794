"""Routes of TCO Art. 14 cooperation (issue 3): referrals, deconfliction holds, imminent threats.

See docs/API.md ("Cooperation (Art. 14)").  Every POST takes ``{"jws": ...}`` and
answers 201 with the item's view and the broker's receipt (200 with the original
receipt on an identical resend).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from perci_sim.api.handlers import _int_query, _jws_body
from perci_sim.api.keys import BROKER, DATABASE, PARTICIPANT
from perci_sim.crypto.errors import SchemaViolationError
from perci_sim.services import deconfliction, imminent_threat, queries, referrals

__all__ = ["routes"]

_REFERRAL_STATES = ("open", "answered")


def _answer(name: str, view: dict[str, Any], receipt: str, replayed: bool) -> web.Response:
    # Idempotent replay: the original receipt, 200, nothing stored.
    return web.json_response({name: view, "receipt": receipt}, status=200 if replayed else 201)


async def post_referral(request: web.Request) -> web.Response:
    """POST /v1/referrals: an authority or Europol refers content (R20)."""
    token = await _jws_body(request)
    result = await referrals.send_referral(
        ctx=request.app[BROKER], participant=request[PARTICIPANT], token=token
    )
    return _answer("referral", result.referral, result.receipt, result.replayed)


async def get_referrals(request: web.Request) -> web.Response:
    """GET /v1/referrals?state=&limit=&offset=: referrals sent or received."""
    state = request.query.get("state") or None
    if state is not None and state not in _REFERRAL_STATES:
        raise SchemaViolationError(
            f"unknown referral state {state!r}",
            [("/state", "query parameter: must be one of " + ", ".join(_REFERRAL_STATES))],
        )
    views = await referrals.list_referrals(
        request.app[DATABASE],
        request[PARTICIPANT],
        state=state,
        limit=_int_query(request, "limit", 100, maximum=queries.MAX_LIMIT),
        offset=_int_query(request, "offset", 0, maximum=10**9),
    )
    return web.json_response({"referrals": views})


async def get_referral(request: web.Request) -> web.Response:
    """GET /v1/referrals/{referral_id}."""
    view = await referrals.get_referral(
        request.app[DATABASE], request[PARTICIPANT], request.match_info["referral_id"]
    )
    return web.json_response(view)


async def get_referral_history(request: web.Request) -> web.Response:
    """GET /v1/referrals/{referral_id}/history."""
    events = await referrals.referral_history(
        request.app[DATABASE], request[PARTICIPANT], request.match_info["referral_id"]
    )
    return web.json_response({"events": events})


async def post_referral_outcome(request: web.Request) -> web.Response:
    """POST /v1/referrals/{referral_id}/outcome: the HSP's answer."""
    token = await _jws_body(request)
    result = await referrals.record_referral_outcome(
        ctx=request.app[BROKER],
        participant=request[PARTICIPANT],
        referral_id=request.match_info["referral_id"],
        token=token,
    )
    return _answer("referral", result.referral, result.receipt, result.replayed)


async def post_hold(request: web.Request) -> web.Response:
    """POST /v1/deconfliction-holds: place a hold (R19)."""
    token = await _jws_body(request)
    result = await deconfliction.place_hold(
        ctx=request.app[BROKER], participant=request[PARTICIPANT], token=token
    )
    return _answer("hold", result.hold, result.receipt, result.replayed)


async def get_holds(request: web.Request) -> web.Response:
    """GET /v1/deconfliction-holds: the caller's own holds."""
    views = await deconfliction.list_holds(request.app[BROKER], request[PARTICIPANT])
    return web.json_response({"holds": views})


async def post_hold_lift(request: web.Request) -> web.Response:
    """POST /v1/deconfliction-holds/{hold_id}/lift: the holder lifts its hold."""
    token = await _jws_body(request)
    result = await deconfliction.lift_hold(
        ctx=request.app[BROKER],
        participant=request[PARTICIPANT],
        hold_id=request.match_info["hold_id"],
        token=token,
    )
    return _answer("hold", result.hold, result.receipt, result.replayed)


async def post_threat(request: web.Request) -> web.Response:
    """POST /v1/imminent-threats: an HSP's Art. 14(5) report (R21)."""
    token = await _jws_body(request)
    result = await imminent_threat.report_threat(
        ctx=request.app[BROKER], participant=request[PARTICIPANT], token=token
    )
    return _answer("report", result.report, result.receipt, result.replayed)


async def get_threats(request: web.Request) -> web.Response:
    """GET /v1/imminent-threats: reports sent (HSP) or received (authority, Europol)."""
    views = await imminent_threat.list_threats(
        request.app[DATABASE],
        request[PARTICIPANT],
        limit=_int_query(request, "limit", 100, maximum=queries.MAX_LIMIT),
        offset=_int_query(request, "offset", 0, maximum=10**9),
    )
    return web.json_response({"reports": views})


async def get_threat(request: web.Request) -> web.Response:
    """GET /v1/imminent-threats/{report_id}: the report with per-recipient delivery records."""
    view = await imminent_threat.get_threat(
        request.app[DATABASE], request[PARTICIPANT], request.match_info["report_id"]
    )
    return web.json_response(view)


async def get_threat_history(request: web.Request) -> web.Response:
    """GET /v1/imminent-threats/{report_id}/history."""
    events = await imminent_threat.threat_history(
        request.app[DATABASE], request[PARTICIPANT], request.match_info["report_id"]
    )
    return web.json_response({"events": events})


async def post_threat_acknowledgement(request: web.Request) -> web.Response:
    """POST /v1/imminent-threats/{report_id}/acknowledgement: a recipient confirms receipt."""
    token = await _jws_body(request)
    result = await imminent_threat.acknowledge_threat(
        ctx=request.app[BROKER],
        participant=request[PARTICIPANT],
        report_id=request.match_info["report_id"],
        token=token,
    )
    return _answer("report", result.report, result.receipt, result.replayed)


def routes() -> list[web.RouteDef]:
    """The cooperation routes (see docs/API.md)."""
    return [
        web.post("/v1/referrals", post_referral),
        web.get("/v1/referrals", get_referrals, allow_head=False),
        web.get("/v1/referrals/{referral_id}", get_referral, allow_head=False),
        web.get("/v1/referrals/{referral_id}/history", get_referral_history, allow_head=False),
        web.post("/v1/referrals/{referral_id}/outcome", post_referral_outcome),
        web.post("/v1/deconfliction-holds", post_hold),
        web.get("/v1/deconfliction-holds", get_holds, allow_head=False),
        web.post("/v1/deconfliction-holds/{hold_id}/lift", post_hold_lift),
        web.post("/v1/imminent-threats", post_threat),
        web.get("/v1/imminent-threats", get_threats, allow_head=False),
        web.get("/v1/imminent-threats/{report_id}", get_threat, allow_head=False),
        web.get("/v1/imminent-threats/{report_id}/history", get_threat_history, allow_head=False),
        web.post("/v1/imminent-threats/{report_id}/acknowledgement", post_threat_acknowledgement),
    ]
