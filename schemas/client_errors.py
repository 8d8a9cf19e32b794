"""The error bases the two client SDKs share.

Each SDK's classes inherit from these and from its own root, and each SDK maps
the shared failure kinds to its own classes through :class:`ErrorTypes`::

    ClientError
     ├── ProblemBase            the broker answered with application/problem+json
     ├── ReceiptInvalidBase     a receipt did not verify or does not match
     └── BrokerUnavailableBase  the broker could not be reached
    InputError (ValueError)     a credentials or input file is unusable
    UsageError                  a CLI was called with arguments that do not fit together
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BrokerUnavailableBase",
    "ClientError",
    "ErrorTypes",
    "InputError",
    "ProblemBase",
    "ReceiptInvalidBase",
    "UsageError",
]


class ClientError(Exception):
    """Root of the errors both SDKs share; each SDK roots its own on a subclass."""


class InputError(ValueError):
    """A credentials or input file is missing a member or is not what it should be."""


class ProblemBase(ClientError):
    """The broker refused a request with an RFC 9457 problem (``code`` is stable)."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str | None = None,
        errors: Sequence[Mapping[str, Any]] = (),
        body: Mapping[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.errors: tuple[Mapping[str, Any], ...] = tuple(errors)
        self.body: Mapping[str, Any] = body if body is not None else {}
        #: The broker-signed ``Perci-Refusal`` JWS of this answer (docs/API.md "Signed
        #: refusals"), and its verified payload once the SDK checked it (a refused
        #: submission is checked before the error is raised).
        self.refusal: str | None = None
        self.refusal_payload: Mapping[str, Any] | None = None
        #: The answer's body exactly as received (the refusal signs its SHA-256).
        self.raw_body: str = ""
        text = detail or title
        fields = "; ".join(f"{e.get('field', '?')}: {e.get('message', '')}" for e in self.errors)
        super().__init__(f"{text} ({code}, HTTP {status})" + (f" [{fields}]" if fields else ""))


class ReceiptInvalidBase(ClientError):
    """A broker receipt did not verify, or does not match the document sent."""

    def __init__(self, reason: str, *, receipt: str | None = None) -> None:
        super().__init__(f"invalid broker receipt: {reason}")
        self.reason = reason
        self.receipt = receipt


class BrokerUnavailableBase(ClientError):
    """The broker could not be reached (connection refused, timeout, gateway error)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"broker unavailable at {url}: {reason}")
        self.url = url
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ErrorTypes:
    """The concrete exception classes an SDK raises for the shared failure kinds."""

    problem: type[ProblemBase]
    receipt_invalid: type[ReceiptInvalidBase]
    unavailable: type[BrokerUnavailableBase]


class UsageError(Exception):
    """A CLI was called with arguments that do not fit together (exit code 2)."""
