"""The broker's key file: created private, stable kid, receipts verify with its JWKS."""

from __future__ import annotations

import stat
from pathlib import Path

from perci_schemas import jws
from perci_schemas.keys import load_public
from perci_sim.crypto.broker_key import load_or_create_broker_key


def test_created_0600_and_reloaded_with_the_same_kid(tmp_path: Path) -> None:
    """A missing key is created with mode 0600; loading it again gives the same key."""
    path = tmp_path / "home" / "broker-key.jwk.json"
    signer = load_or_create_broker_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert signer.kid == f"broker#{signer.public.thumbprint[:16]}"
    again = load_or_create_broker_key(path)
    assert again.kid == signer.kid
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_receipts_and_events_are_typed_and_verify_with_the_jwks(tmp_path: Path) -> None:
    """sign_receipt and sign_event carry their own typ; the JWKS holds no private part."""
    signer = load_or_create_broker_key(tmp_path / "k.json")
    (published,) = signer.jwks()["keys"]
    assert "d" not in published
    key = load_public(published)
    receipt = signer.sign_receipt({"seq": 1})
    event = signer.sign_event({"seq": 1})
    assert jws.verify(receipt, expected_type="receipt", resolve_key=lambda _: key).payload == {
        "seq": 1
    }
    assert jws.peek_header(event)["typ"] == "perci.event+jws"
    assert jws.peek_header(receipt)["kid"] == published["kid"]
