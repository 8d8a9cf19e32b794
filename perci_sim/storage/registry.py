"""The participant registry: authorities, hosting providers, their keys and tokens.

Called by ``perci-sim init`` and the admin CLI, and by the broker to
authenticate requests (bearer token, stored as SHA-256 only) and to find the
key a document names (``kid``).  A revoked key stays in the registry: documents
it signed before ``revoked_at`` remain verifiable in the log.

The broker reads the registry from a per-database cache (:class:`RegistrySnapshot`,
the whole registry).  It is validated against the single-row ``registry_version``
counter, which every change to a participant or key bumps in its own transaction
(storage/models.py): once per request (:func:`registry_scope`, entered by the auth
middleware) or, outside a request, once per lookup.  A key revoked by the admin CLI
in another process is therefore refused from the next request on.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from perci_schemas.keys import PublicKey
from perci_sim.domain.errors import PerciError
from perci_sim.domain.member_states import MEMBER_STATES, designates_host_language
from perci_sim.storage.db import Database
from perci_sim.storage.models import Participant, ParticipantKey, RegistryVersion

__all__ = [
    "ROLES",
    "HostLanguageMissing",
    "InvalidParticipant",
    "KeyInfo",
    "KeyNotFound",
    "ParticipantExists",
    "ParticipantInfo",
    "ParticipantNotFound",
    "RegistrySnapshot",
    "add_key",
    "add_participant",
    "cached_member_states",
    "get_key",
    "get_participant",
    "list_participants",
    "participant_by_token",
    "participants_with",
    "registry_scope",
    "registry_snapshot",
    "revoke_key",
    "rotate_key",
    "set_webhook",
    "token_hash",
]

#: authority: Art. 12 competent authority; hsp: hosting service provider; europol: Europol
#: (EU IRU, Art. 14); content_provider: a user whose content was removed (Art. 4(4), 10, 11);
#: court: records Art. 9 annulments; facilitator: drills.
ROLES = ("authority", "hsp", "europol", "content_provider", "court", "facilitator")
_ID = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")


class InvalidParticipant(PerciError):
    """The participant's registration data is unusable."""

    code = "invalid_participant"
    http_status = 422
    title = "Invalid participant"


class ParticipantExists(PerciError):
    """A participant with this id (or token) is already registered."""

    code = "participant_exists"
    http_status = 409
    title = "Participant already registered"


class HostLanguageMissing(PerciError):
    """TCO Art. 15(2): an HSP designates at least one official language of its host MS."""

    code = "host_language_missing"
    http_status = 422
    title = "No official language of the host Member State designated (TCO Art. 15(2))"


class ParticipantNotFound(PerciError):
    """No participant with this id."""

    code = "not_found"
    http_status = 404
    title = "Participant not found"


class KeyNotFound(PerciError):
    """No key with this kid."""

    code = "not_found"
    http_status = 404
    title = "Key not found"


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyInfo:
    """A registered signing key."""

    kid: str
    participant_id: str
    alg: str
    jwk: dict[str, Any]
    status: str  # active | revoked
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ParticipantInfo:
    """A registered participant with its keys (never its token hash)."""

    id: str
    role: str
    name: str
    member_state: str
    legal_representative_member_state: str | None
    languages: list[str]
    contact_point: str
    webhook_url: str | None
    created_at: datetime
    keys: list[KeyInfo]

    @property
    def host_member_state(self) -> str:
        """TCO Art. 16/17: the legal representative's Member State, else the main establishment."""
        return self.legal_representative_member_state or self.member_state


def token_hash(token: str) -> str:
    """Return the hex SHA-256 under which a bearer token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _key_info(row: ParticipantKey) -> KeyInfo:
    return KeyInfo(
        kid=row.kid,
        participant_id=row.participant_id,
        alg=row.alg,
        jwk=dict(row.public_jwk),
        status=row.status,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def _info(row: Participant, keys: Sequence[ParticipantKey]) -> ParticipantInfo:
    return ParticipantInfo(
        id=row.id,
        role=row.role,
        name=row.name,
        member_state=row.member_state,
        legal_representative_member_state=row.legal_representative_member_state,
        languages=list(row.languages),
        contact_point=row.contact_point,
        webhook_url=row.webhook_url,
        created_at=row.created_at,
        keys=[_key_info(k) for k in keys],
    )


async def _keys_of(session: AsyncSession, participant_id: str) -> list[ParticipantKey]:
    result = await session.exec(
        select(ParticipantKey)
        .where(col(ParticipantKey.participant_id) == participant_id)
        .order_by(col(ParticipantKey.created_at), col(ParticipantKey.kid))
    )
    return list(result.all())


def _check_registration(
    *,
    id: str,
    role: str,
    member_state: str,
    legal_representative_member_state: str | None,
    languages: list[str],
) -> None:
    if not _ID.fullmatch(id):
        raise InvalidParticipant(f"participant id {id!r} must match [a-z0-9][a-z0-9-]{{1,62}}")
    if role not in ROLES:
        raise InvalidParticipant(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    for field, ms in (
        ("member_state", member_state),
        ("legal_representative_member_state", legal_representative_member_state),
    ):
        if ms is not None and ms not in MEMBER_STATES:
            raise InvalidParticipant(f"{field} {ms!r} is not an EU Member State code")
    if role == "hsp":
        # TCO Art. 15(2), R5: at least one official language of the host Member State
        # (the legal representative's under Art. 17, else the main establishment's).
        host = legal_representative_member_state or member_state
        if not designates_host_language(host, tuple(languages)):
            raise HostLanguageMissing(
                f"an HSP hosted in {host} must designate at least one of its official "
                f"languages; got {', '.join(languages) or 'none'}",
                host_member_state=host,
            )


async def add_participant(
    db: Database,
    *,
    id: str,
    role: str,
    name: str,
    member_state: str,
    languages: list[str],
    contact_point: str,
    token: str,
    now: datetime,
    legal_representative_member_state: str | None = None,
    webhook_url: str | None = None,
) -> Participant:
    """Register a participant; only the SHA-256 of ``token`` is stored.

    Raises:
        InvalidParticipant: bad id, role or Member State.
        HostLanguageMissing: an HSP without an official language of its host MS (R5).
        ParticipantExists: the id (or the token) is taken.
    """
    _check_registration(
        id=id,
        role=role,
        member_state=member_state,
        legal_representative_member_state=legal_representative_member_state,
        languages=languages,
    )
    row = Participant(
        id=id,
        role=role,
        name=name,
        member_state=member_state,
        legal_representative_member_state=legal_representative_member_state,
        languages=list(languages),
        contact_point=contact_point,
        webhook_url=webhook_url,
        token_sha256=token_hash(token),
        created_at=now,
    )
    try:
        async with db.write() as session:
            if await session.get(Participant, id) is not None:
                raise ParticipantExists(f"participant {id!r} is already registered")
            session.add(row)
    except IntegrityError as exc:
        raise ParticipantExists(f"participant {id!r} or its token is already registered") from exc
    return row


async def add_key(
    db: Database, *, participant_id: str, public_key: PublicKey, now: datetime
) -> str:
    """Register ``public_key`` for the participant and return its kid (``<id>#<n>``)."""
    async with db.write() as session:
        return await _add_key(
            session, participant_id=participant_id, public_key=public_key, now=now
        )


async def _add_key(
    session: AsyncSession, *, participant_id: str, public_key: PublicKey, now: datetime
) -> str:
    if await session.get(Participant, participant_id) is None:
        raise ParticipantNotFound(f"no participant {participant_id!r}")
    count = (
        await session.exec(
            select(func.count())
            .select_from(ParticipantKey)
            .where(col(ParticipantKey.participant_id) == participant_id)
        )
    ).one()
    kid = f"{participant_id}#{count + 1}"
    session.add(
        ParticipantKey(
            kid=kid,
            participant_id=participant_id,
            alg=public_key.alg,
            public_jwk=public_key.to_jwk(),
            status="active",
            created_at=now,
        )
    )
    return kid


async def revoke_key(db: Database, *, kid: str, now: datetime) -> None:
    """Revoke ``kid``: its new signatures are refused from ``now`` on (``revoked_key``)."""
    async with db.write() as session:
        row = await session.get(ParticipantKey, kid)
        if row is None:
            raise KeyNotFound(f"no key {kid!r}")
        if row.status != "revoked":
            row.status = "revoked"
            row.revoked_at = now
            session.add(row)


async def rotate_key(
    db: Database, *, participant_id: str, public_key: PublicKey, now: datetime
) -> str:
    """Add ``public_key``, revoke the participant's previously active keys, return the new kid."""
    async with db.write() as session:
        active = [k for k in await _keys_of(session, participant_id) if k.status == "active"]
        kid = await _add_key(session, participant_id=participant_id, public_key=public_key, now=now)
        for row in active:
            row.status = "revoked"
            row.revoked_at = now
            session.add(row)
    return kid


# --- the cached registry -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrySnapshot:
    """The whole registry at one ``registry_version`` (shared: never mutate it)."""

    version: int
    #: By id, in id order.
    participants: dict[str, ParticipantInfo]
    #: Token SHA-256 -> participant id.
    by_token: dict[str, str]
    keys: dict[str, KeyInfo]


_VERSION = select(RegistryVersion.version).where(col(RegistryVersion.id) == 1)
_snapshots: weakref.WeakKeyDictionary[Database, RegistrySnapshot] = weakref.WeakKeyDictionary()
#: The snapshot validated for the current request: (database, request task, snapshot).
_scope: ContextVar[tuple[Database, asyncio.Task[Any] | None, RegistrySnapshot] | None] = ContextVar(
    "perci_registry_scope", default=None
)


async def _load(session: AsyncSession) -> RegistrySnapshot:
    # One read transaction: the version first, so the rows are at least that recent.
    version = (await session.exec(_VERSION)).first() or 0
    rows = (await session.exec(select(Participant).order_by(col(Participant.id)))).all()
    keys = (await session.exec(select(ParticipantKey))).all()
    by_owner: dict[str, list[ParticipantKey]] = {}
    for key in sorted(keys, key=lambda k: (k.created_at, k.kid)):
        by_owner.setdefault(key.participant_id, []).append(key)
    participants = {row.id: _info(row, by_owner.get(row.id, [])) for row in rows}
    return RegistrySnapshot(
        version=version,
        participants=participants,
        by_token={row.token_sha256: row.id for row in rows},
        keys={info.kid: info for p in participants.values() for info in p.keys},
    )


async def _validated(db: Database, session: AsyncSession | None) -> RegistrySnapshot:
    """The cached snapshot if ``registry_version`` has not moved, else a fresh one."""
    cached = _snapshots.get(db)
    if session is not None:
        version = (await session.exec(_VERSION)).first() or 0
        if cached is not None and cached.version == version:
            return cached
        snapshot = await _load(session)
    else:
        async with db.connect() as conn:
            version = (await conn.execute(_VERSION)).scalar() or 0
        if cached is not None and cached.version == version:
            return cached
        async with db.read() as fresh:
            snapshot = await _load(fresh)
    _snapshots[db] = snapshot
    return snapshot


def cached_member_states(
    db: Database, authority_id: str | None, hsp_id: str | None
) -> tuple[str, ...]:
    """The issuing and host Member States of an order between these parties, from the last
    validated snapshot (no I/O: the live feed's court filter, TCO Art. 9); () when none."""
    snapshot = _snapshots.get(db)
    if snapshot is None:
        return ()
    authority = snapshot.participants.get(authority_id or "")
    hsp = snapshot.participants.get(hsp_id or "")
    return tuple(
        state
        for state in (
            authority.member_state if authority else None,
            hsp.host_member_state if hsp else None,
        )
        if state
    )


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # pragma: no cover - no running loop
        return None


async def registry_snapshot(db: Database, session: AsyncSession | None = None) -> RegistrySnapshot:
    """The registry as of the current request (see :func:`registry_scope`), else validated now.

    ``session``: an open transaction to read the version with (one that holds the
    write lock must not wait for another connection).
    """
    scoped = _scope.get()
    if scoped is not None and scoped[0] is db and scoped[1] is _current_task():
        return scoped[2]
    return await _validated(db, session)


@asynccontextmanager
async def registry_scope(db: Database) -> AsyncIterator[RegistrySnapshot]:
    """Validate the cache once (one single-row read) and use it for the enclosed request.

    The scope holds only in the task that entered it: tasks it spawns validate anew.
    """
    snapshot = await _validated(db, None)
    token = _scope.set((db, _current_task(), snapshot))
    try:
        yield snapshot
    finally:
        _scope.reset(token)


async def participants_with(
    db: Database, *, role: str, member_state: str | None = None, session: AsyncSession | None = None
) -> list[ParticipantInfo]:
    """The participants of ``role`` (and ``member_state``), ordered by id."""
    snapshot = await registry_snapshot(db, session)
    return [
        p
        for p in snapshot.participants.values()
        if p.role == role and (member_state is None or p.member_state == member_state)
    ]


async def list_participants(db: Database) -> list[ParticipantInfo]:
    """Return every participant with its keys, ordered by id."""
    return list((await registry_snapshot(db)).participants.values())


async def get_participant(
    db: Database, participant_id: str, *, session: AsyncSession | None = None
) -> ParticipantInfo | None:
    """Return the participant ``participant_id``, or None."""
    return (await registry_snapshot(db, session)).participants.get(participant_id)


async def participant_by_token(db: Database, token: str) -> ParticipantInfo | None:
    """Return the participant a bearer token authenticates, or None."""
    snapshot = await registry_snapshot(db)
    participant_id = snapshot.by_token.get(token_hash(token))
    return None if participant_id is None else snapshot.participants.get(participant_id)


async def get_key(db: Database, kid: str) -> KeyInfo | None:
    """Return the key ``kid`` (active or revoked), or None."""
    return (await registry_snapshot(db)).keys.get(kid)


async def set_webhook(db: Database, participant_id: str, url: str | None) -> ParticipantInfo:
    """Set (or, with None, clear) the participant's webhook URL and return the participant."""
    async with db.write() as session:
        row = await session.get(Participant, participant_id)
        if row is None:
            raise ParticipantNotFound(f"no participant {participant_id!r}")
        row.webhook_url = url
        session.add(row)
        info = _info(row, await _keys_of(session, row.id))
    return info
