"""Why a signed document was refused: signature, key, signer and schema problems.

Each maps to one of the problem codes of docs/API.md.
"""

from __future__ import annotations

from collections.abc import Iterable

from perci_sim.domain.errors import PerciError

__all__ = [
    "BadSignature",
    "RevokedKey",
    "SchemaViolationError",
    "UnknownKey",
    "WrongSigner",
    "WrongType",
]


class BadSignature(PerciError):
    """The JWS is malformed or its signature does not verify."""

    code = "bad_signature"
    http_status = 422
    title = "Signature does not verify"


class WrongType(PerciError):
    """The JWS ``typ`` (or the document's ``message_type``) is not what this route accepts."""

    code = "wrong_type"
    http_status = 422
    title = "Wrong document type"


class UnknownKey(PerciError):
    """The JWS names a key that is not registered."""

    code = "unknown_key"
    http_status = 422
    title = "Unknown signing key"


class RevokedKey(PerciError):
    """The JWS names a key that has been revoked; its new signatures are refused."""

    code = "revoked_key"
    http_status = 422
    title = "Signing key revoked"


class WrongSigner(PerciError):
    """The signer is not the authenticated participant or not the document's sender."""

    code = "wrong_signer"
    http_status = 403
    title = "Signer, sender and authenticated participant differ"


class SchemaViolationError(PerciError):
    """The document does not match its JSON Schema; ``errors`` names each field."""

    code = "schema_violation"
    http_status = 422
    title = "Document does not match its schema"

    def __init__(self, detail: str, errors: Iterable[tuple[str, str]]) -> None:
        listed = [{"field": field, "message": message} for field, message in errors]
        super().__init__(detail, errors=listed)
        self.errors = listed
