"""RFC 9457 ``application/problem+json`` bodies for every refusal."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from perci_sim.domain.errors import PerciError

__all__ = [
    "PROBLEM_BASE",
    "InvalidJson",
    "PayloadTooLarge",
    "Unauthenticated",
    "http_error_problem",
    "problem_response",
]

PROBLEM_BASE = "https://perci-sim.eu/problems/"
PROBLEM_TYPE = "application/problem+json"

_HTTP_CODES: dict[int, tuple[str, str]] = {
    400: ("bad_request", "Bad request"),
    401: ("unauthenticated", "Authentication required"),
    403: ("forbidden", "Not allowed for this participant"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    413: ("payload_too_large", "Request body too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
}


class Unauthenticated(PerciError):
    """No or an unknown bearer token."""

    code = "unauthenticated"
    http_status = 401
    title = "Authentication required"


class InvalidJson(PerciError):
    """The request body is not JSON."""

    code = "invalid_json"
    http_status = 400
    title = "Request body is not valid JSON"


class PayloadTooLarge(PerciError):
    """The request body exceeds the broker's limit."""

    code = "payload_too_large"
    http_status = 413
    title = "Request body too large"


def problem_response(
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    extensions: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """Build a problem+json response with ``type``, ``title``, ``status``, ``detail``, ``code``."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "errors": [],
    }
    reserved = ("type", "title", "status", "detail", "code")
    body.update({k: v for k, v in (extensions or {}).items() if k not in reserved})
    return web.Response(
        status=status,
        text=json.dumps(body),
        content_type=PROBLEM_TYPE,
        headers=headers,
    )


def perci_error_problem(exc: PerciError) -> web.Response:
    """Render a :class:`PerciError` as its problem."""
    return problem_response(
        status=exc.http_status,
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        extensions=exc.extensions,
    )


def http_error_problem(exc: web.HTTPException) -> web.Response:
    """Render an aiohttp HTTP error (404, 405, 413 …) as a problem."""
    code, title = _HTTP_CODES.get(exc.status, (f"http_{exc.status}", exc.reason))
    headers = {}
    allow = exc.headers.get("Allow")
    if allow is not None:
        headers["Allow"] = allow
    return problem_response(
        status=exc.status, code=code, title=title, detail=exc.text or exc.reason, headers=headers
    )
