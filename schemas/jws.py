"""Sign and verify perci-sim documents as JWS (RFC 7515) compact serialisations.

Every document a party authors travels as a JWS whose payload is the RFC 8785
canonical JSON of the document and whose protected header names the signing
key (``kid``) and the message type (``typ``).  Verification checks the ``typ``
against what the caller expects, so a signed Annex II can never pass as an
order (DESIGN "Wire format").

Example::

    from perci_schemas import jws, keys

    key = keys.generate("EdDSA")
    token = jws.sign(document, key=key, kid="authority-de#1", message_type="removal_order")
    signed = jws.verify(token, expected_type="removal_order", resolve_key=lambda kid: key.public)
"""

from __future__ import annotations

import base64
import hashlib
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import rfc8785
from joserfc import jws as _jws
from joserfc.errors import JoseError

from perci_schemas.keys import ALGORITHMS, KeyPair, PublicKey
from perci_schemas.messages import MESSAGE_TYPES, typ_for

# NOTE: joserfc flags "EdDSA" as deprecated by RFC 9864 (which prefers "Ed25519");
# the TCO exchange specifies "EdDSA", which every JOSE stack still verifies.
warnings.filterwarnings("ignore", message="EdDSA is deprecated", module="joserfc")

__all__ = [
    "JWSError",
    "SignedDocument",
    "canonical_json",
    "document_hash",
    "peek_header",
    "sign",
    "verify",
]


class JWSError(Exception):
    """A JWS could not be parsed or did not verify; ``reason`` is a stable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedDocument:
    """A verified JWS: its header fields, its payload as JSON and its hash."""

    token: str
    kid: str
    alg: str
    message_type: str
    payload: dict[str, Any]
    sha256: str


def canonical_json(document: dict[str, Any]) -> bytes:
    """Return the RFC 8785 (JCS) canonical form of ``document``."""
    return bytes(rfc8785.dumps(document))


def document_hash(token: str) -> str:
    """Return the hex SHA-256 of the compact JWS exactly as received."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def sign(document: dict[str, Any], *, key: KeyPair, kid: str, message_type: str) -> str:
    """Sign ``document`` as a compact JWS of ``message_type`` with ``key``."""
    if message_type not in MESSAGE_TYPES:
        raise ValueError(f"unknown message type {message_type!r}")
    header = {"alg": key.alg, "kid": kid, "typ": typ_for(message_type)}
    return _jws.serialize_compact(header, canonical_json(document), key.jwk, algorithms=[key.alg])


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def peek_header(token: str) -> dict[str, Any]:
    """Return the protected header of ``token`` without verifying anything.

    Used only to find the key to verify with; never trust its content.
    """
    if token.count(".") != 2:
        raise JWSError("malformed", "a JWS compact serialisation has three dot-separated parts")
    try:
        header = json.loads(_b64decode(token.split(".", 1)[0]))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise JWSError("malformed", "the JWS protected header is not base64url JSON") from exc
    if not isinstance(header, dict):
        raise JWSError("malformed", "the JWS protected header is not a JSON object")
    return header


def verify(
    token: str,
    *,
    expected_type: str | None,
    resolve_key: Callable[[str], PublicKey],
) -> SignedDocument:
    """Verify ``token`` and return its content.

    ``resolve_key`` maps the header's ``kid`` to the public key registered for
    it; it raises :class:`JWSError` (``unknown_key``) or a subclass when the key
    is unknown or revoked.  ``expected_type`` is the message type the caller
    accepts here; a token of another type is refused before any signature work.
    """
    header = peek_header(token)
    alg, kid, typ = header.get("alg"), header.get("kid"), header.get("typ")
    if alg not in ALGORITHMS:
        raise JWSError("bad_algorithm", f"JWS alg must be one of {sorted(ALGORITHMS)}, got {alg!r}")
    if not isinstance(kid, str) or not kid:
        raise JWSError("malformed", "the JWS protected header must name the key in 'kid'")
    if "crit" in header:
        raise JWSError("malformed", "no critical JWS header extensions are understood")
    message_type = _type_from_typ(typ)
    if expected_type is not None and message_type != expected_type:
        raise JWSError(
            "wrong_type", f"expected a signed {expected_type!r}, got a signed {message_type!r}"
        )
    public = resolve_key(kid)
    if public.alg != alg:
        raise JWSError("bad_algorithm", f"key {kid!r} signs with {public.alg}, not {alg}")
    try:
        obj = _jws.deserialize_compact(token, public.jwk, algorithms=[alg])
    except JoseError as exc:
        raise JWSError("bad_signature", f"the signature by {kid!r} does not verify") from exc
    try:
        payload = json.loads(obj.payload)
    except (ValueError, RecursionError) as exc:
        raise JWSError("malformed", "the JWS payload is not JSON") from exc
    if not isinstance(payload, dict):
        raise JWSError("malformed", "the JWS payload is not a JSON object")
    return SignedDocument(
        token=token,
        kid=kid,
        alg=alg,
        message_type=message_type,
        payload=payload,
        sha256=document_hash(token),
    )


def _type_from_typ(typ: object) -> str:
    for message_type in MESSAGE_TYPES:
        if typ == typ_for(message_type):
            return message_type
    raise JWSError("wrong_type", f"unknown JWS typ {typ!r}")
