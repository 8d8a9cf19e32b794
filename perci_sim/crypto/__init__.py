"""The broker's key (receipts, events) and verification of parties' signed documents
against the registry (:mod:`perci_sim.crypto.verification`).
"""
