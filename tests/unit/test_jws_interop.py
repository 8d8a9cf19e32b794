"""Signed documents verify with an independent JOSE stack (jwcrypto), and only as their type."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from jwcrypto import jwk as jc_jwk
from jwcrypto import jws as jc_jws

from perci_schemas import jws, keys, load_example
from perci_sim.crypto.broker_key import load_or_create_broker_key


def _jwcrypto_verify(token: str, public_jwk: dict[str, object]) -> tuple[dict[str, object], bytes]:
    """Verify ``token`` with jwcrypto alone; return its protected header and payload."""
    key = jc_jwk.JWK(**{k: v for k, v in public_jwk.items() if k not in ("alg", "kid", "use")})
    obj = jc_jws.JWS()
    obj.deserialize(token)
    obj.verify(key)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    return header, obj.payload


@pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
class TestIndependentVerification:
    def test_order_verifies_with_jwcrypto(self, alg: str) -> None:
        """An Annex I order signed by perci-sim is a standard JWS."""
        key = keys.generate(alg)
        order = load_example("removal_order")
        token = jws.sign(order, key=key, kid="de-bka#1", message_type="removal_order")
        header, payload = _jwcrypto_verify(token, key.public.to_jwk())
        assert header == {"alg": alg, "kid": "de-bka#1", "typ": "perci.removal-order+jws"}
        assert json.loads(payload) == order
        # The payload is the RFC 8785 canonical form, byte for byte.
        assert payload == jws.canonical_json(order)

    def test_tampered_order_fails_everywhere(self, alg: str) -> None:
        """A changed payload fails in jwcrypto and in perci-sim."""
        key = keys.generate(alg)
        token = jws.sign(
            load_example("removal_order"), key=key, kid="de-bka#1", message_type="removal_order"
        )
        head, _, sig = token.split(".")
        forged = base64.urlsafe_b64encode(b'{"message_type":"removal_order"}').rstrip(b"=")
        tampered = f"{head}.{forged.decode()}.{sig}"
        with pytest.raises(jc_jws.InvalidJWSSignature):
            _jwcrypto_verify(tampered, key.public.to_jwk())
        with pytest.raises(jws.JWSError) as info:
            jws.verify(tampered, expected_type="removal_order", resolve_key=lambda _: key.public)
        assert info.value.reason == "bad_signature"


def test_broker_receipt_verifies_with_jwcrypto(tmp_path: Path) -> None:
    """The broker's receipt verifies with the key it publishes as a JWK Set."""
    signer = load_or_create_broker_key(tmp_path / "broker-key.jwk.json")
    receipt = {"event_id": "e1", "seq": 1, "document_sha256": "0" * 64}
    token = signer.sign_receipt(receipt)
    (published,) = signer.jwks()["keys"]
    header, payload = _jwcrypto_verify(token, published)
    assert header["typ"] == "perci.receipt+jws"
    assert header["kid"] == published["kid"]
    assert json.loads(payload) == receipt


def test_feedback_never_verifies_as_an_order() -> None:
    """The typ binds the signature to a message type: no type confusion."""
    key = keys.generate("EdDSA")
    token = jws.sign(load_example("feedback"), key=key, kid="hsp-alpha#1", message_type="feedback")
    with pytest.raises(jws.JWSError) as info:
        jws.verify(token, expected_type="removal_order", resolve_key=lambda _: key.public)
    assert info.value.reason == "wrong_type"


def test_algorithm_must_match_the_registered_key() -> None:
    """A token claiming ES256 is not checked against an Ed25519 key (no alg confusion)."""
    ed, ec = keys.generate("EdDSA"), keys.generate("ES256")
    token = jws.sign({"a": 1}, key=ec, kid="x#1", message_type="removal_order")
    with pytest.raises(jws.JWSError) as info:
        jws.verify(token, expected_type="removal_order", resolve_key=lambda _: ed.public)
    assert info.value.reason == "bad_algorithm"
