"""The broker client both SDKs share, and the entry point to their common core.

``authority_client`` and ``platform_client`` both talk to the same broker API
(docs/API.md): bearer-token requests, RFC 9457 problems, signed documents
answered by broker-signed receipts, and an event feed.  :class:`BrokerClient`
holds that common core once, so that neither package copies it from the other
and neither depends on the broker (``perci_sim``).  It has no CLI dependencies;
the helpers the two CLIs share are in :mod:`perci_schemas.client_cli`.

Each SDK subclasses :class:`BrokerClient` and maps the shared error bases to
its own exception hierarchy through :class:`ErrorTypes`::

    class AuthorityClient(BrokerClient):
        role = "authority"
        errors = ErrorTypes(ProblemError, ReceiptInvalid, BrokerUnavailable)

The shared pieces live in one module per concept and are re-exported here:

- :mod:`perci_schemas.client_errors`: the error bases and :class:`ErrorTypes`;
- :mod:`perci_schemas.client_views`: order, event and participant views,
  receipts, the broker clock reading, the time format;
- :mod:`perci_schemas.credentials`: credentials files (``$PERCI_CREDENTIALS``).
"""

from __future__ import annotations

import asyncio
import binascii
import hashlib
import json
import os
import random
import time
import uuid
from collections.abc import AsyncGenerator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, ClassVar, Self, cast

import aiohttp
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from joserfc.util import json_b64decode, urlsafe_b64decode

from perci_schemas import jws
from perci_schemas.client_errors import (
    BrokerUnavailableBase,
    ClientError,
    ErrorTypes,
    InputError,
    ProblemBase,
    ReceiptInvalidBase,
    UsageError,
)
from perci_schemas.client_views import (
    CLOCK_MAX_AGE,
    Accepted,
    BrokerClock,
    ContactPoint,
    EventPage,
    EventView,
    OrderView,
    ParticipantView,
    Receipt,
    contact_email,
    describe_contact,
    format_time,
    parse_time,
)
from perci_schemas.credentials import CREDENTIALS_ENV, Credentials, load_credentials
from perci_schemas.keys import KeyPair, PublicKey, load_public
from perci_schemas.messages import REFUSAL_HEADER, typ_for

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


#: The broker event recorded when a drill facilitator skips the clock forward: a client
#: that sees it drops its cached ``/v1/clock`` reading (see :meth:`BrokerClient.sync_clock`).
_CLOCK_ADVANCED = "clock_advanced"


class BrokerClient:
    """The broker API both SDKs share: requests, receipts, directory, clock, feed.

    Subclasses set :attr:`role` and :attr:`errors`.  Open it with ``async with``
    (or call :meth:`close` when done); the HTTP session is created on first use.
    """

    role: ClassVar[str] = ""
    #: Further roles whose credentials this client accepts; collected over the class's
    #: bases, so that each SDK mixin can add its own (e.g. Europol for TCO Art. 14).
    extra_roles: ClassVar[tuple[str, ...]] = ()
    errors: ClassVar[ErrorTypes]

    @classmethod
    def accepted_roles(cls) -> frozenset[str]:
        """The credential roles :meth:`from_credentials` accepts (empty: any)."""
        if not cls.role:
            return frozenset()
        extra = {r for k in cls.__mro__ for r in vars(k).get("extra_roles", ())}
        return frozenset({cls.role, *extra})

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
        accepted = cls.accepted_roles()
        if accepted and creds.role not in accepted:
            raise InputError(
                f"credentials of {creds.participant_id!r} are for role {creds.role!r}, "
                f"not {' or '.join(repr(r) for r in sorted(accepted))}"
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

    async def sync_clock(self) -> BrokerClock:
        """Re-read the broker's clock now, e.g. after a ``clock_advanced`` event.

        :meth:`events` and :meth:`watch` already drop the cached reading when they
        pass a ``clock_advanced`` event, so the next :meth:`broker_now` re-reads it.
        """
        return await self.clock()

    def _see_clock_skip(self, event: EventView) -> None:
        # A drill facilitator skipped the broker's clock: the cached reading is stale.
        if event.get("kind") == _CLOCK_ADVANCED:
            self._clock = None

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
        for event in events:
            self._see_clock_skip(event)
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
                        self._see_clock_skip(cast(EventView, event))
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
            fast = _verify_plain_ed25519(token, expected_type, self._broker_keys.get(kid))
            if fast is not None:
                return fast
            return jws.verify(token, expected_type=expected_type, resolve_key=self._broker_key)
        except jws.JWSError as exc:
            raise self.errors.receipt_invalid(exc.message, receipt=token) from exc

    async def verify_refusal(
        self, problem: ProblemBase, *, sent_jws: str | None = None
    ) -> dict[str, Any] | None:
        """Verify the broker's signed refusal of ``problem`` (None when it carries none).

        Checks the signature against the broker's keys, that it signs this very answer
        (``problem_sha256``) and, given ``sent_jws``, that it refuses that document.
        Raises the SDK's ``ReceiptInvalid`` when any of it fails.
        """
        if problem.refusal is None:
            return None
        signed = await self.verify_broker_document(problem.refusal, expected_type="refusal")
        payload = dict(signed.payload)
        body_hash = hashlib.sha256(problem.raw_body.encode("utf-8")).hexdigest()
        if payload.get("problem_sha256") != body_hash:
            raise self.errors.receipt_invalid(
                "the signed refusal is not for this answer", receipt=problem.refusal
            )
        if sent_jws is not None and payload.get("document_sha256") != jws.document_hash(sent_jws):
            raise self.errors.receipt_invalid(
                "the signed refusal names another document", receipt=problem.refusal
            )
        return payload

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
            except ProblemBase as problem:
                # The broker's signed refusal names this very document: kept as proof.
                problem.refusal_payload = await self.verify_refusal(problem, sent_jws=token)
                raise
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
        for attempt in range(self._retries + 1):
            try:
                async with self._ensure_session().request(
                    method, url, json=payload, params=query, headers=self._headers(auth)
                ) as resp:
                    status, reason, text = resp.status, resp.reason or "", await resp.text()
                    content_type = resp.content_type
                    retry_after = resp.headers.get("Retry-After")
                    refusal = resp.headers.get(REFUSAL_HEADER)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise self.errors.unavailable(url, _describe(exc)) from exc
            # Rate limited: the broker changed nothing, so any request may be retried
            # once the wait it names is over (docs/API.md "Rate limits").
            if status != 429 or attempt == self._retries:
                break
            await asyncio.sleep(_retry_after_s(retry_after))
        if status >= 400:
            error = self._problem(url, status, reason, content_type, text)
            if isinstance(error, ProblemBase):
                error.refusal, error.raw_body = refusal, text
            raise error
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


#: Longest wait honoured from one Retry-After (seconds).
_MAX_RETRY_AFTER_S = 30.0


def _retry_after_s(value: str | None) -> float:
    """Seconds to wait from a Retry-After header (delta-seconds; 1 when absent or odd)."""
    try:
        seconds = float(value) if value is not None else 1.0
    except ValueError:
        seconds = 1.0
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER_S)


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _verify_plain_ed25519(
    token: str, expected_type: str, key: PublicKey | None
) -> jws.SignedDocument | None:
    """The common case of :func:`jws.verify` for a broker JWS, without joserfc's per-call work.

    Returns the document only when jws.verify would return the same one: a compact JWS
    whose protected header is exactly ``alg`` (EdDSA), ``kid`` and ``typ`` (what the
    broker writes), of ``expected_type``, signed by ``key`` (an Ed25519 broker key), with
    joserfc's own strict base64url.  Anything else is None: jws.verify decides.
    """
    if key is None or key.alg != "EdDSA":
        return None
    op_key = key.jwk.get_op_key("verify")
    if not isinstance(op_key, Ed25519PublicKey):
        return None
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = json_b64decode(header_b64.encode("ascii"))
        if (
            type(header) is not dict
            or header.keys() != {"alg", "kid", "typ"}
            or header["alg"] != "EdDSA"
            or type(header["kid"]) is not str
            or header["typ"] != typ_for(expected_type)
        ):
            return None
        signature = urlsafe_b64decode(signature_b64.encode("ascii"))
        op_key.verify(signature, f"{header_b64}.{payload_b64}".encode("ascii"))
        payload = json.loads(urlsafe_b64decode(payload_b64.encode("ascii")))
    except (ValueError, TypeError, InvalidSignature, binascii.Error):
        return None
    if type(payload) is not dict:
        return None
    return jws.SignedDocument(
        token=token,
        kid=header["kid"],
        alg="EdDSA",
        message_type=expected_type,
        payload=payload,
        sha256=jws.document_hash(token),
    )
