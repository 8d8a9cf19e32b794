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

import binascii
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc.util import json_b64decode, urlsafe_b64decode

from perci_schemas import jws
from perci_schemas.keys import PublicKey, load_public
from perci_schemas.messages import MESSAGE_TYPES, typ_for
from perci_schemas.validation import SchemaViolation, validate
from perci_sim.crypto.canonical import canonical_json
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


def _holds_nul(value: object) -> bool:
    """True when a string anywhere in ``value`` (keys included) contains U+0000."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in k or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def payload_hash(payload: dict[str, Any]) -> str:
    """Return the hex SHA-256 of the canonical JSON of ``payload``."""
    return hashlib.sha256(canonical_json(payload)).hexdigest()


#: Imported public keys by their key material (importing one costs about as much as
#: hashing a document): a replaced key is a miss.  With the cryptography key that
#: verifies (joserfc's "op key").
_PUBLIC_KEYS: dict[tuple[object, ...], tuple[PublicKey, Any]] = {}
_MAX_CACHED_KEYS = 4096
#: JWS ``typ`` -> message type.
_TYPES = {typ_for(message_type): message_type for message_type in MESSAGE_TYPES}
_PLAIN_HEADER = frozenset({"alg", "kid", "typ"})
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def _public_key(jwk: dict[str, Any]) -> tuple[PublicKey, Any]:
    material = (jwk.get("kty"), jwk.get("crv"), jwk.get("x"), jwk.get("y"))
    cached = _PUBLIC_KEYS.get(material)
    if cached is None:
        public = load_public(jwk)
        cached = (public, public.jwk.get_op_key("verify"))
        if len(_PUBLIC_KEYS) >= _MAX_CACHED_KEYS:
            _PUBLIC_KEYS.clear()
        _PUBLIC_KEYS[material] = cached
    return cached


def _fast_verify(
    token: str, expected_type: str | None, key: KeyInfo | None, allow_revoked: bool
) -> jws.SignedDocument | None:
    """The common case of :func:`jws.verify`, without joserfc's per-call work.

    Returns the document only when jws.verify would return the same one: a compact JWS
    whose protected header holds exactly ``alg``, ``kid`` and ``typ`` (the header every
    party's SDK writes), the expected type, a usable registered key, and a signature
    that verifies (decoded with joserfc's own strict base64url).  Anything else is None,
    and jws.verify decides and names the problem.
    """
    if key is None or (key.status == "revoked" and not allow_revoked):
        return None
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = json_b64decode(header_b64.encode("ascii"))
        if type(header) is not dict or header.keys() != _PLAIN_HEADER:
            return None
        alg, kid, typ = header["alg"], header["kid"], header["typ"]
        message_type = _TYPES.get(typ) if type(typ) is str else None
        if message_type is None or (expected_type is not None and message_type != expected_type):
            return None
        if type(kid) is not str or kid != key.kid:
            return None
        public, op_key = _public_key(key.jwk)
        if alg != public.alg:
            return None
        signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
        signature = urlsafe_b64decode(signature_b64.encode("ascii"))
        if alg == "EdDSA" and isinstance(op_key, Ed25519PublicKey):
            op_key.verify(signature, signing_input)
        elif alg == "ES256" and isinstance(op_key, ec.EllipticCurvePublicKey):
            if len(signature) != 64:
                return None
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            op_key.verify(encode_dss_signature(r, s), signing_input, _ECDSA_SHA256)
        else:
            return None
        payload = json.loads(urlsafe_b64decode(payload_b64.encode("ascii")))
    except (ValueError, TypeError, InvalidSignature, binascii.Error, RecursionError):
        return None  # the general path below answers with the precise problem
    if type(payload) is not dict:
        return None
    return jws.SignedDocument(
        token=token,
        kid=kid,
        alg=alg,
        message_type=message_type,
        payload=payload,
        sha256=jws.document_hash(token),
    )


def _problem(exc: jws.JWSError) -> PerciError:
    return _ERRORS.get(exc.reason, BadSignature)(exc.message)


def verify_with_key(
    token: str, *, expected_type: str | None, key: KeyInfo | None, allow_revoked: bool = False
) -> jws.SignedDocument:
    """Verify ``token`` with the registered ``key`` its header names (None: unknown).

    Raises:
        PerciError: ``bad_signature``, ``wrong_type``, ``unknown_key`` or ``revoked_key``.
    """

    signed = _fast_verify(token, expected_type, key, allow_revoked)
    if signed is not None:
        return signed

    def resolve(kid: str) -> PublicKey:
        if key is None or key.kid != kid:
            raise jws.JWSError("unknown_key", f"no key {kid!r} is registered")
        if key.status == "revoked" and not allow_revoked:
            raise jws.JWSError("revoked_key", f"key {kid!r} was revoked")
        return _public_key(key.jwk)[0]

    try:
        return jws.verify(token, expected_type=expected_type, resolve_key=resolve)
    except jws.JWSError as exc:
        raise _problem(exc) from exc
    except RecursionError as exc:  # a signed payload nested beyond any real document
        raise BadSignature("the document's payload is nested too deeply to read") from exc


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
    try:
        sha256 = payload_hash(payload)
    except ValueError as exc:  # RFC 8785: e.g. a lone surrogate is no Unicode string
        raise SchemaViolationError(
            f"the document cannot be canonicalised (RFC 8785): {exc}",
            [("", "every string must be valid Unicode (no lone surrogates)")],
        ) from exc
    if _holds_nul(payload):
        # PostgreSQL text columns cannot store U+0000; no Annex field needs it.
        raise SchemaViolationError(
            "a string of the document contains U+0000 (NUL)",
            [("", "strings must not contain U+0000")],
        )
    return VerifiedDocument(
        token=token,
        kid=signed.kid,
        message_type=signed.message_type,
        payload=payload,
        sender=participant_id,
        message_id=str(payload["message_id"]),
        sent_at=str(payload["sent_at"]),
        document_sha256=signed.sha256,
        payload_sha256=sha256,
    )
