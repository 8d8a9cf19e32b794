"""Exceptions raised by the platform SDK.

::

    PlatformClientError             root: catch this to catch everything below
     ├── ProblemError               the broker refused the request (RFC 9457 problem;
     │                              .status .code .title .detail .errors .body)
     ├── ReceiptInvalid             a broker receipt did not verify or does not match
     │                              the document sent (.reason .receipt)
     ├── BrokerUnavailable          the broker could not be reached (.url .reason)
     └── OrderInvalid               an order's signature or addressee does not check out
                                    (.order_id .reason)

Each class also derives from the matching base in ``perci_schemas.client_support``,
which the authority SDK shares.
"""

from __future__ import annotations

from perci_schemas.client_support import (
    BrokerUnavailableBase,
    ClientError,
    ErrorTypes,
    ProblemBase,
    ReceiptInvalidBase,
)

__all__ = [
    "BrokerUnavailable",
    "OrderInvalid",
    "PlatformClientError",
    "ProblemError",
    "ReceiptInvalid",
]


class PlatformClientError(ClientError):
    """Root of every error the platform SDK raises."""


class ProblemError(ProblemBase, PlatformClientError):
    """The broker answered with an ``application/problem+json`` error."""


class ReceiptInvalid(ReceiptInvalidBase, PlatformClientError):
    """A broker receipt did not verify, or does not acknowledge the document sent."""


class BrokerUnavailable(BrokerUnavailableBase, PlatformClientError):
    """The broker could not be reached."""


class OrderInvalid(PlatformClientError):
    """An order does not verify with its issuer's registered key, or is not for us.

    Under TCO Art. 3(8) such an order is answered with an Annex III notice
    (manifest errors) rather than executed.
    """

    def __init__(self, order_id: str, reason: str) -> None:
        super().__init__(f"order {order_id} is invalid: {reason}")
        self.order_id = order_id
        self.reason = reason


ERROR_TYPES = ErrorTypes(ProblemError, ReceiptInvalid, BrokerUnavailable)
