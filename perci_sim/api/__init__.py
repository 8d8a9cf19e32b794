"""The HTTP API of docs/API.md on aiohttp: app factory, middlewares, handlers, feed, webhooks.

Example::

    from aiohttp import web
    from perci_sim.app import create_app
    from perci_sim.settings import Settings

    web.run_app(create_app(Settings.from_env()))
"""
