"""The broker's application factory (see :mod:`perci_sim.api.app`)."""

from __future__ import annotations

from perci_sim.api.app import create_app, default_clock

__all__ = ["create_app", "default_clock"]
