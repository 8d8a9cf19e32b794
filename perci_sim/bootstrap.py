"""``perci-sim init``: a working setup for a new user, and participant administration.

A setup folder ("home") holds the broker's signing key, its SQLite database
(the participant registry lives there), and one credentials file per
participant that the clients read (``perci-authority --credentials FILE``).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perci_schemas import keys
from perci_sim.clock import Clock, SystemClock
from perci_sim.crypto.broker_key import load_or_create_broker_key
from perci_sim.storage import registry
from perci_sim.storage.db import Database, open_database

__all__ = [
    "DEMO_PARTICIPANTS",
    "DemoParticipant",
    "add_participant",
    "credentials_path",
    "init_home",
    "rotate_key",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoParticipant:
    """A participant created by ``perci-sim init``."""

    id: str
    role: str
    name: str
    member_state: str
    languages: tuple[str, ...]
    contact_point: str
    alg: str = "EdDSA"


#: Authorities of five Member States (three issuing, plus the host-Member-State
#: authorities of Ireland and the Netherlands), three HSPs established in different
#: Member States with their Art. 15(2) languages, Europol, a content provider, a
#: court (Art. 9) and a drill facilitator.
DEMO_PARTICIPANTS: tuple[DemoParticipant, ...] = (
    DemoParticipant(
        id="de-bka",
        role="authority",
        name="Bundeskriminalamt (BKA)",
        member_state="DE",
        languages=("de", "en"),
        contact_point="tco-kontakt@bka.example",
    ),
    DemoParticipant(
        id="fr-ocrim",
        role="authority",
        name="Office anti-cybercriminalité (OFAC)",
        member_state="FR",
        languages=("fr", "en"),
        contact_point="tco@ofac.example",
    ),
    DemoParticipant(
        id="es-cgi",
        role="authority",
        name="Comisaría General de Información",
        member_state="ES",
        languages=("es", "en"),
        contact_point="tco@cgi.example",
        alg="ES256",
    ),
    DemoParticipant(
        id="hsp-alpha",
        role="hsp",
        name="Alpha Video Ltd",
        member_state="IE",
        languages=("en", "ga"),
        contact_point="tco-contact@alpha.example",
    ),
    DemoParticipant(
        id="hsp-beta",
        role="hsp",
        name="Beta Hosting B.V.",
        member_state="NL",
        languages=("nl", "en"),
        contact_point="abuse-tco@beta.example",
    ),
    DemoParticipant(
        id="hsp-gamma",
        role="hsp",
        name="Gamma Forum SAS",
        member_state="FR",
        languages=("fr", "en"),
        contact_point="tco@gamma.example",
        alg="ES256",
    ),
    # Host-Member-State authorities of the HSPs above (Art. 4 scrutiny, Art. 5 oversight).
    DemoParticipant(
        id="ie-cnam",
        role="authority",
        name="Coimisiún na Meán",
        member_state="IE",
        languages=("en", "ga"),
        contact_point="tco@cnam.example",
    ),
    DemoParticipant(
        id="nl-atkm",
        role="authority",
        name="Autoriteit online Terroristisch en Kinderpornografisch Materiaal (ATKM)",
        member_state="NL",
        languages=("nl", "en"),
        contact_point="tco@atkm.example",
    ),
    DemoParticipant(
        id="europol",
        role="europol",
        name="Europol EU Internet Referral Unit",
        member_state="NL",
        languages=("en",),
        contact_point="eu-iru@europol.example",
    ),
    DemoParticipant(
        id="cp-demo",
        role="content_provider",
        name="A content provider (demo user)",
        member_state="DE",
        languages=("de", "en"),
        contact_point="user@mail.example",
    ),
    DemoParticipant(
        id="de-court",
        role="court",
        name="Verwaltungsgericht Wiesbaden",
        member_state="DE",
        languages=("de",),
        contact_point="poststelle@vg-wiesbaden.example",
    ),
    DemoParticipant(
        id="facilitator",
        role="facilitator",
        name="Drill facilitator",
        member_state="NL",
        languages=("en",),
        contact_point="facilitator@perci-sim.example",
    ),
)


def credentials_path(home: Path, participant_id: str) -> Path:
    """Where the credentials file of ``participant_id`` lives in ``home``."""
    return home / "credentials" / f"{participant_id}.json"


def _write_secret(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")
    tmp.replace(path)  # atomic: never a half-written credentials file


def _credentials(
    *, broker_url: str, participant: DemoParticipant, token: str, kid: str, key: keys.KeyPair
) -> dict[str, Any]:
    return {
        "broker_url": broker_url,
        "participant_id": participant.id,
        "role": participant.role,
        "name": participant.name,
        "member_state": participant.member_state,
        "token": token,
        "kid": kid,
        "private_jwk": key.to_jwk(),
    }


async def add_participant(
    db: Database,
    *,
    home: Path,
    broker_url: str,
    participant: DemoParticipant,
    clock: Clock,
    webhook_url: str | None = None,
) -> Path:
    """Register ``participant`` with a fresh key and token; write its credentials file."""
    token = "perci_" + secrets.token_urlsafe(32)
    key = keys.generate(participant.alg)
    now = clock.now()
    await registry.add_participant(
        db,
        id=participant.id,
        role=participant.role,
        name=participant.name,
        member_state=participant.member_state,
        languages=list(participant.languages),
        contact_point=participant.contact_point,
        token=token,
        now=now,
        webhook_url=webhook_url,
    )
    kid = await registry.add_key(db, participant_id=participant.id, public_key=key.public, now=now)
    path = credentials_path(home, participant.id)
    _write_secret(
        path,
        _credentials(broker_url=broker_url, participant=participant, token=token, kid=kid, key=key),
    )
    return path


async def rotate_key(db: Database, *, home: Path, participant_id: str, alg: str) -> str:
    """Give ``participant_id`` a new key, revoke the old ones, update its credentials file."""
    key = keys.generate(alg)
    kid = await registry.rotate_key(
        db, participant_id=participant_id, public_key=key.public, now=SystemClock().now()
    )
    path = credentials_path(home, participant_id)
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
        data["kid"] = kid
        data["private_jwk"] = key.to_jwk()
        _write_secret(path, data)
    return kid


def is_initialised(home: Path) -> bool:
    """Whether ``home`` already holds a setup."""
    return (home / "broker-key.jwk.json").exists()


async def init_home(
    home: Path, *, broker_url: str, database_url: str | None = None, clock: Clock | None = None
) -> list[Path]:
    """Create a setup in ``home``: broker key, database, demo participants and credentials.

    Raises:
        FileExistsError: ``home`` already holds a setup.
    """
    if is_initialised(home):
        raise FileExistsError(f"{home} already holds a perci-sim setup")
    home.mkdir(parents=True, exist_ok=True)
    clock = clock or SystemClock()
    load_or_create_broker_key(home / "broker-key.jwk.json")
    url = database_url or f"sqlite+aiosqlite:///{(home / 'perci.db').resolve()}"
    db = await open_database(url)
    try:
        return [
            await add_participant(db, home=home, broker_url=broker_url, participant=p, clock=clock)
            for p in DEMO_PARTICIPANTS
        ]
    finally:
        await db.close()
