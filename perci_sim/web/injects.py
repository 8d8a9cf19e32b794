"""The inject timeline of a running drill, as the facilitator's dashboard shows it.

Injects are the drill runner's script (scenario.py), not documents of the
exchange: they are not in the legal log.  The runner reports each one as it plays
it (``POST /v1/drill/injects``, facilitator only); the broker keeps the last ones
in memory and pushes them to facilitator pages.  A broker restart forgets them
(the runner's after-action report keeps the full timeline).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from aiohttp import web

__all__ = ["INJECTS", "InjectTimeline"]

_KEEP = 500


class InjectTimeline:
    """The last injects reported, oldest first, and a change counter for live pages."""

    def __init__(self) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=_KEEP)

    def add(self, entry: dict[str, Any]) -> None:
        """Record one inject ``{at, offset, kind, description}``."""
        self._entries.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        """Every kept inject, oldest first."""
        return list(self._entries)


class _Registry:
    """One timeline per application (created on first use)."""

    key = web.AppKey("perci_inject_timeline", InjectTimeline)

    def get(self, config: Mapping[Any, Any]) -> InjectTimeline:
        timeline = config.get(self.key)
        if not isinstance(timeline, InjectTimeline):
            raise LookupError("the application has no inject timeline")
        return timeline


INJECTS = _Registry()
