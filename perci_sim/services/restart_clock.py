"""A fresh hour: shared by grounds ceased (Art. 3(7)) and clarification (Art. 3(8))."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from perci_sim.crypto.verification import VerifiedDocument
from perci_sim.domain.states import Trigger
from perci_sim.services.documents import apply_trigger, transition_data
from perci_sim.services.unit_of_work import UnitOfWork
from perci_sim.storage.log import iso_ms
from perci_sim.storage.models import Event, Order

__all__ = ["restart_clock"]


async def restart_clock(
    uow: UnitOfWork,
    order: Order,
    document: VerifiedDocument,
    now: datetime,
    *,
    trigger: Trigger,
    kind: str,
    extra: dict[str, Any],
) -> Event:
    """Apply ``trigger`` and start a new clock round at the broker's ``received_at``.

    R6/R7: a full 60 minutes from the broker-recorded receipt of the notice; each
    round is numbered (``clock_round``) so repeated rounds stay visible in the log.
    """
    previous, transition = apply_trigger(order, trigger)
    if transition.restarts_clock:
        order.clock_round += 1
        order.suspended_reason = None
        await uow.start_clock_round(order, now)
    data: dict[str, Any] = {
        **transition_data(previous, transition),
        **extra,
        "clock_round": order.clock_round,
        "clock_started_at": iso_ms(order.clock_started_at),
        "deadline_at": iso_ms(order.deadline_at) if order.deadline_at else None,
    }
    return await uow.order_event(
        order, kind=kind, actor=document.sender, received_at=now, document=document, data=data
    )
