"""Platform SDK methods for the TCO procedures of issue 3: cooperation."""

from __future__ import annotations

from perci_schemas.client_support import BrokerClient

__all__ = ["CooperationPlatformMethods"]


class CooperationPlatformMethods(BrokerClient):
    """Mixed into the platform client; see the client's docstring."""
