"""The admin, as a package: importing it registers every model's admin (Django's autodiscover).

``connection``: the Connection admin and its actions; ``mappings``: event type and field mappings;
``logs``: the read-only bookings, contacts and logs; ``display``: the status badge and last-error
columns they share; ``tokens``: the scheduling API's tokens, masked; ``dashboard``: the overview page and the alerts.
"""

from calendly_sync.admin import connection, dashboard, logs, mappings, tokens  # noqa: F401  (registers the admins)
