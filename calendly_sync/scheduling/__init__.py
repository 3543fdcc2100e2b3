"""Scheduling from your own app: event types, open times, bookings and single-use links.

The service every door calls (the REST API in ``calendly_sync/api``; a booking page and the
booking-link command can call the same functions): ``service`` talks to Calendly and turns its
refusals into :mod:`~calendly_sync.scheduling.errors`; ``answers``, ``windows`` and ``links`` are
pure functions (checked by the pure-core contract); ``pacing`` counts bookings against the plan's
quotas (``calendly/limits.py``) before Calendly is called.
"""
