"""The production stack's files: the systemd units and compose file are what
`processes.py` says, every task has a queue with a worker, nginx accepts the rendered
configuration, and `make prod-smoke` starts the whole stack and passes over HTTPS."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.production.processes import PROCESSES
from deploy.production.smoke import ROOT, render_nginx
from deploy.production.units import HERE, compose, systemd_unit


@pytest.mark.unit
def test_the_committed_units_and_compose_file_are_what_the_process_list_says() -> None:
    for process in PROCESSES:
        path = HERE / "systemd" / f"provenant-{process.name}.service"
        assert path.read_text() == systemd_unit(process), (
            f"{path.name} is stale: run python -m deploy.production units"
        )
    assert (HERE / "compose.yaml").read_text() == compose()
    services = yaml.safe_load(compose())["services"]
    assert {p.name for p in PROCESSES} <= set(services)
    command = services["worker-submission"]["command"]
    assert command[command.index("-Q") + 1] == "submission"


@pytest.mark.unit
def test_every_task_is_routed_to_a_queue_that_a_worker_consumes(settings: Any) -> None:
    import workers.tasks  # registers the tasks
    from workers.celery import app

    assert workers.tasks
    tasks = {name for name in app.tasks if not name.startswith("celery.")}
    routed = {task for queue in settings.WORKER_QUEUE_TASKS.values() for task in queue}
    assert tasks == routed, f"unrouted: {sorted(tasks - routed)}; unknown: {sorted(routed - tasks)}"
    consumed = set()
    for process in PROCESSES:
        if "-Q" in process.argv:
            consumed |= set(process.argv[process.argv.index("-Q") + 1].split(","))
    assert consumed == set(settings.WORKER_QUEUE_TASKS)


@pytest.mark.integration
def test_nginx_accepts_the_rendered_configuration(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(nginx).exists(), "nginx is missing: `make services` installs Debian's nginx"
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    config = tmp_path / "nginx.conf"
    config.write_text(
        render_nginx(
            {"pid": str(tmp_path / "nginx.pid"), "error_log": str(tmp_path / "error.log"),
             "access_log": str(tmp_path / "access.log"), "mime_types": "/etc/nginx/mime.types",
             "tmp": str(tmp_path), "web": "127.0.0.1:8000", "streams": "127.0.0.1:8001",
             "http_port": "8080", "https_port": "8443", "server_name": "localhost",
             "cert": str(cert), "key": str(key), "static_root": str(tmp_path),
             "metrics_allow": "10.0.0.0/8"}
        )
    )  # fmt: skip
    done = subprocess.run(
        [nginx, "-t", "-c", str(config), "-p", str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with pytest.raises(RuntimeError, match="values missing"):
        render_nginx({"pid": "/run/nginx.pid"})


@pytest.mark.integration
def test_prod_smoke_starts_the_stack_and_passes_over_https() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "deploy.production.smoke"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
        env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "prod-smoke passed: 7 steps" in done.stdout
    assert re.search(r"five lots at once, all confirmed: [\d.]+ s", done.stdout)
