"""What every use case is handed: storage, clock, broker key, settings, and a commit hook."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from perci_sim.clock import Clock
from perci_sim.crypto.broker_key import BrokerSigner
from perci_sim.settings import Settings
from perci_sim.storage.db import Database
from perci_sim.storage.models import Event

__all__ = ["BrokerContext", "CommitListener", "NullListener"]


class CommitListener(Protocol):
    """Told what a transaction changed, after it committed (never before)."""

    def events_committed(self, events: Sequence[Event]) -> None:
        """New events are in the log (feed fan-out)."""
        ...

    def timers_changed(self, earliest: datetime | None) -> None:
        """Timer rows were created (earliest due time) or cancelled (None)."""
        ...

    def deliveries_queued(self) -> None:
        """Webhook deliveries were queued."""
        ...


class NullListener:
    """A listener that ignores everything (CLI tools, tests of a single service)."""

    def events_committed(self, events: Sequence[Event]) -> None:
        """Ignore."""

    def timers_changed(self, earliest: datetime | None) -> None:
        """Ignore."""

    def deliveries_queued(self) -> None:
        """Ignore."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerContext:
    """The adapters a use case works with."""

    db: Database
    clock: Clock
    signer: BrokerSigner
    settings: Settings
    listener: CommitListener = field(default_factory=NullListener)
