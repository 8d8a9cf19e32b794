"""A simulated HSP's webhook: a small aiohttp server on 127.0.0.1 the broker POSTs to.

The broker POSTs ``{"jws": <perci.event+jws>}`` for each event visible to the HSP
(``perci_sim/services/webhooks.py``), retrying until a 2xx answer.  The receiver
verifies each body with the broker's keys (:meth:`PlatformClient.verify_event`),
answers 200 once it is verified and hands the event on, once per ``seq``:
deliveries are at least once and may arrive out of order, so the consumer must
not depend on their order (the simulated HSP does not).  A body that does not
verify is refused with 400 and recorded.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from aiohttp import web

from perci_schemas.client_errors import ClientError
from perci_schemas.client_views import EventView
from platform_client import PlatformClient

__all__ = ["WebhookReceiver"]


class WebhookReceiver:
    """Receives, verifies and de-duplicates the broker's webhook calls for one HSP."""

    def __init__(
        self,
        client: PlatformClient,
        on_event: Callable[[EventView], None],
        on_error: Callable[[str], None],
    ) -> None:
        self._client = client
        self._on_event = on_event
        self._on_error = on_error
        self._seen: set[int] = set()
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.received = 0
        self.rejected = 0

    async def start(self) -> str:
        """Listen on an ephemeral port of 127.0.0.1; return the webhook URL."""
        app = web.Application()
        app.router.add_post("/webhook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))  # an ephemeral port, known before the server starts
        port = int(sock.getsockname()[1])
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{port}/webhook"
        return self.url

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            token = body["jws"] if isinstance(body, dict) else None
            if not isinstance(token, str):
                raise ValueError("the body has no 'jws' member")
            event = await self._client.verify_event(token)
        except (ValueError, KeyError, ClientError) as exc:
            self.rejected += 1
            self._on_error(f"webhook body refused: {type(exc).__name__}: {exc}")
            return web.Response(status=400)
        self.received += 1
        seq = int(event["seq"])
        if seq not in self._seen:
            self._seen.add(seq)
            self._on_event(event)
        return web.Response(status=200)
