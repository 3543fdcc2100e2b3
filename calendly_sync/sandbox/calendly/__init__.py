"""The simulated Calendly (a real HTTP server), split by resource.

``CalendlySim`` (in ``server``) is assembled from one mixin per part: ``records``, ``webhooks``,
``account``, ``auth``, the route modules, ``oauth`` and ``control``; ``seeding`` fills it with
realistic data. Import the public names from here.
"""

from calendly_sync.sandbox.calendly.server import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_TOKEN,
    SANDBOX_WEBHOOK_SIGNING_KEY,
    CalendlySim,
)

__all__ = ["SANDBOX_CLIENT_ID", "SANDBOX_CLIENT_SECRET", "SANDBOX_TOKEN", "SANDBOX_WEBHOOK_SIGNING_KEY", "CalendlySim"]
