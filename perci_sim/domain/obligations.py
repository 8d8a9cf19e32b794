"""The obligations of an order's life after the one-hour path, as one table of data.

Theory of operation.  Every deadline or window the Regulation sets beyond Art.
3(3) is an *obligation*: someone owes something (a decision, a report, a
reinstatement) within a period that runs from an anchor event.  This module
names each kind, the article it comes from, who owes it, how long it runs and
what its expiry means:

* a **breach** (``breach`` is a stable code such as ``breach_4_7``): the
  obligation was not met in time; the broker records ``obligation_missed``;
* a **window that closes** (``breach`` is None): e.g. the host authority's 72 h
  for own-initiative scrutiny (Art. 4(3)); after it, the message is refused.

Some kinds have an effect on expiry (finality when the appeal deadline passes,
Art. 3(9); Art. 11 information falling due when non-disclosure ends).  The
services own those effects; this module only says *when*.

Pure: no I/O, no clock reads.  Periods are calendar-aware (months) and the
rest is elapsed time in UTC, so daylight-saving changes never stretch an hour
(R24).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from perci_sim.domain.errors import PerciError

__all__ = [
    "EXPOSURE_THRESHOLD",
    "NONDISCLOSURE_MAX",
    "OBLIGATIONS",
    "ROLLING_WINDOW",
    "ExposureReviewRefused",
    "NondisclosureActive",
    "NondisclosureRefused",
    "NotCrossBorder",
    "NothingOpen",
    "ObligationKind",
    "ObligationSpec",
    "Owner",
    "Period",
    "PreservationExtensionRefused",
    "ScrutinyPrenoticeRequired",
    "ScrutinyRequestWindowClosed",
    "ScrutinyWindowClosed",
    "add_period",
    "check_nondisclosure_extension",
    "check_preservation_extension",
    "due_at",
    "exposure_prompted",
    "final_orders_in_window",
    "is_early_purge",
    "nondisclosure_end",
    "parse_duration",
    "preserve_until",
    "within",
]


# --- periods -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Period:
    """A calendar period: whole months (calendar arithmetic) plus an exact duration."""

    months: int = 0
    delta: timedelta = timedelta(0)

    def __str__(self) -> str:
        parts = []
        if self.months:
            parts.append(f"{self.months} month{'s' if self.months != 1 else ''}")
        if self.delta:
            hours = self.delta.total_seconds() / 3600
            parts.append(f"{hours:g} h")
        return " + ".join(parts) or "0 h"


_DURATION = re.compile(
    r"P(?!$)(?:(?P<y>\d+)Y)?(?:(?P<mo>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<h>\d+)H)?(?:(?P<mi>\d+)M)?(?:(?P<s>\d+)S)?)?"
)


def parse_duration(text: str) -> Period:
    """Parse an ISO 8601 duration such as ``P1M``, ``P30D``, ``P2W``, ``PT72H`` (Annex I G).

    Raises:
        ValueError: not an ISO 8601 duration of this form.
    """
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not an ISO 8601 duration")
    n = {k: int(v) if v else 0 for k, v in match.groupdict().items()}
    return Period(
        months=12 * n["y"] + n["mo"],
        delta=timedelta(weeks=n["w"], days=n["d"], hours=n["h"], minutes=n["mi"], seconds=n["s"]),
    )


def _require_aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("obligation math needs aware datetimes")
    return at.astimezone(UTC)


def add_period(at: datetime, period: Period) -> datetime:
    """Return ``at`` + ``period``: months on the UTC calendar (day clamped), then the rest."""
    utc = _require_aware(at)
    if period.months:
        month_index = utc.month - 1 + period.months
        year, month = utc.year + month_index // 12, month_index % 12 + 1
        day = min(utc.day, calendar.monthrange(year, month)[1])
        utc = utc.replace(year=year, month=month, day=day)
    return utc + period.delta


def within(at: datetime, *, opened_at: datetime, period: Period) -> bool:
    """True when ``at`` lies in the window ``[opened_at, opened_at + period]``."""
    at = _require_aware(at)
    return _require_aware(opened_at) <= at <= add_period(opened_at, period)


# --- the table -----------------------------------------------------------------------------------


class Owner(StrEnum):
    """Who owes an obligation (resolved to a participant by the services)."""

    HOST_AUTHORITY = "host_authority"
    ISSUING_AUTHORITY = "issuing_authority"
    HSP = "hsp"
    CONTENT_PROVIDER = "content_provider"


class ObligationKind(StrEnum):
    """Every deadline or window of the order lifecycle."""

    OWN_SCRUTINY_WINDOW = "own_scrutiny_window"
    HSP_SCRUTINY_REQUEST_WINDOW = "hsp_scrutiny_request_window"
    CP_SCRUTINY_REQUEST_WINDOW = "cp_scrutiny_request_window"
    SCRUTINY_DECISION = "scrutiny_decision"
    REINSTATEMENT = "reinstatement"
    APPEAL_WINDOW = "appeal_window"
    FINALITY_NOTICE = "finality_notice"
    EXPOSURE_REPORT = "exposure_report"
    REVIEW_DECISION = "review_decision"
    PRESERVATION = "preservation"
    NONDISCLOSURE = "nondisclosure"
    CONTENT_PROVIDER_INFORMATION = "content_provider_information"
    COMPLAINT_OUTCOME = "complaint_outcome"


@dataclass(frozen=True, slots=True, kw_only=True)
class ObligationSpec:
    """One row of the table: what is owed, by whom, from when, for how long."""

    kind: ObligationKind
    article: str
    owed_by: Owner
    #: The event the period runs from.
    anchor: str
    #: None: set per instance (Section G, a setting, the non-disclosure decision).
    period: Period | None
    #: Breach code recorded on expiry; None: a window that simply closes.
    breach: str | None
    description: str


K, OW = ObligationKind, Owner
_H = timedelta(hours=1)

#: The lifecycle's obligations (TCO.md §1, R11–R18).
OBLIGATIONS: dict[ObligationKind, ObligationSpec] = {
    spec.kind: spec
    for spec in (
        ObligationSpec(
            kind=K.OWN_SCRUTINY_WINDOW,
            article="Art. 4(3)",
            owed_by=OW.HOST_AUTHORITY,
            anchor="host_copy_delivered",
            period=Period(delta=72 * _H),
            breach=None,
            description="own-initiative scrutiny within 72 hours of receiving the copy",
        ),
        ObligationSpec(
            kind=K.HSP_SCRUTINY_REQUEST_WINDOW,
            article="Art. 4(4)",
            owed_by=OW.HSP,
            anchor="order_delivered",
            period=Period(delta=48 * _H),
            breach=None,
            description="the HSP may request scrutiny within 48 hours of receiving the order",
        ),
        ObligationSpec(
            kind=K.CP_SCRUTINY_REQUEST_WINDOW,
            article="Art. 4(4)",
            owed_by=OW.CONTENT_PROVIDER,
            anchor="content_provider_information_received",
            period=Period(delta=48 * _H),
            breach=None,
            description="the content provider may request scrutiny within 48 hours of the "
            "Art. 11(2) information",
        ),
        ObligationSpec(
            kind=K.SCRUTINY_DECISION,
            article="Art. 4(4)",
            owed_by=OW.HOST_AUTHORITY,
            anchor="scrutiny_request_received",
            period=Period(delta=72 * _H),
            breach="scrutiny_decision_late",
            description="the host authority decides within 72 hours of receiving the request",
        ),
        ObligationSpec(
            kind=K.REINSTATEMENT,
            article="Art. 4(7)",
            owed_by=OW.HSP,
            anchor="legal_effect_ended",
            period=None,  # "immediately": Settings.reinstatement_due
            breach="breach_4_7",
            description="the HSP reinstates the content immediately",
        ),
        ObligationSpec(
            kind=K.APPEAL_WINDOW,
            article="Art. 3(9)",
            owed_by=OW.HSP,
            anchor="order_delivered",
            period=None,  # Annex I Section G appeal_deadline.duration
            breach=None,
            description="the order becomes final when the appeal deadline passes unused",
        ),
        ObligationSpec(
            kind=K.FINALITY_NOTICE,
            article="Art. 3(9)",
            owed_by=OW.ISSUING_AUTHORITY,
            anchor="order_final",
            period=None,  # Settings.finality_notice_due
            breach="finality_notice_late",
            description="the issuing authority informs the host Member State's authority",
        ),
        ObligationSpec(
            kind=K.EXPOSURE_REPORT,
            article="Art. 5(5)",
            owed_by=OW.HSP,
            anchor="exposure_decision_received",
            period=Period(months=3),  # then yearly: Period(months=12) from the last due date
            breach="exposure_report_late",
            description="the exposed HSP reports within three months, then yearly",
        ),
        ObligationSpec(
            kind=K.REVIEW_DECISION,
            article="Art. 5(7)",
            owed_by=OW.HOST_AUTHORITY,
            anchor="review_request_received",
            period=Period(months=3),
            breach="review_decision_late",
            description="the authority answers a review request within three months",
        ),
        ObligationSpec(
            kind=K.PRESERVATION,
            article="Art. 6(1)",
            owed_by=OW.HSP,
            anchor="feedback_received",
            period=Period(months=6),  # from measure_at; extendable (Art. 6(2))
            breach=None,
            description="the HSP preserves the content and related data for six months",
        ),
        ObligationSpec(
            kind=K.NONDISCLOSURE,
            article="Art. 11(3)",
            owed_by=OW.HSP,
            anchor="order_delivered",
            period=None,  # until Section C nondisclosure_until (at most six weeks)
            breach=None,
            description="the HSP discloses nothing to the content provider until it ends",
        ),
        ObligationSpec(
            kind=K.CONTENT_PROVIDER_INFORMATION,
            article="Art. 11(1)",
            owed_by=OW.HSP,
            anchor="feedback_received",
            period=None,  # Settings.content_provider_information_due
            breach="breach_11",
            description="the HSP informs the content provider of the removal",
        ),
        ObligationSpec(
            kind=K.COMPLAINT_OUTCOME,
            article="Art. 10(2)",
            owed_by=OW.HSP,
            anchor="complaint_received",
            period=Period(delta=timedelta(weeks=2)),
            breach="complaint_outcome_late",
            description="the HSP decides on the complaint within two weeks",
        ),
    )
}

#: TCO Art. 11(3): non-disclosure for at most six weeks, one extension of at most six weeks.
NONDISCLOSURE_MAX = timedelta(weeks=6)
#: TCO Art. 5(4) (objective factor): two or more final orders within twelve months.
EXPOSURE_THRESHOLD = 2
ROLLING_WINDOW = Period(months=12)


def due_at(kind: ObligationKind, anchor_at: datetime, period: Period | None = None) -> datetime:
    """Return when an obligation of ``kind`` opened at ``anchor_at`` falls due.

    ``period`` overrides the table (required for kinds whose period is set per instance).

    Raises:
        ValueError: the kind has no fixed period and none was given.
    """
    chosen = period if period is not None else OBLIGATIONS[kind].period
    if chosen is None:
        raise ValueError(f"{kind.value} has no fixed period: pass one")
    return add_period(anchor_at, chosen)


# --- Art. 3(9), Art. 5(4): finality and exposure -------------------------------------------------


def final_orders_in_window(final_times: Iterable[datetime], now: datetime) -> int:
    """Count the orders that became final in the twelve months up to ``now`` (R18)."""
    now = _require_aware(now)
    start = add_period(now, Period(months=-12))
    return sum(1 for at in final_times if start < _require_aware(at) <= now)


def exposure_prompted(final_times: Iterable[datetime], now: datetime) -> bool:
    """R18, Art. 5(4): two or more final orders within twelve months prompt a decision."""
    return final_orders_in_window(final_times, now) >= EXPOSURE_THRESHOLD


# --- Art. 6: preservation ------------------------------------------------------------------------


def preserve_until(measure_at: datetime) -> datetime:
    """R15, Art. 6(1): six months from the removal or disabling."""
    return due_at(ObligationKind.PRESERVATION, measure_at)


def check_preservation_extension(current: datetime, requested: datetime, reason: str) -> None:
    """Art. 6(2): an extension is later than the current end and gives a reason."""
    if not reason.strip():
        raise PreservationExtensionRefused("an extension of preservation needs a reason")
    if _require_aware(requested) <= _require_aware(current):
        raise PreservationExtensionRefused(
            f"preserve_until {requested.isoformat()} is not later than the current "
            f"{current.isoformat()}",
            preserve_until=current.astimezone(UTC).isoformat(timespec="milliseconds"),
        )


def is_early_purge(purged_at: datetime, until: datetime | None) -> bool:
    """R15: purging before the end of preservation breaches Art. 6."""
    return until is not None and _require_aware(purged_at) < _require_aware(until)


# --- Art. 11(3): non-disclosure ------------------------------------------------------------------


def nondisclosure_end(decided_at: datetime, requested: datetime | None) -> tuple[datetime, bool]:
    """Return the effective end of a Section C non-disclosure and whether it was capped.

    Art. 11(3): "not exceeding six weeks": a longer (or missing) end is set to six weeks.
    """
    cap = _require_aware(decided_at) + NONDISCLOSURE_MAX
    if requested is None:
        return cap, True
    requested = _require_aware(requested)
    return (cap, True) if requested > cap else (requested, False)


def check_nondisclosure_extension(
    *, current_until: datetime, requested: datetime, now: datetime, extended_before: bool
) -> None:
    """Art. 11(3): one extension, of at most six weeks, decided before the expiry."""
    current_until, requested, now = (
        _require_aware(current_until),
        _require_aware(requested),
        _require_aware(now),
    )
    if extended_before:
        raise NondisclosureRefused("the non-disclosure was already extended once (Art. 11(3))")
    if now >= current_until:
        raise NondisclosureRefused(
            "the non-disclosure has expired; an extension must be decided before "
            f"{current_until.isoformat(timespec='milliseconds')} (Art. 11(3))"
        )
    if requested <= current_until:
        raise NondisclosureRefused("the extension must end later than the current non-disclosure")
    if requested - current_until > NONDISCLOSURE_MAX:
        raise NondisclosureRefused(
            "an extension may add at most six weeks (Art. 11(3)); latest end: "
            f"{(current_until + NONDISCLOSURE_MAX).isoformat(timespec='milliseconds')}"
        )


# --- errors --------------------------------------------------------------------------------------


class NotCrossBorder(PerciError):
    """Art. 4 scrutiny exists only for cross-border orders."""

    code = "not_cross_border"
    http_status = 409
    title = "Not a cross-border order (TCO Art. 4)"


class ScrutinyWindowClosed(PerciError):
    """R11, Art. 4(3): own-initiative scrutiny only within 72 h of the copy."""

    code = "scrutiny_window_closed"
    http_status = 409
    title = "The 72-hour scrutiny window has closed (TCO Art. 4(3))"


class ScrutinyRequestWindowClosed(PerciError):
    """R11, Art. 4(4): a scrutiny request only within 48 h of receipt or information."""

    code = "scrutiny_request_window_closed"
    http_status = 409
    title = "The 48-hour window to request scrutiny has closed (TCO Art. 4(4))"


class ScrutinyPrenoticeRequired(PerciError):
    """R12, Art. 4(5): an infringement decision needs a prior notice to the issuing authority."""

    code = "scrutiny_prenotice_required"
    http_status = 409
    title = "Prior notice to the issuing authority required (TCO Art. 4(5))"


class NondisclosureActive(PerciError):
    """R16, Art. 11(3): the HSP may not inform the content provider yet."""

    code = "nondisclosure_active"
    http_status = 409
    title = "Non-disclosure decision in force (TCO Art. 11(3))"


class NondisclosureRefused(PerciError):
    """R16, Art. 11(3): an extension that is late, repeated or too long."""

    code = "nondisclosure_extension_refused"
    http_status = 409
    title = "Non-disclosure extension refused (TCO Art. 11(3))"


class PreservationExtensionRefused(PerciError):
    """R15, Art. 6(2): an extension must be later and give a reason."""

    code = "preservation_extension_invalid"
    http_status = 422
    title = "Invalid preservation extension (TCO Art. 6(2))"


class NothingOpen(PerciError):
    """The message answers an obligation that is not open (no request, no decision...)."""

    code = "no_open_obligation"
    http_status = 409
    title = "Nothing open that this message answers"


class ExposureReviewRefused(PerciError):
    """Art. 5: the exposure decision named is unknown or not the caller's."""

    code = "exposure_decision_unknown"
    http_status = 404
    title = "No such exposure decision for this participant"
