"""Routes of the TCO procedures beyond the one-hour path: lifecycle (issue 3).

Order documents (``POST /v1/orders/{order_id}/<action>``, body ``{jws}``, answer
``{order, receipt}``): Art. 4 scrutiny and reinstatement, Art. 3(9) finality,
Art. 6 preservation, Art. 10–11 content providers, Art. 9 annulments.  Exposure
documents (Art. 5) are about an HSP, not an order: ``POST /v1/exposure-decisions``
and ``POST /v1/exposure-decisions/{decision_id}/<action>`` answer ``{receipt}``.
See docs/API.md.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from perci_sim.api.handlers import _broker, _document_response, _jws_body, _me
from perci_sim.api.keys import DATABASE
from perci_sim.services.annulment import record_court_annulment
from perci_sim.services.content_provider import (
    record_complaint,
    record_complaint_outcome,
    record_content_provider_information,
    record_nondisclosure_extension,
)
from perci_sim.services.documents import DocumentResult
from perci_sim.services.exposure import (
    record_exposure_decision,
    record_exposure_report,
    record_review_decision,
    record_review_request,
)
from perci_sim.services.finality import record_appeal_notice, record_finality_notice
from perci_sim.services.lifecycle_view import order_lifecycle
from perci_sim.services.preservation import record_content_purged, record_preservation_extension
from perci_sim.services.scrutiny import (
    record_reinstatement,
    record_scrutiny_decision,
    record_scrutiny_prenotice,
    record_scrutiny_request,
)

__all__ = ["EXPOSURE_DOCUMENTS", "LIFECYCLE_ORDER_DOCUMENTS", "routes"]

Service = Callable[..., Awaitable[DocumentResult]]

#: POST /v1/orders/{order_id}/<action> → the service recording it.
LIFECYCLE_ORDER_DOCUMENTS: dict[str, Service] = {
    "scrutiny-request": record_scrutiny_request,  # Art. 4(4)
    "scrutiny-prenotice": record_scrutiny_prenotice,  # Art. 4(5)
    "scrutiny-decision": record_scrutiny_decision,  # Art. 4(3), 4(4), 4(6)
    "reinstatement": record_reinstatement,  # Art. 4(7)
    "appeal-notice": record_appeal_notice,  # Art. 3(9)
    "finality-notice": record_finality_notice,  # Art. 3(9)
    "preservation-extension": record_preservation_extension,  # Art. 6(2)
    "content-purged": record_content_purged,  # Art. 6(1)
    "content-provider-information": record_content_provider_information,  # Art. 11
    "nondisclosure-extension": record_nondisclosure_extension,  # Art. 11(3)
    "complaint": record_complaint,  # Art. 10(1)
    "complaint-outcome": record_complaint_outcome,  # Art. 10(2)
    "court-annulment": record_court_annulment,  # Art. 9
}

#: POST /v1/exposure-decisions/{decision_id}/<action> → the service recording it (Art. 5).
EXPOSURE_DOCUMENTS: dict[str, Service] = {
    "report": record_exposure_report,  # Art. 5(5)
    "review-request": record_review_request,  # Art. 5(7)
    "review-decision": record_review_decision,  # Art. 5(7)
}


def _order_document(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    service = LIFECYCLE_ORDER_DOCUMENTS[name]

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


def _decision_document(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    service = EXPOSURE_DOCUMENTS[name]

    async def handler(request: web.Request) -> web.Response:
        token = await _jws_body(request)
        result = await service(
            ctx=_broker(request),
            participant=_me(request),
            decision_id=request.match_info["decision_id"],
            token=token,
        )
        return _document_response(result)

    handler.__doc__ = f"POST /v1/exposure-decisions/{{decision_id}}/{name}."
    return handler


async def post_exposure_decision(request: web.Request) -> web.Response:
    """POST /v1/exposure-decisions (Art. 5(4))."""
    token = await _jws_body(request)
    result = await record_exposure_decision(
        ctx=_broker(request), participant=_me(request), token=token
    )
    return _document_response(result)


async def get_lifecycle(request: web.Request) -> web.Response:
    """GET /v1/orders/{order_id}/lifecycle: the order's lifecycle record and obligations."""
    view = await order_lifecycle(
        request.app[DATABASE], _me(request), request.match_info["order_id"]
    )
    return web.json_response(view)


def routes() -> list[web.RouteDef]:
    """The lifecycle routes (see docs/API.md)."""
    table = [
        web.get("/v1/orders/{order_id}/lifecycle", get_lifecycle, allow_head=False),
        web.post("/v1/exposure-decisions", post_exposure_decision),
    ]
    table += [
        web.post(f"/v1/orders/{{order_id}}/{name}", _order_document(name))
        for name in LIFECYCLE_ORDER_DOCUMENTS
    ]
    table += [
        web.post(f"/v1/exposure-decisions/{{decision_id}}/{name}", _decision_document(name))
        for name in EXPOSURE_DOCUMENTS
    ]
    return table
