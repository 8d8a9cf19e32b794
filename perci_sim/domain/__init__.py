"""The pure core of the exchange: order states, deadline math and TCO rules.

Nothing here performs I/O or reads a clock; the services pass in what the
broker recorded.  An import-linter contract keeps it that way.
"""
