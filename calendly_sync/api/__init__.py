"""Door 3: the REST API for scheduling from your own app (``/api/``).

Thin DRF views over :mod:`calendly_sync.scheduling`: they read the request (``serializers``), call
the service, and answer with its result or its error (``errors``). Who may call it is in ``auth``;
the OpenAPI schema and the browsable docs are served at ``/api/schema/`` and ``/api/docs/``.
"""
