"""The booking page: ``/book/<event type uuid>/``, a booking form that can sit in another site's iframe.

``views`` is the door (thin: read the request, call :mod:`calendly_sync.scheduling.service`, render);
``forms`` builds the form from the event type's questions and carries the signed form token that
replaces Django's CSRF cookie on this page; ``slots``, ``frames`` and ``notices`` are pure decisions
(which time zone, which days and times, which origins may frame the page, what a visitor is told
when the service refuses), tested without a database.
"""
