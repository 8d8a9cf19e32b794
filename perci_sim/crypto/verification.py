"""Verify a party's signed document against the registry, then against its schema.

Order of checks (each a problem code of docs/API.md):

1. the JWS parses and its ``typ`` is the type this route accepts (``bad_signature``,
   ``wrong_type``);
2. its ``kid`` is registered (``unknown_key``) and not revoked (``revoked_key``);
3. the signature verifies with that key (``bad_signature``);
4. the signer (the key's owner, the kid prefix) is the authenticated participant and
   the document's ``sender`` (``wrong_signer``), and its ``message_type`` is the
   ``typ``'s (``wrong_type``);
5. the payload matches its JSON Schema (``schema_violation``, naming every field).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from perci_schemas import jws
from perci_schemas.keys import PublicKey, load_public
from perci_schemas.validation import SchemaViolation, validate
from perci_sim.crypto.errors import (
    BadSignature,
    RevokedKey,
    SchemaViolationError,
    UnknownKey,
    WrongSigner,
    WrongType,
)
from perci_sim.domain.errors import PerciError
from perci_sim.storage.db import Database
from perci_sim.storage.registry import KeyInfo, get_key

__all__ = ["VerifiedDocument", "payload_hash", "verify_document", "verify_with_key"]

_ERRORS: dict[str, Callable[[str], PerciError]] = {
    "wrong_type": WrongType,
    "unknown_key": UnknownKey,
    "revoked_key": RevokedKey,
    "bad_signature": BadSignature,
    "bad_algorithm": BadSignature,
    "malformed": BadSignature,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedDocument:
    """A document whose signature, signer and schema were checked."""

    token: str
    kid: str
    message_type: str
    payload: dict[str, Any]
    sender: str
    message_id: str
    sent_at: str
    #: SHA-256 of the compact JWS exactly as received.
    document_sha256: str
    #: SHA-256 of the payload's RFC 8785 canonical JSON: the idempotency fingerprint.
    payload_sha256: str


def payload_hash(payload: dict[str, Any]) -> str:
    """Return the hex SHA-256 of the canonical JSON of ``payload``."""
    return hashlib.sha256(jws.canonical_json(payload)).hexdigest()


def _problem(exc: jws.JWSError) -> PerciError:
    return _ERRORS.get(exc.reason, BadSignature)(exc.message)


def verify_with_key(
    token: str, *, expected_type: str | None, key: KeyInfo | None, allow_revoked: bool = False
) -> jws.SignedDocument:
    """Verify ``token`` with the registered ``key`` its header names (None: unknown).

    Raises:
        PerciError: ``bad_signature``, ``wrong_type``, ``unknown_key`` or ``revoked_key``.
    """

    def resolve(kid: str) -> PublicKey:
        if key is None or key.kid != kid:
            raise jws.JWSError("unknown_key", f"no key {kid!r} is registered")
        if key.status == "revoked" and not allow_revoked:
            raise jws.JWSError("revoked_key", f"key {kid!r} was revoked")
        return load_public(key.jwk)

    try:
        return jws.verify(token, expected_type=expected_type, resolve_key=resolve)
    except jws.JWSError as exc:
        raise _problem(exc) from exc


async def verify_document(
    db: Database, *, token: str, expected_type: str, participant_id: str
) -> VerifiedDocument:
    """Verify a document ``participant_id`` posted as ``expected_type``.

    Raises:
        PerciError: see the module docstring for the codes, in the order checked.
    """
    try:
        kid = jws.peek_header(token).get("kid")
    except jws.JWSError as exc:
        raise _problem(exc) from exc
    key = await get_key(db, kid) if isinstance(kid, str) and kid else None
    signed = verify_with_key(token, expected_type=expected_type, key=key)
    assert key is not None  # verify_with_key refused an unknown key
    # TCO Art. 3(5): the authentication of the sender: signer = authenticated party.
    if key.participant_id != participant_id:
        raise WrongSigner(
            f"the document is signed by {key.participant_id!r} but the request is "
            f"authenticated as {participant_id!r}"
        )
    payload = signed.payload
    claimed_type = payload.get("message_type")
    if isinstance(claimed_type, str) and claimed_type != signed.message_type:
        raise WrongType(
            f"the JWS typ says {signed.message_type!r} but the document says {claimed_type!r}"
        )
    sender = payload.get("sender")
    if isinstance(sender, str) and sender != participant_id:
        raise WrongSigner(f"the document's sender is {sender!r}, not the signer {participant_id!r}")
    try:
        validate(signed.message_type, payload)
    except SchemaViolation as exc:
        raise SchemaViolationError(
            str(exc), [(error.field, error.message) for error in exc.errors]
        ) from exc
    return VerifiedDocument(
        token=token,
        kid=signed.kid,
        message_type=signed.message_type,
        payload=payload,
        sender=participant_id,
        message_id=str(payload["message_id"]),
        sent_at=str(payload["sent_at"]),
        document_sha256=signed.sha256,
        payload_sha256=payload_hash(payload),
    )
