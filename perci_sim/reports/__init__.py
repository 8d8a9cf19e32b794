"""Transparency reports of TCO Art. 7, Art. 8 and Art. 21 (R23), computed from the event log.

* :mod:`~perci_sim.reports.records`: plain inputs (event records, participants, period);
* :mod:`~perci_sim.reports.figures`: the PURE computation (no I/O, no clock);
* :mod:`~perci_sim.reports.load`: the adapter reading a period from the database;
* :mod:`~perci_sim.reports.render`: JSON, self-contained HTML and Markdown documents.

The JSON layout and the counting rules are documented in docs/REPORTS.md.
"""

from perci_sim.reports.figures import REPORT_SCHEMA, compute_report, distribution
from perci_sim.reports.records import EventRecord, ParticipantRef, Period

__all__ = [
    "REPORT_SCHEMA",
    "EventRecord",
    "ParticipantRef",
    "Period",
    "compute_report",
    "distribution",
]
