"""Broker settings, read from ``PERCI_*`` environment variables.

Built once in ``__main__`` (or by a test) and passed down; there is no module
singleton, so tests construct variants freely.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

__all__ = ["DEFAULT_PORT", "Settings"]

DEFAULT_PORT = 8700


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


def _instant(env: Mapping[str, str], name: str) -> datetime | None:
    raw = env.get(name, "")
    if not raw:
        return None
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{name} must be an ISO 8601 instant, got {raw!r}") from None
    if at.tzinfo is None:
        raise ValueError(f"{name} must name its UTC offset, got {raw!r}")
    return at


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything the broker needs to start."""

    #: Folder of the setup made by ``perci-sim init``: broker key, credentials, database.
    home: Path = Path("perci-home")
    #: SQLAlchemy URL; default: SQLite in ``home``.
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    #: Simulated seconds per wall second (drills and the demo accelerate time).
    clock_speed: float = 1.0
    #: Wall instant a scaled clock is anchored at (replicas with the same epoch and
    #: speed agree on the time); None: the process's start.
    clock_epoch: datetime | None = None
    #: The broker's signing key (JWK file), e.g. a container secret shared by the
    #: replicas; None: ``home/broker-key.jwk.json``.
    broker_key_file: Path | None = None
    #: R8: an Annex II later than this after the measure is a breach of Art. 3(6).
    undue_delay: timedelta = timedelta(hours=1)
    #: R13, TCO Art. 4(7): the HSP reinstates "immediately" after an infringement
    #: decision or an Art. 9 annulment; later than this is ``breach_4_7``.
    reinstatement_due: timedelta = timedelta(hours=1)
    #: R17, TCO Art. 3(9): the issuing authority informs the host authority of a final
    #: order (no deadline in the Regulation; later than this is ``finality_notice_late``).
    finality_notice_due: timedelta = timedelta(days=2)
    #: R16, TCO Art. 11(1): when set, the HSP informs the content provider within this
    #: time of the removal (or of the end of non-disclosure), else ``breach_11``.
    content_provider_information_due: timedelta | None = None
    webhook_max_attempts: int = 8
    webhook_max_backoff_s: float = 60.0
    max_body_bytes: int = 256 * 1024
    #: The body limit of the two batch routes (``/v1/referrals/batch``,
    #: ``/v1/referral-outcomes/batch``): 500 documents of a few hundred bytes to a
    #: few KiB each.  Every other route keeps ``max_body_bytes``.
    max_batch_body_bytes: int = 1024 * 1024
    log_format: str = "auto"  # auto | json | console
    extra: dict[str, str] = field(default_factory=dict)
    #: Per-participant (or per-IP, unauthenticated) token bucket: requests a second
    #: (0 = off) and burst (docs/API.md "Rate limits").
    rate_limit: float = 200.0
    rate_burst: int = 400
    #: Reverse proxies (addresses or networks) whose ``X-Forwarded-For`` names the
    #: client of an unauthenticated request (api/rate_limit.py).
    trusted_proxies: tuple[str, ...] = ()

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite (WAL) inside ``home``."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.home / 'perci.db').resolve()}"

    @property
    def broker_key_path(self) -> Path:
        """``broker_key_file`` when set (a mounted secret), else the key in ``home``."""
        return self.broker_key_file or self.home / "broker-key.jwk.json"

    @property
    def public_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``PERCI_HOME``, ``PERCI_DATABASE_URL``, ``PERCI_HOST``, ``PERCI_PORT``,
        ``PERCI_CLOCK_SPEED``, ``PERCI_CLOCK_EPOCH``, ``PERCI_BROKER_KEY_FILE``,
        ``PERCI_UNDUE_DELAY_S``, ``PERCI_LOG_FORMAT``, ``PERCI_RATE_LIMIT``,
        ``PERCI_RATE_BURST``, ``PERCI_TRUSTED_PROXIES`` (comma-separated)."""
        env = os.environ if env is None else env
        base = cls()
        port_raw = env.get("PERCI_PORT", "")
        try:
            port = int(port_raw) if port_raw else base.port
        except ValueError:
            raise ValueError(f"PERCI_PORT must be an integer, got {port_raw!r}") from None
        return replace(
            base,
            home=Path(env.get("PERCI_HOME", str(base.home))),
            database_url=env.get("PERCI_DATABASE_URL") or None,
            host=env.get("PERCI_HOST", base.host),
            port=port,
            clock_speed=_float(env, "PERCI_CLOCK_SPEED", base.clock_speed),
            clock_epoch=_instant(env, "PERCI_CLOCK_EPOCH"),
            broker_key_file=Path(env["PERCI_BROKER_KEY_FILE"])
            if env.get("PERCI_BROKER_KEY_FILE")
            else None,
            undue_delay=timedelta(
                seconds=_float(env, "PERCI_UNDUE_DELAY_S", base.undue_delay.total_seconds())
            ),
            log_format=env.get("PERCI_LOG_FORMAT", base.log_format),
            rate_limit=_float(env, "PERCI_RATE_LIMIT", base.rate_limit),
            rate_burst=int(_float(env, "PERCI_RATE_BURST", base.rate_burst)),
            trusted_proxies=_networks(env, "PERCI_TRUSTED_PROXIES"),
        )


def _networks(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated IP addresses or networks (``10.0.0.0/8``), checked here."""
    entries = tuple(e.strip() for e in env.get(name, "").split(",") if e.strip())
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(f"{name}: {entry!r} is not an IP address or network") from None
    return entries
