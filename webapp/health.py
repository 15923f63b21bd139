"""The health endpoint and Prometheus metrics: the indexer, its consumers and the operations
on their way (a process-level view over the chain and operations apps)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import View

from webapp.chain.selectors import consumer_states, indexer_health
from webapp.operations.selectors import operations_stuck

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


def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format."""
    chains = indexer_health()
    lines = []
    for name, help_text in (
        ("head_block", "Latest block seen on the node"),
        ("indexed_block", "Last block fully mirrored"),
        ("lag_blocks", "Blocks between the head and the mirror"),
        ("lag_seconds", "Seconds between the head block and the last mirrored block"),
        ("parked_logs", "Logs that could not be decoded"),
    ):
        lines.append(f"# HELP provenant_indexer_{name} {help_text}")
        lines.append(f"# TYPE provenant_indexer_{name} gauge")
        for h in chains:
            value = getattr(h, name)
            lines.append(f'provenant_indexer_{name}{{chain_id="{h.chain_id}"}} {value}')
    consumers = consumer_states()
    for name, help_text in (
        ("parked", "1 when the consumer stopped at an event that raised (see the chain admin)"),
        ("lag_events", "Stored events the consumer has not applied yet"),
    ):
        lines.append(f"# HELP provenant_consumer_{name} {help_text}")
        lines.append(f"# TYPE provenant_consumer_{name} gauge")
        for c in consumers:
            value = int(getattr(c, name))
            lines.append(
                f'provenant_consumer_{name}{{chain_id="{c.chain_id}",name="{c.name}"}} {value}'
            )
    lines.append(
        "# HELP provenant_operations_stuck Operations queued, submitted or mined for longer"
        f" than {settings.OPERATION_STUCK_SECONDS} s"
    )
    lines.append("# TYPE provenant_operations_stuck gauge")
    for chain_id, by_status in sorted(operations_stuck().items()):
        for status, count in sorted(by_status.items()):
            lines.append(
                f'provenant_operations_stuck{{chain_id="{chain_id}",status="{status}"}} {count}'
            )
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4")
