"""Participant credentials files, as written by ``perci-sim init``.

A credentials file is a JSON object with the participant's broker URL, id,
role, API token, key id and private JWK.  ``$PERCI_CREDENTIALS`` names the file
when no path is given.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perci_schemas.client_errors import InputError
from perci_schemas.keys import KeyPair, load_private

__all__ = ["CREDENTIALS_ENV", "Credentials", "load_credentials"]

#: Environment variable naming the credentials file when no path is given.
CREDENTIALS_ENV = "PERCI_CREDENTIALS"


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    """A participant's credentials file as written by ``perci-sim init``.

    ``profile`` keeps any further members (e.g. ``contact_email``) for the
    form builders.
    """

    broker_url: str
    participant_id: str
    role: str
    token: str
    kid: str
    key: KeyPair
    name: str = ""
    member_state: str = ""
    profile: Mapping[str, Any] = field(default_factory=dict)


_CREDENTIAL_MEMBERS = ("broker_url", "participant_id", "role", "token", "kid", "private_jwk")


def load_credentials(path: str | os.PathLike[str] | None = None) -> Credentials:
    """Load a credentials file from ``path``, else from ``$PERCI_CREDENTIALS``.

    Raises:
        InputError: no path is known, or the file is not a credentials file.
        OSError: the file cannot be read.
    """
    if path is None:
        path = os.environ.get(CREDENTIALS_ENV) or None
    if path is None:
        raise InputError(f"no credentials: pass --credentials PATH or set {CREDENTIALS_ENV}")
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InputError(f"{path}: not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path}: a credentials file is a JSON object")
    missing = [m for m in _CREDENTIAL_MEMBERS if not data.get(m)]
    if missing:
        raise InputError(f"{path}: missing {', '.join(missing)}")
    if not str(data["kid"]).startswith(f"{data['participant_id']}#"):
        raise InputError(
            f"{path}: key id {data['kid']!r} does not belong to {data['participant_id']!r}"
        )
    try:
        key = load_private(data["private_jwk"])
    except (ValueError, TypeError, KeyError) as exc:
        raise InputError(f"{path}: unusable private_jwk ({exc})") from exc
    declared = data["private_jwk"].get("alg")
    if declared is not None and declared != key.alg:
        raise InputError(f"{path}: private_jwk says alg {declared!r} but is a {key.alg} key")
    known = {*_CREDENTIAL_MEMBERS, "name", "member_state"}
    return Credentials(
        broker_url=str(data["broker_url"]),
        participant_id=str(data["participant_id"]),
        role=str(data["role"]),
        token=str(data["token"]),
        kid=str(data["kid"]),
        key=key,
        name=str(data.get("name", "")),
        member_state=str(data.get("member_state", "")),
        profile={k: v for k, v in data.items() if k not in known},
    )
