"""Routes of TCO Art. 14 cooperation (issue 3): referrals, deconfliction holds, imminent threats.

See docs/API.md ("Cooperation (Art. 14)").  Every POST takes ``{"jws": ...}`` and
answers 201 with the item's view and the broker's receipt (200 with the original
receipt on an identical resend).  The two batch routes (a Referral Action Day) take
``{"documents": [...]}`` and answer 200 with one result per document, in order.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from perci_sim.api.handlers import _int_query, _json_body, _jws_body
from perci_sim.api.keys import BROKER, DATABASE, PARTICIPANT
from perci_sim.api.problems import PROBLEM_BASE, PayloadTooLarge
from perci_sim.crypto.errors import SchemaViolationError
from perci_sim.domain.errors import PerciError
from perci_sim.services import (
    deconfliction,
    imminent_threat,
    queries,
    referral_batches,
    referrals,
)

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


async def _batch_documents(request: web.Request) -> list[object]:
    """The ``documents`` of a batch body: 1 to MAX_BATCH_ITEMS items (checked per item later)."""
    limit = referral_batches.MAX_BATCH_ITEMS
    body = await _json_body(request)
    documents = body.get("documents") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(documents, list):
        raise SchemaViolationError(
            'the body must be {"documents": ["<compact JWS>", ...]}',
            [("/documents", "is required and must be an array of compact JWS")],
        )
    if extra := sorted(set(body) - {"documents"}):
        raise SchemaViolationError(
            'the body must be {"documents": [...]} and nothing else',
            [(f"/{name}", "is not allowed here") for name in extra],
        )
    if not documents:
        raise SchemaViolationError("the batch is empty", [("/documents", "must not be empty")])
    if len(documents) > limit:
        raise PayloadTooLarge(
            f"the batch has {len(documents)} documents; at most {limit} are allowed",
            errors=[{"field": "/documents", "message": f"must have at most {limit} items"}],
        )
    return documents


def _item_problem(exc: PerciError) -> dict[str, Any]:
    """The problem a single POST of the item would have answered, naming its field.

    A problem of the document as a whole (signature, key, signer, type, duplicate)
    names the field ``""``: the JSON pointer of the whole document.
    """
    problem: dict[str, Any] = {
        "type": PROBLEM_BASE + exc.code,
        "title": exc.title,
        "status": exc.http_status,
        "detail": exc.detail,
        "code": exc.code,
        "errors": [],
    }
    reserved = ("type", "title", "status", "detail", "code")
    problem.update({k: v for k, v in exc.extensions.items() if k not in reserved})
    if not problem["errors"]:
        problem["errors"] = [{"field": "", "message": exc.detail}]
    return problem


def _batch_answer(results: list[referral_batches.ItemResult]) -> web.Response:
    answers: list[dict[str, Any]] = []
    for index, result in enumerate(results):
        if isinstance(result, PerciError):
            answers.append(
                {"index": index, "status": result.http_status, "problem": _item_problem(result)}
            )
        else:
            answers.append(
                {
                    "index": index,
                    # A replay: the original receipt, nothing stored twice.
                    "status": 200 if result.replayed else 201,
                    "receipt": result.receipt,
                    "referral": result.referral,
                }
            )
    return web.json_response({"results": answers})


async def post_referral_batch(request: web.Request) -> web.Response:
    """POST /v1/referrals/batch: up to 500 referrals, one transaction, one result each."""
    documents = await _batch_documents(request)
    results = await referral_batches.send_referral_batch(
        ctx=request.app[BROKER], participant=request[PARTICIPANT], tokens=documents
    )
    return _batch_answer(results)


async def post_referral_outcome_batch(request: web.Request) -> web.Response:
    """POST /v1/referral-outcomes/batch: up to 500 HSP answers, one result each."""
    documents = await _batch_documents(request)
    results = await referral_batches.record_referral_outcome_batch(
        ctx=request.app[BROKER], participant=request[PARTICIPANT], tokens=documents
    )
    return _batch_answer(results)


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
        web.post("/v1/referrals/batch", post_referral_batch),
        web.post("/v1/referral-outcomes/batch", post_referral_outcome_batch),
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
