from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import View

from webapp.chain.selectors import indexer_health

#: Lag (in blocks) above which the health endpoint answers 503.
UNHEALTHY_LAG_BLOCKS = 50


class IndexerHealthView(View):
    """JSON health of the indexer; 503 when it lags or has parked logs to look at."""

    def get(self, request: HttpRequest) -> JsonResponse:
        chains = indexer_health()
        healthy = bool(chains) and all(
            h.lag_blocks <= UNHEALTHY_LAG_BLOCKS and h.parked_logs == 0 for h in chains
        )
        return JsonResponse(
            {"status": "ok" if healthy else "degraded", "chains": [h.as_dict() for h in chains]},
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
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4")
