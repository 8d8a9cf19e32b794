"""Persistence: SQLModel tables, the engine (:mod:`.db`), the participant registry
(:mod:`.registry`) and the hash-chained event log (:mod:`.log`).
"""
