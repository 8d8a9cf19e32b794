"""The application factory: ``create_app(settings) -> web.Application``.

Resources are opened in ``cleanup_ctx`` generators, in this order, and closed
in reverse: database, broker context (clock, key, listener), webhook
dispatcher, deadline timers, and on PostgreSQL the replica feed (api/replicas.py:
LISTEN/NOTIFY between replicas).  The feed hub is closed on shutdown so open
WebSockets end cleanly.

``perci-sim serve`` only needs::

    settings = Settings.from_env()
    configure_logging(settings.log_format)
    web.run_app(create_app(settings), host=settings.host, port=settings.port)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from functools import partial

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

from perci_sim.api.drill_injects import INJECTS, InjectTimeline
from perci_sim.api.feed import FeedHub
from perci_sim.api.handlers import routes
from perci_sim.api.keys import (
    BROKER,
    CLOCK,
    DATABASE,
    DISPATCHER,
    FEED_HUB,
    SETTINGS,
    SIGNER,
    TIMERS,
)
from perci_sim.api.middlewares import authenticate, middlewares
from perci_sim.api.rate_limit import (
    RATE_LIMITER,
    RateLimiter,
    participant_limit,
    unauthenticated_limit,
)
from perci_sim.api.replicas import ReplicaFeed
from perci_sim.api.routes_cooperation import routes as cooperation_routes
from perci_sim.api.routes_facilitator import routes as facilitator_routes
from perci_sim.api.routes_lifecycle import routes as lifecycle_routes
from perci_sim.api.webhooks import WebhookDispatcher
from perci_sim.clock import Clock, ScaledClock, SystemClock
from perci_sim.crypto.broker_key import BrokerSigner, load_or_create_broker_key
from perci_sim.scheduling.timers import APSchedulerTimers, DeadlineTimers
from perci_sim.services.context import BrokerContext
from perci_sim.services.drill_clock import follow_clock_skip, resume_after_log
from perci_sim.services.fire_timers import fire_due_timers, next_timer_due
from perci_sim.settings import Settings
from perci_sim.storage.db import Database, open_database
from perci_sim.storage.models import Event
from perci_sim.storage.registry import cached_member_states
from perci_sim.storage.schema import require_head
from perci_sim.web import PREFIX as DASHBOARD_PREFIX
from perci_sim.web import dashboard_app

__all__ = ["AppListener", "create_app", "default_clock"]

log = structlog.get_logger(__name__)


def default_clock(settings: Settings) -> Clock:
    """Real time, or a scaled clock when ``clock_speed`` is not 1 (drills)."""
    if settings.clock_speed == 1.0:
        return SystemClock()
    if settings.clock_epoch is not None:
        return ScaledClock.from_epoch(settings.clock_epoch, speed=settings.clock_speed)
    return ScaledClock(speed=settings.clock_speed)


class AppListener:
    """Routes post-commit notices to the feed hub, the timers and the webhook dispatcher."""

    def __init__(self, hub: FeedHub) -> None:
        self.hub = hub
        self.replicas: ReplicaFeed | None = None
        self.timers: DeadlineTimers | None = None
        self.dispatcher: WebhookDispatcher | None = None

    def events_committed(self, events: Sequence[Event]) -> None:
        """Fan the events out to live feeds (in log order across replicas on PostgreSQL)."""
        if self.replicas is not None:
            self.replicas.local(events)
        else:
            self.hub.publish(events)

    def timers_changed(self, earliest: datetime | None) -> None:
        """Re-arm the deadline wake-up if a timer is earlier than the armed one."""
        if self.timers is not None:
            self.timers.notify(earliest)

    def deliveries_queued(self) -> None:
        """Wake the webhook dispatcher."""
        if self.dispatcher is not None:
            self.dispatcher.wake()


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    database: Database | None = None,
    broker_signer: BrokerSigner | None = None,
    rate_limit: float | None = None,
    rate_burst: int | None = None,
) -> web.Application:
    """Build the broker application.

    ``database`` and ``broker_signer`` default to the ones of ``settings``
    (``resolved_database_url``, ``broker_key_path``, created if missing); a
    database passed in is not closed by the app.  ``rate_limit`` (requests a second per
    participant, 0 = off) and ``rate_burst`` default to the settings' (docs/API.md).
    """
    app = web.Application(middlewares=_middlewares(), client_max_size=settings.max_body_bytes)
    app[RATE_LIMITER] = RateLimiter(
        settings.rate_limit if rate_limit is None else rate_limit,
        settings.rate_burst if rate_burst is None else rate_burst,
        trusted_proxies=settings.trusted_proxies,
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock if clock is not None else default_clock(settings)
    hub = FeedHub()
    app[FEED_HUB] = hub
    app[INJECTS] = InjectTimeline()  # a drill's inject timeline (facilitator dashboard)
    listener = AppListener(hub)
    app.add_routes(routes())
    app.add_routes(lifecycle_routes())
    app.add_routes(cooperation_routes())
    app.add_routes(facilitator_routes())
    app.add_subapp(DASHBOARD_PREFIX, dashboard_app())  # the web dashboard (perci_sim/web)
    app.cleanup_ctx.extend(
        [
            _database_ctx(database),
            _broker_ctx(broker_signer, listener),
            _dispatcher_ctx(listener),
            _timers_ctx(listener),
            _replicas_ctx(listener),
        ]
    )
    app.on_shutdown.append(_close_feeds)
    return app


def _middlewares() -> list[Middleware]:
    """The request middlewares, with the rate limiter around and after authentication."""
    chain = middlewares()
    at = chain.index(authenticate) if authenticate in chain else len(chain)
    chain.insert(at, unauthenticated_limit)
    chain.append(participant_limit)
    return chain


def _database_ctx(
    database: Database | None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        db = database
        if db is None:
            db = await open_database(app[SETTINGS].resolved_database_url, create=False)
            try:
                await require_head(db.engine)  # never serve an unmigrated database
            except BaseException:
                await db.close()
                raise
        app[DATABASE] = db
        # A court's live feed: the Member States of an order, from the registry cache.
        app[FEED_HUB].member_states = partial(cached_member_states, db)
        yield
        if database is None:
            await db.close()

    return ctx


def _broker_ctx(
    signer: BrokerSigner | None, listener: AppListener
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        app[SIGNER] = signer or load_or_create_broker_key(settings.broker_key_path)
        app[BROKER] = BrokerContext(
            db=app[DATABASE],
            clock=app[CLOCK],
            signer=app[SIGNER],
            settings=settings,
            listener=listener,
        )
        await resume_after_log(app[BROKER])  # a restarted drill never records back in time
        yield

    return ctx


def _dispatcher_ctx(listener: AppListener) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        dispatcher = WebhookDispatcher(app[BROKER])
        app[DISPATCHER] = dispatcher
        listener.dispatcher = dispatcher
        await dispatcher.start()
        yield
        listener.dispatcher = None
        await dispatcher.stop()

    return ctx


def _timers_ctx(listener: AppListener) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        broker = app[BROKER]

        async def next_due() -> datetime | None:
            return await next_timer_due(broker.db)

        async def fire_batch(limit: int) -> int:
            return await fire_due_timers(broker, limit=limit)

        timers = APSchedulerTimers(clock=broker.clock, next_due=next_due, fire_batch=fire_batch)
        app[TIMERS] = timers
        listener.timers = timers
        # Restart sweep: every overdue open timer fires once, then the wake-up is armed.
        await timers.start()
        yield
        listener.timers = None
        await timers.stop()

    return ctx


def _replicas_ctx(listener: AppListener) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        db = app[DATABASE]
        if db.dialect != "postgresql":
            yield  # SQLite: one process, the hub hears every commit directly
            return
        replicas = ReplicaFeed(
            db,
            listener.hub,
            on_timer=listener.timers_changed,
            on_deliveries=listener.deliveries_queued,
            on_clock_advanced=partial(follow_clock_skip, app[BROKER]),
        )
        await replicas.start()
        listener.replicas = replicas
        yield
        listener.replicas = None
        await replicas.stop()

    return ctx


async def _close_feeds(app: web.Application) -> None:
    app[FEED_HUB].close()
