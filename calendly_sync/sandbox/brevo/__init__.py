"""The simulated Brevo (a real HTTP server), split by resource.

``BrevoSim`` (in ``server``) is assembled from one mixin per part: ``records``, ``contacts``,
``lists``, ``events``, ``imports``, ``processes``, ``limits`` and ``control``. Import the public
names from here.
"""

from calendly_sync.sandbox.brevo.server import SANDBOX_API_KEY, BrevoSim, phone_key

__all__ = ["SANDBOX_API_KEY", "BrevoSim", "phone_key"]
