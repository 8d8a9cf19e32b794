"""The hot path's cryptographic shortcuts produce exactly the bytes of the reference code.

* :func:`perci_sim.crypto.canonical.canonical_json` is ``rfc8785`` byte for byte (and
  refuses what it refuses);
* the broker's receipts signed without joserfc are the JWS ``jws.sign`` makes (Ed25519
  is deterministic: the same token), and verify as before;
* a cached public key verifies like a freshly loaded one.
"""

from __future__ import annotations

import base64
import json
import random
import string
from datetime import UTC, datetime
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ec import ECDSA
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256

from perci_schemas import jws
from perci_schemas.client_support import _verify_plain_ed25519
from perci_schemas.keys import generate, load_public
from perci_sim.crypto.broker_key import BrokerSigner
from perci_sim.crypto.canonical import canonical_json
from perci_sim.crypto.verification import _fast_verify, verify_with_key
from perci_sim.domain.errors import PerciError
from perci_sim.storage.registry import KeyInfo

SAMPLES: list[Any] = [
    {},
    {"a": []},
    {"b": 1, "a": 2, "A": 3, "_": 4, "aa": 5, "": 6},
    {"s": 'quote " backslash \\ slash / tab \t nl \n cr \r bs \b ff \f nul \x00 us \x1f'},
    {"s": "del \x7f é ü ß 漢字 emoji 😀 \u2028 \u2029 \ufeff"},
    {"ints": [0, -1, 1, 2**53 - 1, -(2**53) + 1], "bools": [True, False, None]},
    {"nested": {"z": {"y": [{"x": "1"}, [], {}]}, "é": 1, "ü": {"ä": [None]}}},
    {"keys": {"\ue000": 1, "z": 2, "\u00ff": 3, "\u0100": 4}},
    # Fall back to rfc8785 (and get its exact bytes):
    {"float": 1.0, "more": [0.1, 1e21, 1e-7, -0.0, 123456789.125]},
    {"big_keys": {"\U0001f600": 1, "\ufb01": 2, "\ud7ff": 3}},
    {"tuple": (1, 2, "3")},
]


@pytest.mark.parametrize("document", SAMPLES)
def test_canonical_json_is_rfc8785(document: dict[str, Any]) -> None:
    assert canonical_json(document) == bytes(rfc8785.dumps(document))


def _random_value(rng: random.Random, depth: int) -> Any:
    alphabet = string.printable + "éü漢😀\u2028\x00\x1f\x7f\ue000\ufb01"
    choice = rng.randrange(8 if depth < 4 else 5)
    if choice == 0:
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
    if choice == 1:
        return rng.randint(-(2**53) + 1, 2**53 - 1)
    if choice == 2:
        return rng.choice([True, False, None])
    if choice == 3:
        return rng.randint(-1000, 1000)
    if choice == 4:
        return rng.choice(["", "x", "ü"])
    if choice in (5, 6):
        return {
            "".join(rng.choice(alphabet) for _ in range(rng.randrange(6))): _random_value(
                rng, depth + 1
            )
            for _ in range(rng.randrange(5))
        }
    return [_random_value(rng, depth + 1) for _ in range(rng.randrange(5))]


def test_canonical_json_matches_rfc8785_on_random_documents() -> None:
    rng = random.Random(8785)
    for _ in range(2000):
        document = {"root": _random_value(rng, 0), "n": rng.randrange(10)}
        assert canonical_json(document) == bytes(rfc8785.dumps(document)), document


@pytest.mark.parametrize(
    "document",
    [
        {"n": 2**53},
        {"n": -(2**53)},
        {"f": float("nan")},
        {"f": float("inf")},
        {"s": "lone \ud800 surrogate"},
        {1: "int key"},
        {"set": {1, 2}},
    ],
)
def test_canonical_json_refuses_what_rfc8785_refuses(document: Any) -> None:
    with pytest.raises(rfc8785.CanonicalizationError):
        rfc8785.dumps(document)
    with pytest.raises(rfc8785.CanonicalizationError):
        canonical_json(document)


RECEIPT = {
    "event_id": "3f0b8a62-6a43-4b0a-9d8e-1f2b3c4d5e6f",
    "seq": 42,
    "order_id": None,
    "message_type": "referral",
    "message_id": "a7d1c0de-0000-4000-8000-000000000001",
    "sender": "de-bka",
    "document_sha256": "ab" * 32,
    "received_at": "2026-11-25T10:00:00.000+00:00",
    "event_hash": "cd" * 32,
}


def test_receipts_are_the_tokens_jws_sign_makes() -> None:
    key = generate("EdDSA")
    signer = BrokerSigner(key)
    for seq in range(1, 20):
        payload = {**RECEIPT, "seq": seq, "message_id": f"m-{seq}-ü"}
        token = signer.sign_receipt(payload)
        assert token == jws.sign(payload, key=key, kid=signer.kid, message_type="receipt")
        signed = jws.verify(token, expected_type="receipt", resolve_key=lambda _kid: key.public)
        assert signed.payload == payload


def test_receipts_of_a_p256_broker_key_verify() -> None:
    key = generate("ES256")
    signer = BrokerSigner(key)
    token = signer.sign_receipt(RECEIPT)
    signed = jws.verify(token, expected_type="receipt", resolve_key=lambda _kid: key.public)
    assert signed.payload == RECEIPT
    assert signed.kid == signer.kid


# --- verification: the fast path answers exactly as jws.verify ---------------------------


def _key_info(kid: str, key: Any, status: str = "active") -> KeyInfo:
    return KeyInfo(
        kid=kid,
        participant_id=kid.split("#")[0],
        alg=key.alg,
        jwk=key.public.to_jwk(),
        status=status,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        revoked_at=None,
    )


def _reference(
    token: str, expected_type: str | None, info: KeyInfo | None, allow_revoked: bool = False
) -> Any:
    """What jws.verify (joserfc) answers: the document, or the problem's code."""

    def resolve(kid: str) -> Any:
        if info is None or info.kid != kid:
            raise jws.JWSError("unknown_key", "unknown")
        if info.status == "revoked" and not allow_revoked:
            raise jws.JWSError("revoked_key", "revoked")
        return load_public(info.jwk)

    try:
        return jws.verify(token, expected_type=expected_type, resolve_key=resolve)
    except jws.JWSError as exc:
        return {"unknown_key": "unknown_key", "revoked_key": "revoked_key"}.get(
            exc.reason, "wrong_type" if exc.reason == "wrong_type" else "bad_signature"
        )


def _ours(
    token: str, expected_type: str | None, info: KeyInfo | None, allow_revoked: bool = False
) -> Any:
    try:
        return verify_with_key(
            token, expected_type=expected_type, key=info, allow_revoked=allow_revoked
        )
    except PerciError as exc:
        return exc.code


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _variants(token: str, key: Any, kid: str) -> list[str]:
    """The token, and tokens a party could send instead (tampered, odd, re-signed)."""
    header, payload, signature = token.split(".")
    raw_signature = base64.urlsafe_b64decode(signature + "==")
    flipped = bytes([raw_signature[0] ^ 1]) + raw_signature[1:]
    other = jws.sign({"x": 1}, key=key, kid=kid, message_type="referral").split(".")

    def signed_with(header_json: dict[str, Any], body: bytes) -> str:
        """Sign any header (joserfc refuses to make some of them)."""
        signing_input = f"{_b64(json.dumps(header_json).encode())}.{_b64(body)}"
        private = key.jwk.get_op_key("sign")
        if key.alg == "EdDSA":
            raw = private.sign(signing_input.encode())
        else:
            r, s = decode_dss_signature(private.sign(signing_input.encode(), ECDSA(SHA256())))
            raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return f"{signing_input}.{_b64(raw)}"

    body = base64.urlsafe_b64decode(payload + "==")
    typ = json.loads(base64.urlsafe_b64decode(header + "=="))["typ"]
    return [
        token,
        f"{header}.{payload}.{_b64(flipped)}",
        f"{header}.{other[1]}.{signature}",
        f"{header}.{payload}.{signature}=",
        f"{header}.{payload}.{signature[:-1]}",
        f"{header}.{payload}",
        f"{header}.{payload}.{signature}.x",
        f"{header}=.{payload}.{signature}",
        f"{header}.{payload}+.{signature}",
        f" {token}",
        f"{token}\u00e9",
        signed_with({"alg": key.alg, "kid": kid, "typ": typ}, body),
        signed_with({"typ": typ, "kid": kid, "alg": key.alg}, body),
        signed_with({"alg": key.alg, "kid": kid, "typ": typ, "cty": "json"}, body),
        signed_with({"alg": key.alg, "kid": kid, "typ": typ, "crit": ["exp"]}, body),
        signed_with({"alg": key.alg, "kid": kid, "typ": "perci.removal_order+jws"}, body),
        signed_with({"alg": key.alg, "kid": kid, "typ": ["x"]}, body),
        signed_with({"alg": key.alg, "kid": 7, "typ": typ}, body),
        signed_with({"alg": key.alg, "kid": kid, "typ": typ}, b"[1, 2]"),
        signed_with({"alg": key.alg, "kid": kid, "typ": typ}, b"not json"),
        signed_with({"alg": key.alg, "kid": kid + "x", "typ": typ}, body),
    ]


@pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
def test_fast_verification_answers_as_jws_verify(alg: str) -> None:
    key = generate(alg)
    kid = "de-bka#1"
    document = {"message_type": "referral", "sender": "de-bka", "message_id": "m-1", "n": 1}
    token = jws.sign(document, key=key, kid=kid, message_type="referral")
    infos: list[KeyInfo | None] = [
        _key_info(kid, key),
        _key_info(kid, key, status="revoked"),
        _key_info(kid, generate(alg)),
        _key_info(kid, generate("ES256" if alg == "EdDSA" else "EdDSA")),
        _key_info("de-bka#2", key),
        None,
    ]
    # The SDK's tokens take the fast path (jws.verify is the fallback for the rest).
    assert _fast_verify(token, "referral", infos[0], False) is not None
    accepted = 0
    for variant in _variants(token, key, kid):
        for info in infos:
            for expected_type in ("referral", "removal_order", None):
                for allow_revoked in (False, True):
                    ours = _ours(variant, expected_type, info, allow_revoked)
                    reference = _reference(variant, expected_type, info, allow_revoked)
                    assert ours == reference, (variant, info, expected_type, allow_revoked)
                    accepted += not isinstance(ours, str)
    assert accepted > 0


def test_the_sdk_verifies_broker_receipts_as_jws_verify() -> None:
    """The SDK's receipt fast path (perci_schemas.client_support) answers as jws.verify."""
    key = generate("EdDSA")
    signer = BrokerSigner(key)
    token = signer.sign_receipt(RECEIPT)
    assert _verify_plain_ed25519(token, "receipt", key.public) is not None
    others = [key.public, generate("EdDSA").public, generate("ES256").public, None]
    for variant in _variants(token, key, signer.kid):
        for public in others:
            for expected_type in ("receipt", "event"):
                fast = _verify_plain_ed25519(variant, expected_type, public)
                if fast is None:
                    continue
                assert public is not None
                reference = jws.verify(
                    variant, expected_type=expected_type, resolve_key=lambda _kid, k=public: k
                )
                assert fast == reference
