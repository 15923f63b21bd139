"""The Celery app: Redis broker when REDIS_URL is set, a filesystem broker otherwise."""

from __future__ import annotations

import os

from celery import Celery

from webapp.startup import restore_recursion_limit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("provenant")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workers"])
restore_recursion_limit()
