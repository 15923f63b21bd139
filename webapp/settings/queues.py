"""Celery's queues: one for everything (the default), or one per kind of work, so each can
have its own workers (deploy/production runs one worker per queue)."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from webapp.env import env_int, env_str

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

#: What beat sends, and how often (seconds).
CELERY_BEAT_SCHEDULE = {
    "index-chain": {"task": "workers.tasks.index_chain", "schedule": 2.0},
    "sweep-operations": {"task": "workers.tasks.sweep_operations", "schedule": 3.0},
    "resume-imports": {"task": "workers.tasks.resume_imports", "schedule": 60.0},
    "epcis-anchor": {"task": "workers.tasks.epcis_anchor", "schedule": 10.0},
    "readings-anchor": {"task": "workers.tasks.readings_anchor", "schedule": 10.0},
    "resume-epcis-captures": {"task": "workers.tasks.resume_epcis_captures", "schedule": 60.0},
    "streams-deliver": {"task": "streams.deliver", "schedule": 2.0},
    "monitoring-silence": {"task": "workers.tasks.monitoring_silence", "schedule": 60.0},
    # hourly, writing once a day: the first run after midnight (UTC) takes the snapshot
    "lake-snapshots": {"task": "workers.tasks.lake_snapshots", "schedule": 3600.0},
}

#: A prefork pool child whose resident memory passed this many KiB is replaced after its
#: task: `make soak` measured the submission worker's children growing (about 150 KiB per
#: operation signed, cause not found yet), so their memory is bounded whatever the cause.
#: Well above a fresh child's peak: opening a keystore file runs scrypt (256 MiB), and a
#: limit below that peak replaced the child after every task (each new one paying scrypt).
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env_int(
    "PROVENANT_WORKER_MAX_MEMORY_KIB", 1024 * 1024, minimum=768 * 1024
)
