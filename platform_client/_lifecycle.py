"""Platform SDK methods for the TCO procedures of issue 3: lifecycle."""

from __future__ import annotations

from perci_schemas.client_support import BrokerClient

__all__ = ["LifecyclePlatformMethods"]


class LifecyclePlatformMethods(BrokerClient):
    """Mixed into the platform client; see the client's docstring."""
