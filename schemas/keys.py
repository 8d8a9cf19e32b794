"""Key pairs and public keys for the exchange: Ed25519 ("EdDSA") and P-256 ("ES256").

Keys are stored and exchanged as JWK (RFC 7517) JSON objects.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from joserfc.jwk import ECKey, OKPKey

__all__ = ["ALGORITHMS", "KeyPair", "PublicKey", "generate", "load_private", "load_public"]

#: The JWS algorithms the exchange accepts, and the JWK curve of each.
ALGORITHMS: dict[str, str] = {"EdDSA": "Ed25519", "ES256": "P-256"}

_JWK = OKPKey | ECKey


def _alg_of(jwk: dict[str, Any]) -> str:
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "OKP" and crv == "Ed25519":
        return "EdDSA"
    if kty == "EC" and crv == "P-256":
        return "ES256"
    raise ValueError(f"unsupported key type kty={kty!r} crv={crv!r}: use Ed25519 or P-256")


def _import(jwk: dict[str, Any]) -> _JWK:
    alg = _alg_of(jwk)
    fields = {k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y", "d")}
    return OKPKey.import_key(fields) if alg == "EdDSA" else ECKey.import_key(fields)


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A public key the exchange can verify with."""

    jwk: _JWK
    alg: str

    def to_jwk(self) -> dict[str, Any]:
        """Return the public JWK as a JSON-ready dict (with ``alg``)."""
        data: dict[str, Any] = dict(self.jwk.as_dict(private=False))
        data["alg"] = self.alg
        return data

    @property
    def thumbprint(self) -> str:
        """RFC 7638 JWK thumbprint (SHA-256, base64url)."""
        jwk = self.jwk.as_dict(private=False)
        members = ("crv", "kty", "x") if self.alg == "EdDSA" else ("crv", "kty", "x", "y")
        canon = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
        digest = hashlib.sha256(canon.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A private key with its algorithm."""

    jwk: _JWK
    alg: str

    @property
    def public(self) -> PublicKey:
        """The public half of this key pair."""
        return load_public(self.jwk.as_dict(private=False))

    def to_jwk(self) -> dict[str, Any]:
        """Return the private JWK as a JSON-ready dict (with ``alg``). Keep it secret."""
        data: dict[str, Any] = dict(self.jwk.as_dict(private=True))
        data["alg"] = self.alg
        return data


def generate(alg: str = "EdDSA") -> KeyPair:
    """Generate a new key pair for ``alg`` ("EdDSA" or "ES256")."""
    if alg == "EdDSA":
        return KeyPair(OKPKey.generate_key("Ed25519", private=True), alg)
    if alg == "ES256":
        return KeyPair(ECKey.generate_key("P-256", private=True), alg)
    raise ValueError(f"unsupported algorithm {alg!r}: use EdDSA or ES256")


def load_private(jwk: dict[str, Any]) -> KeyPair:
    """Load a private JWK."""
    if "d" not in jwk:
        raise ValueError("a private JWK needs its 'd' member")
    return KeyPair(_import(jwk), _alg_of(jwk))


def load_public(jwk: dict[str, Any]) -> PublicKey:
    """Load a public JWK (private members, if any, are dropped)."""
    public = {k: v for k, v in jwk.items() if k != "d"}
    return PublicKey(_import(public), _alg_of(public))
