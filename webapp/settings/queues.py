"""Celery's queues: one for everything (the default), or one per kind of work, so each can
have its own workers (deploy/production runs one worker per queue)."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from webapp.env import env_str

#: "split": each kind of work has its own queue, so each can have its own workers
#: (deploy/production runs one worker per queue); "single" (the default): one queue, and
#: one worker does everything (the demo, `make worker`, the tests).
WORKER_QUEUES = env_str("PROVENANT_CELERY_QUEUES", "single")
if WORKER_QUEUES not in ("single", "split"):
    raise ImproperlyConfigured(f"PROVENANT_CELERY_QUEUES={WORKER_QUEUES!r}: single or split.")
#: The queues of the "split" mode, each with the tasks it carries.
WORKER_QUEUE_TASKS = {
    # signing and sending operations (per-sender nonce locks make many workers safe)
    "submission": ["workers.tasks.submit_operation", "workers.tasks.track_operation",
                   "workers.tasks.sweep_operations"],
    # the chain mirror and its consumers, anchoring batches, silent-device checks
    "chain": ["workers.tasks.index_chain", "workers.tasks.epcis_anchor",
              "workers.tasks.readings_anchor", "workers.tasks.monitoring_silence"],
    # webhooks and subscription deliveries
    "deliveries": ["streams.deliver"],
    # long batch work: imports, EPCIS captures, lake snapshots
    "exports": ["workers.tasks.import_validate", "workers.tasks.import_submit",
                "workers.tasks.resume_imports", "workers.tasks.epcis_capture",
                "workers.tasks.resume_epcis_captures", "workers.tasks.lake_snapshots"],
}  # fmt: skip
#: Where each task goes: nowhere special in the "single" mode.
CELERY_TASK_ROUTES: dict[str, dict[str, str]] = (
    {task: {"queue": queue} for queue, tasks in WORKER_QUEUE_TASKS.items() for task in tasks}
    if WORKER_QUEUES == "split"
    else {}
)
