"""Typed keys of the application's and requests' state (aiohttp ``AppKey``/``RequestKey``)."""

from __future__ import annotations

from aiohttp import web

from perci_sim.api.feed import FeedHub
from perci_sim.api.webhooks import WebhookDispatcher
from perci_sim.clock import Clock
from perci_sim.crypto.broker_key import BrokerSigner
from perci_sim.scheduling.timers import DeadlineTimers
from perci_sim.services.context import BrokerContext
from perci_sim.settings import Settings
from perci_sim.storage.db import Database
from perci_sim.storage.registry import ParticipantInfo

__all__ = [
    "BROKER",
    "CLOCK",
    "DATABASE",
    "DISPATCHER",
    "FEED_HUB",
    "PARTICIPANT",
    "REQUEST_ID",
    "SETTINGS",
    "SIGNER",
    "TIMERS",
]

SETTINGS = web.AppKey("perci_settings", Settings)
CLOCK = web.AppKey("perci_clock", Clock)
DATABASE = web.AppKey("perci_database", Database)
SIGNER = web.AppKey("perci_signer", BrokerSigner)
BROKER = web.AppKey("perci_broker", BrokerContext)
FEED_HUB = web.AppKey("perci_feed_hub", FeedHub)
TIMERS = web.AppKey("perci_timers", DeadlineTimers)
DISPATCHER = web.AppKey("perci_dispatcher", WebhookDispatcher)

PARTICIPANT = web.RequestKey("perci_participant", ParticipantInfo)
REQUEST_ID = web.RequestKey("perci_request_id", str)
#: The signed document a request submitted (api/refusals.py names it by its hash).
SUBMITTED_JWS = web.RequestKey("perci_submitted_jws", str)
