"""What the two client SDKs share: credentials, broker HTTP, receipts, the feed.

``authority_client`` and ``platform_client`` both talk to the same broker API
(docs/API.md): bearer-token requests, RFC 9457 problems, signed documents
answered by broker-signed receipts, and an event feed.  This module holds that
common core once, so that neither package copies it from the other and neither
depends on the broker (``perci_sim``).  It has no CLI dependencies.

Each SDK subclasses :class:`BrokerClient` and maps the shared error bases to
its own exception hierarchy through :class:`ErrorTypes`::

    class AuthorityClient(BrokerClient):
        role = "authority"
        errors = ErrorTypes(ProblemError, ReceiptInvalid, BrokerUnavailable)

Error bases (each SDK's classes inherit from these and from its own root)::

    ClientError
     ├── ProblemBase            the broker answered with application/problem+json
     ├── ReceiptInvalidBase     a receipt did not verify or does not match
     └── BrokerUnavailableBase  the broker could not be reached
    InputError (ValueError)     a credentials or input file is unusable

The module ends with the helpers the two CLIs share (argparse, the error
convention, ``--json``, tables); ``rich`` is imported only when rendering.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import sys
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Coroutine, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self, TypedDict, cast

import aiohttp

from perci_schemas import jws
from perci_schemas.keys import KeyPair, PublicKey, load_private, load_public

__all__ = [
    "CREDENTIALS_ENV",
    "Accepted",
    "BrokerClient",
    "BrokerClock",
    "BrokerUnavailableBase",
    "ClientError",
    "ContactPoint",
    "Credentials",
    "ErrorTypes",
    "EventPage",
    "EventView",
    "InputError",
    "OrderView",
    "ParticipantView",
    "ProblemBase",
    "Receipt",
    "ReceiptInvalidBase",
    "UsageError",
    "contact_email",
    "describe_contact",
    "format_time",
    "load_credentials",
    "parse_time",
]

#: Environment variable naming the credentials file when no path is given.
CREDENTIALS_ENV = "PERCI_CREDENTIALS"


# --------------------------------------------------------------------- errors


class ClientError(Exception):
    """Root of the errors both SDKs share; each SDK roots its own on a subclass."""


class InputError(ValueError):
    """A credentials or input file is missing a member or is not what it should be."""


class ProblemBase(ClientError):
    """The broker refused a request with an RFC 9457 problem (``code`` is stable)."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str | None = None,
        errors: Sequence[Mapping[str, Any]] = (),
        body: Mapping[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.errors: tuple[Mapping[str, Any], ...] = tuple(errors)
        self.body: Mapping[str, Any] = body if body is not None else {}
        text = detail or title
        fields = "; ".join(f"{e.get('field', '?')}: {e.get('message', '')}" for e in self.errors)
        super().__init__(f"{text} ({code}, HTTP {status})" + (f" [{fields}]" if fields else ""))


class ReceiptInvalidBase(ClientError):
    """A broker receipt did not verify, or does not match the document sent."""

    def __init__(self, reason: str, *, receipt: str | None = None) -> None:
        super().__init__(f"invalid broker receipt: {reason}")
        self.reason = reason
        self.receipt = receipt


class BrokerUnavailableBase(ClientError):
    """The broker could not be reached (connection refused, timeout, gateway error)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"broker unavailable at {url}: {reason}")
        self.url = url
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ErrorTypes:
    """The concrete exception classes an SDK raises for the shared failure kinds."""

    problem: type[ProblemBase]
    receipt_invalid: type[ReceiptInvalidBase]
    unavailable: type[BrokerUnavailableBase]


# ---------------------------------------------------------------------- views


class OrderView(TypedDict):
    """The broker's view of an order (docs/API.md "Views")."""

    order_id: str
    reference_number: str
    authority_id: str
    hsp_id: str
    state: str
    language: str
    emergency: bool
    flags: list[str]
    received_at: str
    clock_started_at: str
    deadline_at: str | None
    measure_at: str | None
    suspended_reason: str | None
    created_at: str
    updated_at: str
    document: str


class EventView(TypedDict):
    """One entry of the broker's hash-chained event log."""

    seq: int
    event_id: str
    order_id: str | None
    kind: str
    actor: str
    received_at: str
    document: str | None
    document_sha256: str | None
    data: dict[str, Any]
    prev_hash: str
    hash: str


class ParticipantKey(TypedDict):
    """A key registered for a participant."""

    kid: str
    alg: str
    jwk: dict[str, Any]
    status: str
    created_at: str
    revoked_at: str | None


#: An Art. 15(1)/12(2) contact point: free text (often an e-mail address) or
#: a contact object ``{name?, email, telephone?}``.
ContactPoint = str | dict[str, Any]


class ParticipantView(TypedDict):
    """A directory entry: an authority, an HSP or a facilitator, with its keys."""

    id: str
    role: str
    name: str
    member_state: str
    legal_representative_member_state: str | None
    languages: list[str]
    contact_point: ContactPoint
    webhook_url: str | None
    keys: list[ParticipantKey]


def contact_email(contact_point: ContactPoint | None) -> str | None:
    """Return the e-mail address of a contact point, if it has one."""
    if isinstance(contact_point, dict):
        email = contact_point.get("email")
        return email if isinstance(email, str) else None
    return contact_point if contact_point and "@" in contact_point else None


def describe_contact(contact_point: ContactPoint | None) -> str:
    """Return a contact point as one line of text."""
    if isinstance(contact_point, dict):
        return ", ".join(str(v) for v in contact_point.values() if v)
    return contact_point or ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipt:
    """A verified broker receipt: proof of sending and of the broker's time."""

    token: str
    kid: str
    event_id: str
    seq: int
    order_id: str | None
    message_type: str
    message_id: str
    sender: str
    document_sha256: str
    received_at: str
    event_hash: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Accepted:
    """The broker accepted a document about an order: the order now, and the receipt."""

    order: OrderView
    receipt: Receipt


@dataclass(frozen=True, slots=True, kw_only=True)
class EventPage:
    """One page of the poll feed (``GET /v1/events``)."""

    events: list[EventView]
    last_seq: int


#: Wall seconds after which a clock reading is refreshed (see ``BrokerClient.broker_now``).
CLOCK_MAX_AGE = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerClock:
    """The broker's time as read from ``GET /v1/clock`` (scaled in drills)."""

    now: datetime
    speed: float
    observed_monotonic: float = field(default_factory=time.monotonic)

    def estimate(self) -> datetime:
        """Estimate the broker's time now from this reading and the elapsed local time."""
        elapsed = time.monotonic() - self.observed_monotonic
        return self.now + timedelta(seconds=elapsed * self.speed)


def format_time(moment: datetime) -> str:
    """Format an aware datetime as the broker does: UTC, milliseconds, ``+00:00``."""
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous: pass an aware datetime")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 date-time; a missing offset is refused."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"date-time {text!r} has no offset")
    return moment


# ---------------------------------------------------------------- credentials


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


# --------------------------------------------------------------------- client


class BrokerClient:
    """The broker API both SDKs share: requests, receipts, directory, clock, feed.

    Subclasses set :attr:`role` and :attr:`errors`.  Open it with ``async with``
    (or call :meth:`close` when done); the HTTP session is created on first use.
    """

    role: ClassVar[str] = ""
    errors: ClassVar[ErrorTypes]

    def __init__(
        self,
        broker_url: str,
        participant_id: str,
        token: str,
        kid: str,
        key: KeyPair,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
        retries: int = 2,
        feed_backoff: tuple[float, float] = (0.5, 30.0),
        profile: Mapping[str, Any] | None = None,
    ) -> None:
        if not kid.startswith(f"{participant_id}#"):
            raise ValueError(f"key id {kid!r} does not belong to {participant_id!r}")
        self.broker_url = broker_url.rstrip("/")
        self.participant_id = participant_id
        self.kid = kid
        self.profile: Mapping[str, Any] = profile or {}
        self._token = token
        self._key = key
        self._session = session
        self._own_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._retries = retries
        self._feed_backoff = feed_backoff
        self._broker_keys: dict[str, PublicKey] = {}
        self._directory: dict[str, ParticipantView] = {}
        self._clock: BrokerClock | None = None

    @classmethod
    def from_credentials(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        broker_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
        retries: int = 2,
        feed_backoff: tuple[float, float] = (0.5, 30.0),
    ) -> Self:
        """Build a client from a credentials file (``$PERCI_CREDENTIALS`` by default).

        ``broker_url`` overrides the file's; the other options are the constructor's.

        Raises:
            InputError: the file is unusable or holds credentials for another role.
            OSError: the file cannot be read.
        """
        creds = load_credentials(path)
        if cls.role and creds.role != cls.role:
            raise InputError(
                f"credentials of {creds.participant_id!r} are for role {creds.role!r}, "
                f"not {cls.role!r}"
            )
        return cls(
            broker_url or creds.broker_url,
            creds.participant_id,
            creds.token,
            creds.kid,
            creds.key,
            session=session,
            timeout=timeout,
            retries=retries,
            feed_backoff=feed_backoff,
            profile=creds.profile,
        )

    async def __aenter__(self) -> Self:
        self._ensure_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._session is not None and self._own_session:
            await self._session.close()
            self._session = None

    # ---- public reads

    async def clock(self) -> BrokerClock:
        """Read the broker's clock; later ``sent_at`` values are estimated from it."""
        body = await self._request("GET", "/v1/clock", auth=False)
        self._clock = BrokerClock(now=parse_time(body["now"]), speed=float(body["speed"]))
        return self._clock

    async def broker_now(self) -> datetime:
        """Estimate the broker's time now from a recent ``/v1/clock`` reading.

        The reading is refreshed once it is older than ``CLOCK_MAX_AGE`` wall
        seconds, so a long-running daemon never drifts from a scaled broker clock.
        """
        reading = self._clock
        if reading is None or time.monotonic() - reading.observed_monotonic > CLOCK_MAX_AGE:
            reading = await self.clock()
        return reading.estimate()

    async def participants(self) -> list[ParticipantView]:
        """Return the public directory of participants, with their keys."""
        body = await self._request("GET", "/v1/participants")
        found = cast(list[ParticipantView], body["participants"])
        self._directory = {p["id"]: p for p in found}
        return found

    async def participant(self, participant_id: str, *, refresh: bool = False) -> ParticipantView:
        """Return one directory entry (cached; the directory is re-read on a miss)."""
        if refresh or participant_id not in self._directory:
            await self.participants()
        try:
            return self._directory[participant_id]
        except KeyError:
            raise self.errors.problem(
                404, "not_found", "Not Found", f"no participant {participant_id!r}"
            ) from None

    async def me(self) -> ParticipantView:
        """Return this participant's own directory entry."""
        return cast(ParticipantView, await self._request("GET", "/v1/participants/me"))

    async def get_order(self, order_id: str) -> OrderView:
        """Return the broker's view of one of this participant's orders."""
        return cast(OrderView, await self._request("GET", f"/v1/orders/{order_id}"))

    async def list_orders(
        self, state: str | None = None, *, limit: int | None = None, offset: int | None = None
    ) -> list[OrderView]:
        """List this participant's orders, optionally in one ``state``."""
        params = {"state": state, "limit": limit, "offset": offset}
        body = await self._request("GET", "/v1/orders", params=params)
        return cast(list[OrderView], body["orders"])

    async def history(self, order_id: str) -> list[EventView]:
        """Return the event log of one order."""
        body = await self._request("GET", f"/v1/orders/{order_id}/history")
        return cast(list[EventView], body["events"])

    async def events(self, after: int = 0, *, limit: int | None = None) -> EventPage:
        """Poll the feed: the events visible to this participant after ``after``."""
        body = await self._request("GET", "/v1/events", params={"after": after, "limit": limit})
        events = cast(list[EventView], body["events"])
        last = body.get("last_seq")
        return EventPage(events=events, last_seq=int(last) if last is not None else after)

    async def watch(
        self, after: int = 0, *, max_failures: int | None = None
    ) -> AsyncGenerator[EventView, None]:
        """Yield events live from the WebSocket feed, reconnecting with backoff.

        The feed resumes after the last ``seq`` seen, and an event is never
        yielded twice.  With ``max_failures``, that many failed connections in
        a row raise the SDK's ``BrokerUnavailable``; otherwise it retries
        forever.  Close the generator (``contextlib.aclosing``) when done.
        """
        cursor, failures = after, 0
        delay, cap = self._feed_backoff
        while True:
            error: BaseException | None = None
            try:
                async with self._ensure_session().ws_connect(
                    self._url("/v1/feed"),
                    params={"after": cursor},
                    headers=self._headers(),
                    heartbeat=30.0,
                ) as ws:
                    failures, delay = 0, self._feed_backoff[0]
                    async for message in ws:
                        if message.type is not aiohttp.WSMsgType.TEXT:
                            break
                        frame = json.loads(message.data)
                        event = frame.get("event") if frame.get("type") == "event" else None
                        if event is None or int(event["seq"]) <= cursor:
                            continue
                        cursor = int(event["seq"])
                        yield cast(EventView, event)
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status in _HANDSHAKE_CODES:
                    raise self.errors.problem(
                        exc.status, _HANDSHAKE_CODES[exc.status], exc.message or "Refused"
                    ) from exc
                error = exc
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                error = exc
            if error is not None:
                failures += 1
                if max_failures is not None and failures >= max_failures:
                    raise self.errors.unavailable(
                        self._url("/v1/feed"), _describe(error)
                    ) from error
            await asyncio.sleep(delay * random.uniform(0.9, 1.1))
            delay = min(delay * 2, cap)

    async def verify_broker_document(self, token: str, *, expected_type: str) -> jws.SignedDocument:
        """Verify a broker-signed JWS (receipt or webhook event) with the broker's keys.

        Raises the SDK's ``ReceiptInvalid`` when it does not verify.
        """
        try:
            kid = jws.peek_header(token).get("kid")
            if not isinstance(kid, str):
                raise jws.JWSError("malformed", "the broker JWS names no key")
            if kid not in self._broker_keys:
                await self._load_broker_keys()
            return jws.verify(token, expected_type=expected_type, resolve_key=self._broker_key)
        except jws.JWSError as exc:
            raise self.errors.receipt_invalid(exc.message, receipt=token) from exc

    async def verify_receipt(self, token: str, sent_jws: str) -> Receipt:
        """Verify a receipt's signature and that it acknowledges exactly ``sent_jws``."""
        signed = await self.verify_broker_document(token, expected_type="receipt")
        p = signed.payload
        expected = jws.document_hash(sent_jws)
        if p.get("document_sha256") != expected:
            raise self.errors.receipt_invalid(
                f"document_sha256 {p.get('document_sha256')!r} is not the hash of the "
                f"document sent ({expected})",
                receipt=token,
            )
        if p.get("sender") != self.participant_id:
            raise self.errors.receipt_invalid(
                f"receipt names sender {p.get('sender')!r}", receipt=token
            )
        try:
            return Receipt(
                token=token,
                kid=signed.kid,
                event_id=str(p["event_id"]),
                seq=int(p["seq"]),
                order_id=p.get("order_id"),
                message_type=str(p["message_type"]),
                message_id=str(p["message_id"]),
                sender=str(p["sender"]),
                document_sha256=str(p["document_sha256"]),
                received_at=str(p["received_at"]),
                event_hash=str(p["event_hash"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise self.errors.receipt_invalid(f"receipt lacks {exc}", receipt=token) from exc

    # ---- for subclasses

    async def _sign(
        self, message_type: str, document: Mapping[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        """Fill the common members where missing, sign, and return (JWS, document)."""
        doc = dict(document)
        doc.setdefault("message_type", message_type)
        if doc["message_type"] != message_type:
            raise ValueError(f"document is a {doc['message_type']!r}, not a {message_type!r}")
        doc.setdefault("message_id", str(uuid.uuid4()))
        doc.setdefault("sender", self.participant_id)
        if "sent_at" not in doc:
            doc["sent_at"] = format_time(await self.broker_now())
        token = jws.sign(doc, key=self._key, kid=self.kid, message_type=message_type)
        return token, doc

    async def _submit(
        self, path: str, message_type: str, document: Mapping[str, Any]
    ) -> tuple[dict[str, Any], Receipt, dict[str, Any]]:
        """Sign and POST a document; return (response body, verified receipt, document).

        A connection failure is retried with the *same* JWS, which the broker
        answers idempotently with the original receipt.
        """
        token, doc = await self._sign(message_type, document)
        for attempt in range(self._retries + 1):
            try:
                body = await self._request("POST", path, payload={"jws": token})
                break
            except BrokerUnavailableBase:
                if attempt == self._retries:
                    raise
                await asyncio.sleep(0.5 * 2**attempt)
        receipt = await self.verify_receipt(str(body.get("receipt", "")), token)
        if receipt.message_id != doc["message_id"]:
            raise self.errors.receipt_invalid(
                f"receipt is for message {receipt.message_id!r}", receipt=receipt.token
            )
        return body, receipt, doc

    async def _submit_for_order(
        self, order_id: str, action: str, message_type: str, document: Mapping[str, Any]
    ) -> Accepted:
        body, receipt, _ = await self._submit(
            f"/v1/orders/{order_id}/{action}", message_type, {"order_id": order_id, **document}
        )
        return Accepted(order=cast(OrderView, body["order"]), receipt=receipt)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        payload: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int | None] | None = None,
        auth: bool = True,
    ) -> Any:
        url = self._url(path)
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            async with self._ensure_session().request(
                method, url, json=payload, params=query, headers=self._headers(auth)
            ) as resp:
                status, reason, text = resp.status, resp.reason or "", await resp.text()
                content_type = resp.content_type
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise self.errors.unavailable(url, _describe(exc)) from exc
        if status >= 400:
            raise self._problem(url, status, reason, content_type, text)
        if not text:
            return {}
        try:
            return json.loads(text)
        except ValueError as exc:
            raise self.errors.problem(
                status, "invalid_response", "Invalid response", f"{url} did not answer JSON"
            ) from exc

    def _problem(
        self, url: str, status: int, reason: str, content_type: str, text: str
    ) -> ClientError:
        body: Any = None
        if content_type in ("application/problem+json", "application/json"):
            try:
                body = json.loads(text)
            except ValueError:
                body = None
        if not isinstance(body, dict):
            if status in (502, 503, 504):
                return self.errors.unavailable(url, f"HTTP {status} {reason}")
            return self.errors.problem(status, f"http_{status}", reason or "HTTP error", text[:200])
        code = body.get("code") or str(body.get("type", "")).rsplit("/", 1)[-1] or f"http_{status}"
        errors = body.get("errors")
        return self.errors.problem(
            int(body.get("status", status)),
            str(code),
            str(body.get("title", reason)),
            body.get("detail"),
            [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else (),
            body,
        )

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
            self._own_session = True
        return self._session

    def _url(self, path: str) -> str:
        return f"{self.broker_url}{path}"

    def _headers(self, auth: bool = True) -> dict[str, str]:
        headers = {"Accept": "application/json, application/problem+json"}
        if auth:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    async def _load_broker_keys(self) -> None:
        body = await self._request("GET", "/v1/broker/jwks", auth=False)
        keys: dict[str, PublicKey] = {}
        for jwk in body.get("keys", []):
            try:
                keys[str(jwk["kid"])] = load_public(jwk)
            except (KeyError, TypeError, ValueError):
                continue  # a key type we cannot use cannot have signed our receipts
        self._broker_keys = keys

    def _broker_key(self, kid: str) -> PublicKey:
        try:
            return self._broker_keys[kid]
        except KeyError:
            raise jws.JWSError("unknown_key", f"{kid!r} is not a broker key") from None


_HANDSHAKE_CODES = {401: "unauthenticated", 403: "forbidden", 404: "not_found"}


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


# ------------------------------------------------------------------ CLI helpers


class UsageError(Exception):
    """A CLI was called with arguments that do not fit together (exit code 2)."""


def common_options() -> argparse.ArgumentParser:
    """Return a parent parser with ``--credentials``, ``--broker`` and ``--json``.

    The options are accepted both before and after the subcommand.
    """
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--credentials",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help=f"credentials file written by `perci-sim init` (default: ${CREDENTIALS_ENV})",
    )
    parent.add_argument(
        "--broker", metavar="URL", default=argparse.SUPPRESS, help="override broker_url"
    )
    parent.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="machine output"
    )
    return parent


def cli_main(
    prog: str,
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    command: Callable[[argparse.Namespace], Coroutine[Any, Any, int]],
) -> int:
    """Parse ``argv`` and run ``command``; map errors to one stderr line and an exit code.

    Exit codes: 0 ok, 1 error (broker problem, client error, file error),
    2 usage error, 130 interrupted.
    """
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: usage errors (2) and --help (0)
        return exc.code if isinstance(exc.code, int) else 2
    for name, default in (("credentials", None), ("broker", None), ("json", False)):
        if not hasattr(args, name):
            setattr(args, name, default)
    try:
        return asyncio.run(command(args))
    except KeyboardInterrupt:
        return 130
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except (ClientError, InputError, OSError) as exc:
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 1


def print_json(data: Any) -> None:
    """Print ``data`` (JSON values, dataclasses, datetimes) as indented JSON."""
    print(json.dumps(data, indent=2, default=_jsonable, ensure_ascii=False))


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a table to stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    console = Console()
    if not console.is_terminal:  # piped: do not fold ids at an assumed 80 columns
        console = Console(width=240)
    console.print(table)


def print_record(title: str, record: Mapping[str, Any]) -> None:
    """Print one record as a two-column table of fields and values."""
    print_table(title, ("field", "value"), [(k, _cell(v)) for k, v in record.items()])


def print_accepted(what: str, accepted: Accepted | Receipt, *, as_json: bool) -> None:
    """Report a document the broker accepted, with its receipt."""
    if as_json:
        print_json(accepted)
        return
    receipt = accepted.receipt if isinstance(accepted, Accepted) else accepted
    record: dict[str, Any] = {}
    if isinstance(accepted, Accepted):
        record |= {"order_id": accepted.order["order_id"], "state": accepted.order["state"]}
        record["deadline_at"] = accepted.order.get("deadline_at")
    record |= {
        "event": f"#{receipt.seq} {receipt.event_id}",
        "received_at": receipt.received_at,
        "document_sha256": receipt.document_sha256,
        "receipt": "verified (broker key " + receipt.kid + ")",
    }
    print_record(f"{what} accepted", record)


def print_events(events: Sequence[EventView], *, title: str = "events") -> None:
    """Print events as a table."""
    print_table(
        title,
        ("seq", "received_at", "kind", "order_id", "actor"),
        [(e["seq"], e["received_at"], e["kind"], e.get("order_id"), e["actor"]) for e in events],
    )


async def watch_and_print(client: BrokerClient, args: argparse.Namespace) -> int:
    """Print the live feed, one line (or JSON object) per event, until ``--count``."""
    seen = 0
    async with aclosing(client.watch(after=args.after)) as feed:
        async for event in feed:
            if args.json:
                print(json.dumps(event, ensure_ascii=False), flush=True)
            else:
                print(
                    f"{event['seq']:>6}  {event['received_at']}  {event['kind']:<30} "
                    f"order={event.get('order_id') or '-'}  actor={event['actor']}",
                    flush=True,
                )
            seen += 1
            if args.count is not None and seen >= args.count:
                break
    return 0


def add_watch_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--after`` and ``--count`` to a ``watch`` subcommand."""
    parser.add_argument("--after", type=int, default=0, metavar="SEQ", help="resume after SEQ")
    parser.add_argument("--count", type=_positive, metavar="N", help="stop after N events")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _cell(value: Any) -> str:
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
