"""``python -m calendly_sync.runtime``: the embedded worker process, started by a server (:mod:`.process`)."""

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connector_site.settings")
django.setup()  # before the worker's modules: they import the models

from calendly_sync.runtime.process import child_main  # noqa: E402

sys.exit(child_main())
