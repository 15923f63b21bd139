"""The monitoring files: Prometheus's configuration and rules pass promtool's checks and
the rules' unit tests (deploy/monitoring/tests), and every metric the rules and the
Grafana dashboard read is one the application serves on /metrics (asked of a real
/metrics, with a stand-in Besu node answering `qbft_getSignerMetrics`) or one Besu and
node_exporter are documented to serve."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.test import Client

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
RULES = MONITORING / "rules" / "provenant.rules.yml"
#: Served by Besu (EIP-2159 names), node_exporter and Prometheus itself.
EXTERNAL = {
    "ethereum_blockchain_height",
    "ethereum_peer_count",
    "node_filesystem_avail_bytes",
    "node_filesystem_size_bytes",
    "up",
}
SIGNERS = [
    {"address": "0x" + "a1" * 20, "proposedBlockCount": "0x19", "lastProposedBlockNumber": "0x64"},
    {"address": "0x" + "b2" * 20, "proposedBlockCount": "0x0", "lastProposedBlockNumber": "0x0"},
]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: `make services` installs Debian's prometheus package"
    return subprocess.run(
        [tool, *args], cwd=MONITORING, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.unit
def test_promtool_accepts_the_rules_and_the_configuration() -> None:
    for args in (("check", "rules", str(RULES)), ("check", "config", "prometheus.yml")):
        done = promtool(*args)
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.unit
def test_the_rules_unit_tests_pass() -> None:
    done = promtool("test", "rules", "tests/provenant.rules.test.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def _read(expression: str) -> set[str]:
    """The metric names an expression reads (recording rules' names included)."""
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", re.sub(r'"[^"]*"', "", expression)))
    return {
        w for w in words if w.startswith(("provenant", "ethereum_", "node_", "besu:")) or w == "up"
    }


@pytest.fixture
def besu_signers() -> Iterator[str]:
    """A stand-in for a Besu node's JSON-RPC: `qbft_getSignerMetrics` as Besu answers it."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if body["method"] == "qbft_getSignerMetrics":
                answer: dict[str, Any] = {"jsonrpc": "2.0", "id": body["id"], "result": SIGNERS}
            else:
                answer = {"jsonrpc": "2.0", "id": body["id"], "error": {"code": -32601}}
            data = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.mark.django_db
def test_every_metric_the_rules_and_dashboard_read_is_served(
    settings: Any, besu_signers: str
) -> None:
    settings.CHAIN_POA = True
    settings.CHAIN_RPC_URL = besu_signers
    client = Client()
    client.get("/health/live")  # one request, so its latency series exists
    text = client.get("/metrics").content.decode()
    # every metric the endpoint declares (a gauge with no rows yet still has its TYPE line)
    served = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    # histograms: the _bucket/_count/_sum series stand for the histogram's name
    served |= {re.sub(r"_(bucket|count|sum|total|created)$", "", name) for name in served}
    assert 'provenant_validator_last_proposed_block{validator="0x' + "a1" * 20 + '"} 100' in text
    assert 'provenant_validator_proposed_blocks{validator="0x' + "b2" * 20 + '"} 0' in text

    rules = yaml.safe_load(RULES.read_text())["groups"]
    recorded = {r["record"] for g in rules for r in g["rules"] if "record" in r}
    expressions = [r["expr"] for g in rules for r in g["rules"]]
    dashboard = json.loads((MONITORING / "grafana" / "provenant.json").read_text())
    expressions += [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    read = set().union(*(_read(e) for e in expressions))
    unknown = {
        name
        for name in read - recorded - EXTERNAL
        if name not in served and re.sub(r"_(bucket|count|sum|total)$", "", name) not in served
    }
    assert not unknown, f"read but never served: {sorted(unknown)}"
    assert {"provenant_indexer_lag_blocks", "provenant_signing_errors_total"} <= read
