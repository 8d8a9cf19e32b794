"""The handler contract of the platform daemon (``perci-platform run``, :func:`run_daemon`).

A handler is the HSP's own code that takes content down.  The daemon calls it
once per order and clock round, after verifying and acknowledging the order::

    async def handler(order: VerifiedOrder) -> Removal | None: ...
    def handler(order: VerifiedOrder) -> Removal | None: ...   # run in a thread

- **Return** (``None`` or a :class:`Removal`) once the content at ``order.urls``
  is removed or disabled in all Member States.  The daemon then sends Annex II
  with ``Removal.measure`` (default ``"removed"``) and ``Removal.measure_at``
  (default: the broker's time when the handler returned).
- **Raise** :class:`ForceMajeure` when the order cannot be executed for reasons
  not attributable to the HSP (Art. 3(7)); the daemon sends Annex III and the
  clock stops until ``perci-platform grounds-ceased``.
- **Raise** :class:`ManifestError` or :class:`InsufficientInformation` to ask the
  authority for clarification (Art. 3(8)); the daemon sends Annex III.  When the
  clarification arrives, the handler is called again with
  ``order.clarification`` set (``order.urls`` then reflects amended content).
- Any other exception is logged (``handler_failed``) and the order is left for a
  human: nothing is sent, and the clock keeps running.

Example (``myplatform/takedown.py``, run with ``--handler myplatform.takedown:handle``)::

    from platform_client.handler import ForceMajeure, Removal

    async def handle(order):
        for url in order.urls:
            if not await storage.disable(url):
                raise ForceMajeure(f"storage cluster unreachable for {url}")
        return Removal(measure="removed")
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, TypeAlias, cast

from platform_client.client import VerifiedOrder

__all__ = [
    "CannotExecute",
    "ForceMajeure",
    "Handler",
    "InsufficientInformation",
    "ManifestError",
    "Removal",
    "call_handler",
    "load_handler",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Removal:
    """What the handler did: the Annex II measure and when it was taken."""

    measure: str = "removed"  # or "disabled_all_ms"
    measure_at: datetime | None = None


class CannotExecute(Exception):
    """Base of the handler outcomes that become an Annex III notice."""

    reason: ClassVar[str]

    def __init__(self, info: str, clarification_required: str | None = None) -> None:
        super().__init__(info)
        self.info = info
        self.clarification_required = clarification_required


class ForceMajeure(CannotExecute):
    """Force majeure or de facto impossibility not attributable to the HSP (Art. 3(7))."""

    reason: ClassVar[str] = "force_majeure"

    def __init__(self, info: str) -> None:
        super().__init__(info)


class ManifestError(CannotExecute):
    """The order contains manifest errors (Art. 3(8)); say what must be clarified."""

    reason: ClassVar[str] = "manifest_errors"

    def __init__(self, info: str, clarification_required: str) -> None:
        super().__init__(info, clarification_required)


class InsufficientInformation(CannotExecute):
    """The order lacks information needed to execute it (Art. 3(8))."""

    reason: ClassVar[str] = "insufficient_information"

    def __init__(self, info: str, clarification_required: str) -> None:
        super().__init__(info, clarification_required)


Handler: TypeAlias = Callable[[VerifiedOrder], Awaitable[Removal | None] | Removal | None]


async def call_handler(handler: Handler, order: VerifiedOrder) -> Removal | None:
    """Call ``handler``; a plain function runs in a worker thread so it cannot block."""
    if inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004 - an object with async __call__
    ):
        outcome = handler(order)
    else:
        outcome = await asyncio.to_thread(handler, order)
    result = await outcome if inspect.isawaitable(outcome) else outcome
    if result is not None and not isinstance(result, Removal):
        raise TypeError(f"a handler returns Removal or None, not {type(result).__name__}")
    return result


def load_handler(spec: str) -> Handler:
    """Import a handler from ``"package.module:function"``.

    Raises:
        ValueError: ``spec`` is malformed or does not name a callable.
        ImportError: the module cannot be imported.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"handler {spec!r} is not of the form module:function")
    target: object = importlib.import_module(module_name)
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ValueError(f"{module_name!r} has no attribute {attribute!r}") from None
    if not callable(target):
        raise ValueError(f"handler {spec!r} is not callable")
    return cast(Handler, target)
