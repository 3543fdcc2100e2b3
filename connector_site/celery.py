"""Celery application.

Only used when ``CELERY_BROKER_URL`` is set; without a broker the same functions run in-process
(see ``calendly_sync.runtime.worker``), so the connector works as a single process on SQLite.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connector_site.settings")

app = Celery("connector_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
