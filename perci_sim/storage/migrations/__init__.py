"""Alembic migrations of the broker's schema (``perci-sim db upgrade`` applies them).

``env.py`` runs them on the connection handed over by :mod:`perci_sim.storage.schema`
(``config.attributes["connection"]``), or, for the ``alembic`` command line of a
checkout (``alembic.ini`` at the repository root), on ``PERCI_DATABASE_URL``.
"""
