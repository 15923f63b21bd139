"""`make prod-smoke`: the production stack of this directory, started on this machine from
its own files, then used over HTTPS as a partner would, then stopped.

What runs: a chain node configured like the Besu network (anvil: chain id 1337, zero gas
price and base fee, 1-second blocks), a private Redis, a new PostgreSQL database, and the
site's processes as `processes.py` lists them (gunicorn, uvicorn, one Celery worker per
queue, beat) with `PROVENANT_ENV=production`, behind Debian's nginx with a self-signed
certificate. The contracts are deployed with an encrypted deployer key file; the
operator and a member organisation are made with the operator's management commands.

Steps, each timed: readiness; the member's registration on chain; a person logs in; a lot
registered through the API is confirmed; its public passport opens; five lots registered
at once are all confirmed, signed by the submission worker with consecutive nonces while
the chain worker mirrored them (two workers on different queues).

    python -m deploy.production.smoke [--keep]   # --keep: leave the files for a look
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import requests
from eth_account import Account
from web3 import Web3

from contracts.chain import settings as chain_settings
from contracts.chain.client import bind
from deploy.local.node import AnvilNode, free_port
from deploy.production.processes import PROCESSES, PRODUCTION_ENV

ROOT = chain_settings.PROJECT_ROOT
BIN = Path(sys.executable).parent
CHAIN_ID = 1337
ADMIN_DATABASE_URL = os.environ.get(
    "PROVENANT_SMOKE_DATABASE_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres"
)
#: The smoke starts everything but the database server and the chain node's binary.
STARTED = ("web", "streams", "worker-submission", "worker-chain", "worker-deliveries",
           "worker-exports", "beat")  # fmt: skip


class SmokeFailed(RuntimeError):
    pass


def _wait(what: str, check: Callable[[], Any], *, deadline_s: float) -> Any:
    """Poll `check` until it returns something truthy; SmokeFailed after the deadline."""
    end = time.monotonic() + deadline_s
    last: Any = None
    while time.monotonic() < end:
        try:
            last = check()
        except (requests.RequestException, OSError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.25)
    raise SmokeFailed(f"{what}: not within {deadline_s:.0f} s (last: {last!r})")


class Stack:
    """Everything the smoke starts, stopped (and removed) on exit."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}
        self.env: dict[str, str] = {}
        self.database = f"provenant_prodsmoke_{os.getpid()}"

    def start(self, name: str, argv: list[str]) -> None:
        log = self.root / "logs" / f"{name}.log"
        log.parent.mkdir(exist_ok=True)
        self.logs[name] = log
        with log.open("wb") as out:
            self.procs[name] = subprocess.Popen(
                argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip

    def run(self, argv: list[str], *, stdin: str = "") -> str:
        done = subprocess.run(
            argv, cwd=ROOT, env=self.env, input=stdin, capture_output=True, text=True,
            timeout=300, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise SmokeFailed(f"{' '.join(argv[:3])}… failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                tail = self.logs[name].read_text(errors="replace")[-3000:]
                raise SmokeFailed(f"{name} exited with {proc.returncode}:\n{tail}")

    def stop(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def _certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "tls.crt", directory / "tls.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def render_nginx(values: dict[str, str]) -> str:
    """deploy/production/nginx.conf.template with its @name@ tokens filled."""
    text = (Path(__file__).parent / "nginx.conf.template").read_text()
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    if missing := sorted(set(re.findall(r"@([a-z_]+)@", text))):
        raise SmokeFailed(f"nginx template values missing: {missing}")
    return text


def nginx_files(root: Path, *, web: str, streams: str, http: int, https: int) -> tuple[Path, Path]:
    """A self-signed certificate and the rendered nginx configuration under `root` (logs
    in root/logs, static files in root/data/static); (configuration, certificate)."""
    cert, key = _certificate(root)
    (root / "nginx").mkdir()
    config = root / "nginx" / "nginx.conf"
    config.write_text(
        render_nginx(
            {
                "pid": str(root / "nginx" / "nginx.pid"),
                "error_log": str(root / "logs" / "nginx-error.log"),
                "access_log": str(root / "logs" / "nginx-access.log"),
                "mime_types": "/etc/nginx/mime.types",
                "tmp": str(root / "nginx"),
                "web": web,
                "streams": streams,
                "http_port": str(http),
                "https_port": str(https),
                "server_name": "localhost",
                "cert": str(cert),
                "key": str(key),
                "static_root": str(root / "data" / "static"),
                "metrics_allow": "127.0.0.1",
            }
        )
    )
    return config, cert


def _database(stack: Stack) -> str:
    with psycopg.connect(ADMIN_DATABASE_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{stack.database}"')
        conn.execute(f'CREATE DATABASE "{stack.database}"')
    return ADMIN_DATABASE_URL.rsplit("/", 1)[0] + "/" + stack.database


def _drop_database(stack: Stack) -> None:
    with psycopg.connect(ADMIN_DATABASE_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{stack.database}" WITH (FORCE)')


@contextlib.contextmanager
def smoke_stack(keep: bool) -> Iterator[Stack]:
    root = Path(tempfile.mkdtemp(prefix="provenant-prod-smoke-"))
    stack = Stack(root)
    node = AnvilNode(chain_id=CHAIN_ID, block_time=1)
    try:
        yield _up(stack, node)
    finally:
        stack.stop()
        node.stop()
        with contextlib.suppress(psycopg.Error):
            _drop_database(stack)
        if keep:
            print(f"kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def _up(stack: Stack, node: AnvilNode) -> Stack:
    root = stack.root
    node.start()
    ports = {name: free_port() for name in ("web", "streams", "redis", "http", "https")}
    stack.start(
        "redis",
        ["redis-server", "--port", str(ports["redis"]), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
    )  # fmt: skip
    (root / "data").mkdir()
    (root / "prometheus").mkdir()
    deployer = Account.create()
    passphrase = secrets.token_urlsafe(16)
    (root / "deployer.json").write_text(json.dumps(Account.encrypt(deployer.key, passphrase)))
    stack.env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PROVENANT_", "DJANGO_"))},
        **PRODUCTION_ENV,
        # a benchmark may lift the partners' rate limit (it measures the stack, not that)
        **{k: os.environ[k] for k in ("PROVENANT_API_RATE_PER_TOKEN",) if k in os.environ},
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
        "DATABASE_URL": _database(stack),
        "REDIS_URL": f"redis://127.0.0.1:{ports['redis']}/0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
        "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1",
        "PROVENANT_RPC_URL": node.url,
        "PROVENANT_CHAIN_ID": str(CHAIN_ID),
        "PROVENANT_DATA_DIR": str(root / "data"),
        "PROVENANT_KEY_BACKEND": "keystore",
        "PROVENANT_KEYSTORE_PASSPHRASE": secrets.token_urlsafe(24),
        "PROVENANT_DEPLOYER_PASSPHRASE": passphrase,
        "PROVENANT_NEW_ADMIN_PASSWORD": secrets.token_urlsafe(18),
        "PROVENANT_BIND": f"127.0.0.1:{ports['web']}",
        # two workers keep the smoke light; a benchmark asks for the production count
        "WEB_CONCURRENCY": os.environ.get("WEB_CONCURRENCY", "2"),
        "PROMETHEUS_MULTIPROC_DIR": str(root / "prometheus"),
    }
    python = str(BIN / "python")
    stack.run([python, "manage.py", "migrate", "--noinput"])
    stack.run([python, "manage.py", "collectstatic", "--noinput"])
    stack.run([python, "-m", "contracts.chain.deploy", "--key-file", str(root / "deployer.json")])
    stack.run(
        [python, "manage.py", "bootstrap_operator", "--key-file", str(root / "deployer.json")]
    )
    member = json.loads(
        stack.run(
            [
                python,
                "manage.py",
                "add_organisation",
                "--slug",
                "smoke-mine",
                "--name",
                "Smoke Test Mine",
                "--roles",
                "MINER",
                "--admin",
                "alice",
            ]
        )
    )
    stack.env["SMOKE_MEMBER"] = json.dumps(member)
    for process in PROCESSES:
        if process.name not in STARTED:
            continue
        argv = [str(BIN / process.argv[0]), *process.argv[1:]]
        if process.name == "streams":
            argv[argv.index("--port") + 1] = str(ports["streams"])
        stack.start(process.name, argv)
    config, cert = nginx_files(
        root,
        web=f"127.0.0.1:{ports['web']}",
        streams=f"127.0.0.1:{ports['streams']}",
        http=ports["http"],
        https=ports["https"],
    )
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    stack.run([nginx, "-t", "-c", str(config), "-p", str(root / "nginx")])
    stack.start("nginx", [nginx, "-c", str(config), "-p", str(root / "nginx"), "-g",
                          "daemon off;"])  # fmt: skip
    stack.env["SMOKE_BASE"] = f"https://localhost:{ports['https']}"
    stack.env["SMOKE_CERT"] = str(cert)
    stack.env["SMOKE_NODE"] = node.url
    return stack


def smoke(stack: Stack) -> list[tuple[str, float]]:
    base, cert = stack.env["SMOKE_BASE"], stack.env["SMOKE_CERT"]
    member = json.loads(stack.env["SMOKE_MEMBER"])
    w3 = Web3(Web3.HTTPProvider(stack.env["SMOKE_NODE"]))
    session, api = requests.Session(), requests.Session()
    for client in (session, api):
        client.verify = cert
        client.trust_env = False  # REQUESTS_CA_BUNDLE and the like would replace `verify`
    api.headers["Authorization"] = f"Bearer {member['token']}"
    times: list[tuple[str, float]] = []

    def step(name: str, action: Callable[[], Any]) -> Any:
        began = time.perf_counter()
        stack.check_alive()
        result = action()
        times.append((name, time.perf_counter() - began))
        print(f"  {name}: {times[-1][1]:.2f} s", flush=True)
        return result

    def ready() -> bool:
        # the first request of each web process loads every view (seconds on a busy host)
        answer = session.get(f"{base}/health/ready", timeout=60)
        return answer.status_code == 200

    step("ready over HTTPS", lambda: _wait("ready", ready, deadline_s=90))
    lots = _lots_contract(stack)
    step(
        "member registered on chain",
        lambda: _wait(
            "registration",
            lambda: lots.functions.isRegistered(member["address"]).call(),
            deadline_s=60,
        ),
    )
    step("a person logs in", lambda: _login(session, base, member))
    first = step("a lot registered through the API is confirmed", lambda: _register(api, base, 1))
    step("its passport opens", lambda: _passport(session, base, first[0]))
    step("five lots at once, all confirmed", lambda: _register(api, base, 5))
    step("two workers on their own queues", lambda: _queues(stack, w3, member["address"]))
    return times


def _lots_contract(stack: Stack) -> Any:
    manifest = json.loads(
        (Path(stack.env["PROVENANT_DATA_DIR"]) / "deployments" / f"{CHAIN_ID}.json").read_text()
    )
    w3 = Web3(Web3.HTTPProvider(stack.env["SMOKE_NODE"]))
    return bind(w3, "Lots", manifest["contracts"]["Lots"]["address"])


def _login(session: requests.Session, base: str, member: dict[str, str]) -> None:
    form = session.get(f"{base}/accounts/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    if form.status_code != 200 or token is None:
        raise SmokeFailed(f"no login form ({form.status_code})")
    answer = session.post(
        f"{base}/accounts/login/",
        data={"username": member["admin"], "password": os.environ.get("SMOKE_PASSWORD", "")
              or member["password"], "csrfmiddlewaretoken": token.group(1)},
        headers={"Referer": f"{base}/accounts/login/"},
        allow_redirects=False,
        timeout=10,
    )  # fmt: skip
    if answer.status_code != 302:
        raise SmokeFailed(f"login answered {answer.status_code}")
    if session.get(f"{base}/", timeout=10).status_code != 200:
        raise SmokeFailed("the dashboard did not open after logging in")


def _register(api: requests.Session, base: str, count: int) -> list[int]:
    urls = []
    for _ in range(count):
        answer = api.post(
            f"{base}/api/v1/lots/register",
            json={"name": "Cobalt ore", "quantity": 1000, "unit": "kg", "kind": "raw_material"},
            headers={"Idempotency-Key": secrets.token_hex(8)},
            timeout=10,
        )
        if answer.status_code != 202:
            raise SmokeFailed(f"register answered {answer.status_code}: {answer.text[:300]}")
        urls.append(answer.json()["url"])

    def confirmed() -> list[int] | None:
        states = [api.get(url, timeout=10).json() for url in urls]
        if failed := [s for s in states if s["status"] == "failed"]:
            raise SmokeFailed(f"an operation failed: {failed[0]}")
        if all(s["status"] == "confirmed" for s in states):
            return [int(s["lot_id"]) for s in states]
        return None

    found: list[int] = _wait("confirmation", confirmed, deadline_s=90)
    return found


def _passport(session: requests.Session, base: str, lot_id: int) -> None:
    page = session.get(f"{base}/passport/{lot_id}", timeout=10)
    if page.status_code != 200 or "Cobalt ore" not in page.text:
        raise SmokeFailed(f"passport of lot {lot_id}: {page.status_code}")


def _queues(stack: Stack, w3: Web3, address: str) -> None:
    """Every registration was signed by the submission worker, in nonce order without a
    gap, and the chain worker mirrored them."""
    nonce = w3.eth.get_transaction_count(Web3.to_checksum_address(address))
    if nonce != 6:
        raise SmokeFailed(f"the member's account sent {nonce} transactions, not 6")
    submission = stack.logs["worker-submission"].read_text(errors="replace")
    chain = stack.logs["worker-chain"].read_text(errors="replace")
    ran = "Task workers.tasks.{}["  # Celery's "Task <name>[<id>] received" line
    if ran.format("submit_operation") not in submission:
        raise SmokeFailed("the submission worker signed nothing")
    if ran.format("submit_operation") in chain:
        raise SmokeFailed("the chain worker took a submission task")
    if ran.format("index_chain") not in chain:
        raise SmokeFailed("the chain worker mirrored nothing")
    if ran.format("index_chain") in submission:
        raise SmokeFailed("the submission worker took a chain task")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the files and logs")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    try:
        with smoke_stack(args.keep) as stack:
            print(f"stack up in {time.perf_counter() - began:.1f} s", flush=True)
            times = smoke(stack)
    except SmokeFailed as exc:
        print(f"prod-smoke FAILED: {exc}", file=sys.stderr)
        return 1
    total = sum(t for _, t in times)
    print(f"prod-smoke passed: {len(times)} steps in {total:.1f} s "
          f"({time.perf_counter() - began:.1f} s with start and stop)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
