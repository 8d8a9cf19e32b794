"""Exceptions raised by the authority SDK.

::

    AuthorityClientError            root: catch this to catch everything below
     ├── ProblemError               the broker refused the request (RFC 9457 problem;
     │                              .status .code .title .detail .errors .body)
     ├── ReceiptInvalid             a broker receipt did not verify or does not match
     │                              the document sent (.reason .receipt)
     └── BrokerUnavailable          the broker could not be reached (.url .reason)

Each class also derives from the matching base in ``perci_schemas.client_support``,
which the platform SDK shares.
"""

from __future__ import annotations

from perci_schemas.client_support import (
    BrokerUnavailableBase,
    ClientError,
    ErrorTypes,
    ProblemBase,
    ReceiptInvalidBase,
)

__all__ = ["AuthorityClientError", "BrokerUnavailable", "ProblemError", "ReceiptInvalid"]


class AuthorityClientError(ClientError):
    """Root of every error the authority SDK raises."""


class ProblemError(ProblemBase, AuthorityClientError):
    """The broker answered with an ``application/problem+json`` error."""


class ReceiptInvalid(ReceiptInvalidBase, AuthorityClientError):
    """A broker receipt did not verify, or does not acknowledge the document sent."""


class BrokerUnavailable(BrokerUnavailableBase, AuthorityClientError):
    """The broker could not be reached."""


ERROR_TYPES = ErrorTypes(ProblemError, ReceiptInvalid, BrokerUnavailable)
