"""The broker's own signing key: receipts and webhook events are signed with it.

The key is an Ed25519 private JWK in a file created with mode 0600.  Its kid is
``broker#<first 16 characters of the RFC 7638 thumbprint>``, so a party can tell
which broker key signed a receipt; ``GET /v1/broker/jwks`` publishes it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from perci_schemas import jws
from perci_schemas.keys import KeyPair, PublicKey, generate, load_private

__all__ = ["BrokerSigner", "load_or_create_broker_key"]


class BrokerSigner:
    """Signs the broker's receipts and events."""

    def __init__(self, key: KeyPair) -> None:
        self._key = key
        self.public = key.public
        self.kid = f"broker#{self.public.thumbprint[:16]}"

    @property
    def public_keys(self) -> dict[str, PublicKey]:
        """The broker's public keys by kid (for :func:`perci_sim.storage.log.verify_log`)."""
        return {self.kid: self.public}

    def sign_receipt(self, payload: dict[str, Any]) -> str:
        """Return a ``perci.receipt+jws`` over ``payload``."""
        return jws.sign(payload, key=self._key, kid=self.kid, message_type="receipt")

    def sign_event(self, payload: dict[str, Any]) -> str:
        """Return a ``perci.event+jws`` over ``payload`` (an EventView)."""
        return jws.sign(payload, key=self._key, kid=self.kid, message_type="event")

    def jwks(self) -> dict[str, Any]:
        """Return the JWK Set of the broker's public keys."""
        return {"keys": [{**self.public.to_jwk(), "kid": self.kid, "use": "sig"}]}


def load_or_create_broker_key(path: Path) -> BrokerSigner:
    """Load the broker key from ``path``, creating an Ed25519 key (mode 0600) if missing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps(generate("EdDSA").to_jwk(), indent=2).encode("utf-8")
        # Write a private temporary file, then link it into place: atomic, and a
        # concurrent starter either wins or loads the winner's complete key.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    jwk = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(jwk, dict):
        raise ValueError(f"{path} does not hold a JWK object")
    return BrokerSigner(load_private(jwk))
