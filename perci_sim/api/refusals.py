"""Signed refusals: every problem answer of the API carries the broker's signature.

A receipt proves that the broker accepted a document; a party refused needs the same
proof of the refusal (DESIGN "Lessons": AS4 users rightly distrust unsigned error
signals).  Every ``application/problem+json`` answer under ``/v1/`` gets the header
``Perci-Refusal``: a ``perci.refusal+jws`` signed with the broker key, whose payload
is::

    {"status", "code",    # the problem's own members
     "problem_sha256",    # SHA-256 (hex) of the exact body bytes (title, detail, ...)
     "method", "path",    # the path cut to 200 characters (a header stays small) ...
     "path_sha256",       # ... and the SHA-256 of the whole path
     "request_id",
     "participant",       # the authenticated caller, or null
     "document_sha256",   # SHA-256 of the compact JWS submitted, or null
     "refused_at"}        # the broker's clock (UTC, milliseconds)

The SDKs verify it against ``GET /v1/broker/jwks`` and attach it to their
``ProblemError`` (``refusal``), so a party can later show what it sent, when, and
why the broker refused it.  A refusal is not recorded in the log: nothing was
accepted (docs/API.md "Signed refusals").
"""

from __future__ import annotations

import hashlib
import json

from aiohttp import web

from perci_schemas import jws
from perci_schemas.messages import REFUSAL_HEADER
from perci_sim.api.keys import CLOCK, PARTICIPANT, REQUEST_ID, SIGNER, SUBMITTED_JWS
from perci_sim.storage.log import iso_ms

__all__ = ["REFUSAL_HEADER", "sign_refusal"]

_PROBLEM = "application/problem+json"
#: Characters of the path a refusal repeats (the whole path is bound by its hash).
_MAX_PATH = 200


def sign_refusal(request: web.Request, response: web.StreamResponse) -> None:
    """Add the broker-signed ``Perci-Refusal`` header to a problem answer under ``/v1/``."""
    if (
        not isinstance(response, web.Response)
        or response.content_type != _PROBLEM
        or not request.path.startswith("/v1/")
        or response.prepared
    ):
        return
    signer = request.app.get(SIGNER)
    body = response.body
    if signer is None or not isinstance(body, bytes):
        return  # not serving yet (start-up), or a streamed body: nothing to sign
    participant = request.get(PARTICIPANT)
    path = request.path
    payload = {
        "status": response.status,
        "code": _members(body).get("code"),
        # The body's own members (title, detail: they may echo long input) are bound by
        # its hash, and a hostile path by its own: the header stays well under the
        # 8 KiB an HTTP client reads in one header line.
        "problem_sha256": hashlib.sha256(body).hexdigest(),
        "method": request.method[:_MAX_PATH],
        "path": path if len(path) <= _MAX_PATH else path[: _MAX_PATH - 1] + "…",
        "path_sha256": hashlib.sha256(path.encode("utf-8", "surrogatepass")).hexdigest(),
        "request_id": request.get(REQUEST_ID),
        "participant": participant.id if participant is not None else None,
        "document_sha256": _document_sha256(request.get(SUBMITTED_JWS)),
        "refused_at": iso_ms(request.app[CLOCK].now()),
    }
    response.headers[REFUSAL_HEADER] = signer.sign_refusal(payload)


def _members(body: bytes) -> dict[str, object]:
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _document_sha256(token: str | None) -> str | None:
    # A compact JWS is ASCII (its receipt hash, jws.document_hash); anything else is
    # refused unnamed.
    return jws.document_hash(token) if token is not None and token.isascii() else None
