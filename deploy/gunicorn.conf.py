"""gunicorn's configuration for the connector (``gunicorn -c deploy/gunicorn.conf.py connector_site.wsgi``).

Used by the systemd unit (deploy/systemd/connector-web.service), the Procfile and
docs/deployment.md; ``tests/test_deployment.py`` serves ``/healthz`` and ``/readyz`` with it.

Why these values:

- ``gthread`` workers with a few threads: the webhook endpoint's acknowledgements are short, but an
  admin action may wait on Calendly or Brevo (and "Send a test booking" posts to this very server,
  which a single-threaded server could not answer while it waits).
- No ``post_fork`` hook is needed for the embedded worker (the mode without a broker): the app
  registers its own fork handler (``os.register_at_fork`` in calendly_sync/runtime/worker.py), so a
  worker forked under ``preload_app`` starts its own thread, the master never runs one, and one
  worker process of several owns the background work (the others only acknowledge webhooks).
  ``preload_app`` stays off so that a ``HUP`` reload loads new code.
- ``forwarded_allow_ips``: only a proxy on this host may tell gunicorn the request was HTTPS (Django
  itself trusts ``SECURE_PROXY_SSL_HEADER``).

Every value can be changed from the environment without editing this file: ``PORT`` /
``GUNICORN_BIND``, ``WEB_CONCURRENCY``, ``GUNICORN_THREADS``, ``GUNICORN_TIMEOUT``, and gunicorn's own
``GUNICORN_CMD_ARGS``, which wins over this file.
"""

from __future__ import annotations

import os

# Where to listen: a proxy on the same host talks to 127.0.0.1:8000; a platform that sets PORT
# (the Procfile's convention) gets every interface on that port.
_port = os.environ.get("PORT")
bind = [os.environ.get("GUNICORN_BIND") or (f"0.0.0.0:{_port}" if _port else "127.0.0.1:8000")]

# Processes × threads. Two processes at least, so a crash or a slow request never stops the
# acknowledgements (Calendly retries for 24 hours, then disables the subscription).
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))

# A request that takes longer is killed and the worker restarted. The webhook endpoint answers in
# milliseconds; backfills run in a job thread or a Celery worker, never in a request.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5

# Restart each worker after this many requests (with jitter, so they do not all restart together):
# bounds the memory of a long-running process.
max_requests = 2000
max_requests_jitter = 200

preload_app = False
forwarded_allow_ips = "127.0.0.1,::1"

# Logs to stdout/stderr (journald or the platform collects them). The access log is off unless
# GUNICORN_ACCESS_LOG names a file ("-": stdout); the reverse proxy usually keeps one already.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
proc_name = "calendly-brevo-connector"
