"""The progress line of a running drill: a ``rich`` live line on stderr (a terminal only)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.live import Live

from perci_sim.drills.context import DrillContext

__all__ = ["Progress", "hhmm"]


def hhmm(seconds: float) -> str:
    """``HH:MM`` (hours unbounded) of a signed number of seconds."""
    sign = "-" if seconds < 0 else ""
    seconds = abs(int(seconds))
    return f"{sign}{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


class Progress:
    """Simulated time, orders issued / executed / overdue / refused, referrals."""

    def __init__(self, ctx: DrillContext) -> None:
        self.ctx = ctx
        self._live = Live(console=Console(stderr=True), refresh_per_second=8, transient=True)

    @contextlib.contextmanager
    def live(self) -> Iterator[None]:
        """Show the line while the drill runs."""
        with self._live:
            yield

    def update(self) -> None:
        """Redraw the line."""
        ctx = self.ctx
        c = ctx.counters
        line = (
            f"{ctx.scenario.name}  T+{hhmm(ctx.offset(ctx.clock.now()))}  issued {c.issued}  "
            f"executed {c.executed}  overdue {len(c.overdue)}  refused {c.refused}"
        )
        if c.referrals_sent:
            line += f"  referrals {c.referrals_sent} sent, {c.referrals_answered} answered"
        self._live.update(line)
