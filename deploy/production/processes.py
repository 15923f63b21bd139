"""The processes a production site runs, in one place: `make prod-smoke` starts exactly
these, and the systemd units and the compose file in this directory run the same command
lines (a test keeps them in step).

Each command runs from the project directory with its virtualenv's executables; settings
come from the environment (`deploy/production/provenant.env.example`).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Environment every process of a production site shares (beside the site's own values).
PRODUCTION_ENV = {
    "PROVENANT_ENV": "production",
    "DJANGO_SETTINGS_MODULE": "webapp.settings",
    "PROVENANT_CELERY_QUEUES": "split",
    "PROVENANT_TRUSTED_PROXY": "1",
    "PROVENANT_LOG_FORMAT": "json",
}


@dataclass(frozen=True)
class Process:
    name: str
    description: str
    argv: tuple[str, ...]  # first item: an executable of the virtualenv's bin/
    #: How many to run on a host to begin with (the engines scale them: more web
    #: processes behind nginx, more workers on the same broker).
    replicas: int = 1


def _celery(*args: str) -> tuple[str, ...]:
    return ("celery", "-A", "workers.celery", *args)


def _worker(queue: str, concurrency: int) -> tuple[str, ...]:
    return _celery(
        "worker", "-Q", queue, "-n", f"{queue}@%h", "--concurrency", str(concurrency),
        "--loglevel", "INFO",
    )  # fmt: skip


PROCESSES = (
    Process(
        "web",
        "the portal and the REST API (gunicorn, behind nginx)",
        ("gunicorn", "-c", "deploy/production/gunicorn.conf.py", "webapp.wsgi:application"),
    ),
    Process(
        "streams",
        "live streams: WebSocket and Server-Sent Events (uvicorn, behind nginx)",
        ("uvicorn", "webapp.streams.asgi:app", "--host", "127.0.0.1", "--port", "8001"),
    ),
    Process(
        "worker-submission",
        "signs and sends operations (queue submission)",
        _worker("submission", 2),
    ),
    Process(
        "worker-chain",
        "mirrors the chain and runs the consumers (queue chain)",
        _worker("chain", 1),
    ),
    Process(
        "worker-deliveries",
        "webhooks and subscription deliveries (queue deliveries)",
        _worker("deliveries", 2),
    ),
    Process(
        "worker-exports",
        "imports, EPCIS captures, lake snapshots (queue exports)",
        _worker("exports", 1),
    ),
    Process("beat", "the schedule (one per site)", _celery("beat", "--loglevel", "INFO")),
    Process(
        "ingest",
        "signed sensor readings over MQTT",
        ("python", "manage.py", "ingest_readings"),
    ),
)


def process(name: str) -> Process:
    return next(p for p in PROCESSES if p.name == name)
