"""Health endpoints and Prometheus metrics (a process-level view over the chain,
operations and streams apps).

- `/health/live`: the process answers (a load balancer restarts it when it does not).
- `/health/ready`: the database, the broker, the chain node and the key store answer
  (a load balancer sends no traffic until they do); 503 with the failing parts named.
- `/health/indexer`: the mirror's own health (lag, parked events, stuck operations).
- `/metrics`: the process's metrics (`webapp.telemetry`: request latency by view,
  signing latency and errors per key-store backend) and, read from the database at each
  scrape, the chain head against the mirror, each consumer's lag and parking, operations
  by status and the age of the oldest queued, stuck operations, undelivered and dead
  stream messages.
"""

from __future__ import annotations

import logging

import requests
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import View

from webapp.chain.selectors import IndexerHealth, consumer_states, indexer_health
from webapp.chain.validators import signer_metrics
from webapp.operations.selectors import (
    oldest_queued_seconds,
    operations_by_status,
    operations_stuck,
)
from webapp.streams.selectors import messages_by_status
from webapp.telemetry import process_metrics

log = logging.getLogger(__name__)

#: Lag (in blocks) above which the health endpoint answers 503.
UNHEALTHY_LAG_BLOCKS = 50


class IndexerHealthView(View):
    """JSON health of the indexer, its consumers and the operations; 503 when the indexer
    lags, has parked logs to look at, a consumer is parked, or any operation has been on its
    way for longer than settings.OPERATION_STUCK_SECONDS."""

    def get(self, request: HttpRequest) -> JsonResponse:
        chains = indexer_health()
        stuck = operations_stuck()
        stuck_total = sum(sum(by_status.values()) for by_status in stuck.values())
        consumers = consumer_states()
        healthy = (
            bool(chains)
            and all(h.lag_blocks <= UNHEALTHY_LAG_BLOCKS and h.parked_logs == 0 for h in chains)
            and not any(c.parked for c in consumers)
            and stuck_total == 0
        )
        return JsonResponse(
            {
                "status": "ok" if healthy else "degraded",
                "chains": [h.as_dict() for h in chains],
                "consumers": [c.as_dict() for c in consumers],
                "operations_stuck": stuck_total,
                "operations_stuck_after_seconds": settings.OPERATION_STUCK_SECONDS,
                "operations_stuck_by_status": {
                    str(chain_id): by_status for chain_id, by_status in stuck.items()
                },
            },
            status=200 if healthy else 503,
        )


def _gauge(lines: list[str], name: str, help_text: str) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} gauge")


def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format."""
    lines: list[str] = []
    chains = indexer_health()
    _indexer_lines(lines, chains)
    _consumer_lines(lines)
    _operation_lines(lines, [h.chain_id for h in chains])
    _gauge(
        lines,
        "provenant_stream_messages",
        "Stream messages not yet acknowledged: pending (due or retrying) and dead letters",
    )
    for status, count in sorted(messages_by_status().items()):
        lines.append(f'provenant_stream_messages{{status="{status}"}} {count}')
    if settings.CHAIN_POA:
        _validator_lines(lines)
    body = "\n".join(lines) + "\n"
    return HttpResponse(body.encode() + process_metrics(), content_type="text/plain; version=0.0.4")


def _validator_lines(lines: list[str]) -> None:
    """Per validator, from the node: blocks proposed among the last 100, and the last."""
    try:
        signers = signer_metrics(settings.CHAIN_RPC_URL)
    except requests.RequestException as exc:
        log.warning("metrics: the node gave no signer metrics: %r", exc)
        return
    for name, attribute, help_text in (
        ("proposed_blocks", "proposed_blocks", "Blocks the validator proposed of the last 100"),
        ("last_proposed_block", "last_proposed_block", "The last block the validator proposed"),
    ):
        _gauge(lines, f"provenant_validator_{name}", help_text)
        for s in signers:
            value = getattr(s, attribute)
            lines.append(f'provenant_validator_{name}{{validator="{s.validator}"}} {value}')


def _indexer_lines(lines: list[str], chains: list[IndexerHealth]) -> None:
    for name, help_text in (
        ("head_block", "Latest block seen on the node"),
        ("indexed_block", "Last block fully mirrored"),
        ("lag_blocks", "Blocks between the head and the mirror"),
        ("lag_seconds", "Seconds between the head block and the last mirrored block"),
        ("parked_logs", "Logs that could not be decoded"),
    ):
        _gauge(lines, f"provenant_indexer_{name}", help_text)
        for h in chains:
            value = getattr(h, name)
            lines.append(f'provenant_indexer_{name}{{chain_id="{h.chain_id}"}} {value}')


def _consumer_lines(lines: list[str]) -> None:
    consumers = consumer_states()
    for name, help_text in (
        ("parked", "1 when the consumer stopped at an event that raised (see the chain admin)"),
        ("lag_events", "Stored events the consumer has not applied yet"),
    ):
        _gauge(lines, f"provenant_consumer_{name}", help_text)
        for c in consumers:
            value = int(getattr(c, name))
            lines.append(
                f'provenant_consumer_{name}{{chain_id="{c.chain_id}",name="{c.name}"}} {value}'
            )


def _operation_lines(lines: list[str], chain_ids: list[int]) -> None:
    _gauge(
        lines,
        "provenant_operations_stuck",
        f"Operations queued, submitted or mined for longer than "
        f"{settings.OPERATION_STUCK_SECONDS} s",
    )
    for chain_id, by_status in sorted(operations_stuck().items()):
        for status, count in sorted(by_status.items()):
            lines.append(
                f'provenant_operations_stuck{{chain_id="{chain_id}",status="{status}"}} {count}'
            )
    _gauge(lines, "provenant_operations", "Operations by status")
    for chain_id, by_status in sorted(operations_by_status().items()):
        for status, count in sorted(by_status.items()):
            lines.append(f'provenant_operations{{chain_id="{chain_id}",status="{status}"}} {count}')
    _gauge(
        lines,
        "provenant_operations_oldest_queued_seconds",
        "Age of the oldest operation still queued (0 when none is)",
    )
    oldest = oldest_queued_seconds()
    for chain_id in sorted(set(chain_ids) | set(oldest)):
        age = oldest.get(chain_id, 0.0)
        lines.append(
            f'provenant_operations_oldest_queued_seconds{{chain_id="{chain_id}"}} {age:.3f}'
        )


def live(request: HttpRequest) -> JsonResponse:
    """The process answers."""
    return JsonResponse({"status": "ok"})


def ready(request: HttpRequest) -> JsonResponse:
    """Whether this process can serve: each dependency answers, or is named as failing."""
    checks = {
        "database": _database,
        "broker": _broker,
        "node": _node,
        "key_store": _key_store,
    }
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            results[name] = check()
        except Exception as exc:  # a readiness probe reports, it never raises
            log.warning("readiness: %s is not answering: %r", name, exc)
            results[name] = f"failing: {type(exc).__name__}"
    healthy = not any(r.startswith("failing") for r in results.values())
    return JsonResponse(
        {"status": "ready" if healthy else "not ready", "checks": results},
        status=200 if healthy else 503,
    )


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _broker() -> str:
    if not settings.REDIS_URL:
        return "ok (filesystem broker)"
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    client.ping()
    return "ok"


def _node() -> str:
    from web3 import HTTPProvider, Web3

    w3 = Web3(HTTPProvider(settings.CHAIN_RPC_URL, request_kwargs={"timeout": 3}))
    return f"ok (block {w3.eth.block_number})"


def _key_store() -> str:
    from webapp.organisations.keys import signing_key
    from webapp.organisations.selectors import operator_with_key

    operator = operator_with_key()
    if operator is None:
        return "ok (no operator key yet)"
    store = signing_key(operator, operator.address)  # opens it: a file, a token, a vault
    return f"ok ({store.address})"
