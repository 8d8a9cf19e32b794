"""Authority SDK methods for the TCO procedures of issue 3: lifecycle."""

from __future__ import annotations

from perci_schemas.client_support import BrokerClient

__all__ = ["LifecycleAuthorityMethods"]


class LifecycleAuthorityMethods(BrokerClient):
    """Mixed into the authority client; see the client's docstring."""
