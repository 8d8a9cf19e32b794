"""Deadline wake-ups behind the small :class:`~perci_sim.scheduling.timers.DeadlineTimers`
protocol; the APScheduler 3 adapter keeps one job for the earliest open timer row.
"""
