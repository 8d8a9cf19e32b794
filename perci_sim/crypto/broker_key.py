"""The broker's own signing key: receipts and webhook events are signed with it.

The key is an Ed25519 private JWK in a file created with mode 0600.  Its kid is
``broker#<first 16 characters of the RFC 7638 thumbprint>``, so a party can tell
which broker key signed a receipt; ``GET /v1/broker/jwks`` publishes it.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from perci_schemas import jws
from perci_schemas.keys import KeyPair, PublicKey, generate, load_private
from perci_sim.crypto.canonical import canonical_json

__all__ = ["BrokerSigner", "load_or_create_broker_key"]


class BrokerSigner:
    """Signs the broker's receipts and events."""

    def __init__(self, key: KeyPair) -> None:
        self._key = key
        self.public = key.public
        self.kid = f"broker#{self.public.thumbprint[:16]}"
        # The receipt hot path: the protected header segment is the same for every
        # receipt, and an Ed25519 key signs without joserfc's per-call work (the same
        # token jws.sign makes: Ed25519 signatures are deterministic).
        self._receipt_header = jws.sign({}, key=key, kid=self.kid, message_type="receipt").split(
            ".", 1
        )[0]
        op_key = key.jwk.get_op_key("sign") if key.alg == "EdDSA" else None
        self._ed25519 = op_key if isinstance(op_key, Ed25519PrivateKey) else None

    @property
    def public_keys(self) -> dict[str, PublicKey]:
        """The broker's public keys by kid (for :func:`perci_sim.storage.log.verify_log`)."""
        return {self.kid: self.public}

    def sign_receipt(self, payload: dict[str, Any]) -> str:
        """Return a ``perci.receipt+jws`` over ``payload`` (exactly what ``jws.sign`` makes)."""
        if self._ed25519 is None:
            return jws.sign(payload, key=self._key, kid=self.kid, message_type="receipt")
        body = _b64(canonical_json(payload))
        signing_input = f"{self._receipt_header}.{body}"
        signature = _b64(self._ed25519.sign(signing_input.encode("ascii")))
        return f"{signing_input}.{signature}"

    def sign_refusal(self, payload: dict[str, Any]) -> str:
        """Return a ``perci.refusal+jws`` over ``payload`` (a problem answer's summary)."""
        return jws.sign(payload, key=self._key, kid=self.kid, message_type="refusal")

    def sign_event(self, payload: dict[str, Any]) -> str:
        """Return a ``perci.event+jws`` over ``payload`` (an EventView)."""
        return jws.sign(payload, key=self._key, kid=self.kid, message_type="event")

    def derive_secret(self, purpose: str) -> bytes:
        """A 32-byte secret for ``purpose`` derived from the broker key (HKDF-SHA256).

        The web dashboard signs its session cookies with it: replicas sharing the broker
        key (``PERCI_BROKER_KEY_FILE``) accept each other's sessions, and a restart keeps
        them, with no second secret to manage.  Distinct purposes give unrelated secrets.
        """
        private = str(self._key.jwk.as_dict(private=True)["d"]).encode("ascii")
        hkdf = HKDF(algorithm=SHA256(), length=32, salt=None, info=purpose.encode("utf-8"))
        return hkdf.derive(private)

    def jwks(self) -> dict[str, Any]:
        """Return the JWK Set of the broker's public keys."""
        return {"keys": [{**self.public.to_jwk(), "kid": self.kid, "use": "sig"}]}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


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
