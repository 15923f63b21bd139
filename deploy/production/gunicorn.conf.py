"""gunicorn for the Provenant web app (``gunicorn -c deploy/production/gunicorn.conf.py
webapp.wsgi:application``), behind nginx. Settings come from the environment."""

import multiprocessing
import os

bind = os.environ.get("PROVENANT_BIND", "127.0.0.1:8000")
# Django views wait on PostgreSQL and the node: a few sync workers per core.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
# Django is imported once, in the arbiter, and workers are forked from it: a worker that
# replaces a recycled or dead one serves at once instead of spending seconds importing
# while requests queue behind it. Nothing opens a connection at import (the database,
# Redis and the node are reached on first use, in the worker).
preload_app = True
timeout = int(os.environ.get("PROVENANT_WEB_TIMEOUT", "60"))
graceful_timeout = 30
max_requests = 2000  # recycle workers: a slow leak never takes a process down
max_requests_jitter = 200
forwarded_allow_ips = os.environ.get("PROVENANT_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'


def child_exit(server: object, worker: object) -> None:
    """A worker's metrics files are merged away when it exits (prometheus_client's
    multiprocess mode, PROMETHEUS_MULTIPROC_DIR)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined,no-untyped-call]
