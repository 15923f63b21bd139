"""A private production-style site for the fault tests, every part of which can be stopped,
killed and started again without touching the machine's own services.

Its own PostgreSQL cluster (initdb, on a free port), its own Redis, anvil with 1-second
blocks and its state in a file (stopped with SIGTERM it saves the chain; started again it
carries on from there), the local Key Vault server and a SoftHSM2 token; gunicorn behind
nginx with TLS, two submission workers (so two processes race for every organisation's
operations), a chain worker, a deliveries worker and beat, all with
``PROVENANT_ENV=production`` and the split queues of `deploy/production`.

Members: three sending mines, one per key store (encrypted keystore file, PKCS#11 token,
Key Vault), and a refinery that receives.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
from eth_account import Account
from web3 import Web3

from deploy.local.node import anvil_command, free_port, wait_for_rpc
from deploy.production.processes import PRODUCTION_ENV, process
from deploy.production.smoke import BIN, CHAIN_ID, ROOT, nginx_files

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SOFTHSM_LIBRARY = "/usr/lib/softhsm/libsofthsm2.so"
HSM_PIN = "1234"
#: The sending members, one per key store, and the receiver.
SENDERS = {"mine-keystore": "keystore", "mine-hsm": "pkcs11", "mine-vault": "keyvault"}
RECEIVER = "refinery"


class SiteFailed(RuntimeError):
    pass


def wait_for(what: str, check: Callable[[], Any], *, deadline_s: float) -> Any:
    """Poll `check` until it returns something truthy; SiteFailed after the deadline."""
    end = time.monotonic() + deadline_s
    last: Any = None
    while time.monotonic() < end:
        try:
            last = check()
        except (OSError, psycopg.Error) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.25)
    raise SiteFailed(f"{what}: not within {deadline_s:.0f} s (last: {last!r})")


def _as_postgres() -> list[str]:
    """PostgreSQL refuses to run as root: as root, run its tools as the postgres user."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


@dataclass
class Member:
    slug: str
    backend: str
    address: str
    token: str


@dataclass
class Site:
    root: Path
    ports: dict[str, int]
    env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    argv: dict[str, list[str]] = field(default_factory=dict)
    members: dict[str, Member] = field(default_factory=dict)

    # --- processes -------------------------------------------------------------------

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        log = self.root / "logs" / f"{name}.log"
        self.argv[name] = argv
        with log.open("ab") as out:
            self.procs[name] = subprocess.Popen(
                argv, cwd=ROOT, env=env or self.env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip

    def signal(self, name: str, sig: signal.Signals) -> None:
        """Send `sig` to the process and its children (its process group); wait for it."""
        proc = self.procs[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        # a Celery worker's pool children may outlive their parent's SIGKILL for a moment
        for _ in range(40):
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            time.sleep(0.05)

    def restart(self, name: str, env: dict[str, str] | None = None) -> None:
        self.start(name, self.argv[name], env)

    def restart_workers(self, names: list[str], env: dict[str, str] | None = None) -> None:
        """Start Celery workers again (all at once) and wait until each takes tasks (on a
        loaded machine a worker's start-up alone can take a minute)."""
        ready = {name: self.log(name).count(" ready.") for name in names}
        for name in names:
            self.restart(name, env)
        for name in names:
            wait_for(
                f"worker {name} ready",
                lambda name=name: self.log(name).count(" ready.") > ready[name],
                deadline_s=180,
            )

    def run(self, argv: list[str], *, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            argv, cwd=ROOT, env=env or self.env, capture_output=True, text=True, timeout=300,
            check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise SiteFailed(f"{' '.join(argv[:4])}… failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def manage(self, *args: str) -> str:
        return self.run([str(BIN / "python"), "manage.py", *args])

    def log(self, name: str) -> str:
        return (self.root / "logs" / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for name in list(self.procs):
            if self.procs[name].poll() is None:
                self.signal(name, signal.SIGTERM)
        self.postgres("stop", "-m", "immediate", check=False)

    # --- the parts a fault takes away ----------------------------------------------------

    def postgres(self, *args: str, check: bool = True) -> None:
        done = subprocess.run(
            [*_as_postgres(), str(PG_BIN / "pg_ctl"), "-D", str(self.root / "pg" / "data"),
             "-l", str(self.root / "pg" / "postgres.log"), "-w", "-t", "60", *args],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        if check and done.returncode != 0:
            raise SiteFailed(f"pg_ctl {args[0]} failed: {done.stdout}{done.stderr}")

    def node_start(self) -> None:
        self.start(
            "anvil",
            anvil_command(
                port=self.ports["anvil"],
                chain_id=CHAIN_ID,
                state_file=self.root / "anvil" / "state.json",
                block_time=1,
            ),
        )
        wait_for_rpc(self.node_url, timeout=60, proc=self.procs["anvil"])

    @property
    def node_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['anvil']}"

    @property
    def base(self) -> str:
        return f"https://localhost:{self.ports['https']}"

    @property
    def database_url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.ports['postgres']}/provenant"

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, connect_timeout=5) as conn:
            return conn.execute(query, params or None).fetchall()

    def web3(self) -> Web3:
        return Web3(Web3.HTTPProvider(self.node_url, request_kwargs={"timeout": 10}))

    def hsm_tokens(self) -> Path:
        return self.root / "hsm" / "tokens"


def _postgres(site: Site) -> None:
    directory = site.root / "pg"
    directory.mkdir()
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(directory, user.pw_uid, user.pw_gid)
    subprocess.run(
        [*_as_postgres(), str(PG_BIN / "initdb"), "-D", str(directory / "data"), "-U",
         "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    (directory / "socket").mkdir()
    if os.geteuid() == 0:
        os.chown(directory / "socket", user.pw_uid, user.pw_gid)
    with (directory / "data" / "postgresql.conf").open("a") as conf:
        conf.write(
            f"port = {site.ports['postgres']}\nlisten_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{directory / 'socket'}'\nfsync = off\n"
            "synchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n"
        )
    site.postgres("start")
    with psycopg.connect(
        f"postgres://postgres@127.0.0.1:{site.ports['postgres']}/postgres", autocommit=True
    ) as conn:
        conn.execute("CREATE DATABASE provenant")


def _hsm(site: Site) -> dict[str, str]:
    directory = site.root / "hsm"
    site.hsm_tokens().mkdir(parents=True)
    conf = directory / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {site.hsm_tokens()}\nobjectstore.backend = file\n"
        "log.level = ERROR\n"
    )
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", "faults", "--pin", HSM_PIN,
         "--so-pin", "5678"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return {
        "SOFTHSM2_CONF": str(conf),
        "PROVENANT_PKCS11_LIBRARY": SOFTHSM_LIBRARY,
        "PROVENANT_PKCS11_TOKEN_LABEL": "faults",
        "PROVENANT_PKCS11_USER_PIN": HSM_PIN,
    }


class _ManagedIdentity(BaseHTTPRequestHandler):
    """The token endpoint Azure gives an app with a managed identity (IDENTITY_ENDPOINT and
    IDENTITY_HEADER, as on Container Apps): azure-identity's DefaultAzureCredential asks it
    for a Key Vault token, here the local vault's."""

    vault_token = ""
    secret = ""

    def do_GET(self) -> None:
        if self.headers.get("X-IDENTITY-HEADER") != self.secret:
            self.send_error(401)
            return
        body = json.dumps(
            {"access_token": self.vault_token, "expires_on": int(time.time()) + 3600,
             "token_type": "Bearer",
             "resource": "https://vault.azure.net"}
        ).encode()  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _managed_identity(vault_token: str) -> dict[str, str]:
    handler = type(
        "Identity", (_ManagedIdentity,), {"vault_token": vault_token,
                                          "secret": secrets.token_urlsafe(16)}
    )  # fmt: skip
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return {
        "IDENTITY_ENDPOINT": f"http://127.0.0.1:{server.server_address[1]}/msi/token",
        "IDENTITY_HEADER": handler.secret,
    }


def _key_vault(site: Site) -> dict[str, str]:
    token = secrets.token_urlsafe(24)
    state = site.root / "keyvault"
    site.start(
        "keyvault",
        [str(BIN / "python"), "-m", "deploy.local.keyvault", "--state-dir", str(state),
         "--port", str(site.ports["keyvault"]), "--token", token],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    wait_for("the Key Vault server", lambda: "url=" in site.log("keyvault"), deadline_s=60)
    return {
        "PROVENANT_KEY_VAULT_URL": f"https://127.0.0.1:{site.ports['keyvault']}",
        "PROVENANT_KEY_VAULT_CREDENTIAL": "default",  # a managed identity, as on Azure
        "PROVENANT_KEY_VAULT_CA_FILE": str(state / "ca.pem"),
        **_managed_identity(token),
    }


def _worker(queue: str, name: str, concurrency: int) -> list[str]:
    return [str(BIN / "celery"), "-A", "workers.celery", "worker", "-Q", queue, "-n",
            f"{name}@%h", "--concurrency", str(concurrency), "--loglevel", "INFO"]  # fmt: skip


WORKERS = {
    "submission-1": _worker("submission", "submission-1", 2),
    "submission-2": _worker("submission", "submission-2", 2),
    "chain": _worker("chain", "chain", 1),
    "deliveries": _worker("deliveries", "deliveries", 1),
}


def _member(site: Site, slug: str, roles: str, backend: str) -> Member:
    argv = ["add_organisation", "--slug", slug, "--name", slug.replace("-", " ").title(),
            "--roles", roles, "--admin", f"{slug}-admin", "--key-backend", backend]  # fmt: skip
    answer = json.loads(site.manage(*argv))
    return Member(slug, backend, answer["address"], answer["token"])


def _up(site: Site) -> None:
    root = site.root
    (root / "logs").mkdir()
    (root / "data").mkdir()
    _postgres(site)
    site.start(
        "redis",
        ["redis-server", "--port", str(site.ports["redis"]), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no"],
    )  # fmt: skip
    site.node_start()
    deployer = Account.create()
    passphrase = secrets.token_urlsafe(16)
    (root / "deployer.json").write_text(json.dumps(Account.encrypt(deployer.key, passphrase)))
    site.env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PROVENANT_", "DJANGO_"))},
        **PRODUCTION_ENV,
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
        "DATABASE_URL": site.database_url,
        "REDIS_URL": f"redis://127.0.0.1:{site.ports['redis']}/0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
        "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1",
        "PROVENANT_RPC_URL": site.node_url,
        "PROVENANT_CHAIN_ID": str(CHAIN_ID),
        "PROVENANT_DATA_DIR": str(root / "data"),
        "PROVENANT_KEY_BACKEND": "keystore",
        "PROVENANT_KEYSTORE_PASSPHRASE": secrets.token_urlsafe(24),
        "PROVENANT_DEPLOYER_PASSPHRASE": passphrase,
        "PROVENANT_NEW_ADMIN_PASSWORD": secrets.token_urlsafe(18),
        "PROVENANT_BIND": f"127.0.0.1:{site.ports['web']}",
        "WEB_CONCURRENCY": "2",
        **_hsm(site),
        **_key_vault(site),
    }
    site.manage("migrate", "--noinput")
    site.run([str(BIN / "python"), "-m", "contracts.chain.deploy", "--key-file",
              str(root / "deployer.json")])  # fmt: skip
    site.manage("bootstrap_operator", "--key-file", str(root / "deployer.json"))
    wanted = [(slug, "MINER", backend) for slug, backend in SENDERS.items()]
    wanted.append((RECEIVER, "MANUFACTURER", "keystore"))
    with ThreadPoolExecutor(len(wanted)) as pool:  # each is a process of its own
        for member in pool.map(lambda w: _member(site, *w), wanted):
            site.members[member.slug] = member
    site.start("web", [str(BIN / a) if i == 0 else a for i, a in enumerate(process("web").argv)])
    for name, argv in WORKERS.items():
        site.start(name, argv)
    site.start("beat", [str(BIN / "celery"), "-A", "workers.celery", "beat", "--loglevel",
                        "INFO"])  # fmt: skip
    config, cert = nginx_files(
        root,
        web=f"127.0.0.1:{site.ports['web']}",
        streams=f"127.0.0.1:{site.ports['streams']}",
        http=site.ports["http"],
        https=site.ports["https"],
    )
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    site.start("nginx", [nginx, "-c", str(config), "-p", str(root / "nginx"), "-g",
                         "daemon off;"])  # fmt: skip
    site.env["FAULTS_CERT"] = str(cert)
    w3 = site.web3()
    lots = _lots_contract(site, w3)
    for member in site.members.values():
        wait_for(
            f"{member.slug} registered on chain",
            lambda m=member: lots.functions.isRegistered(
                Web3.to_checksum_address(m.address)
            ).call(),
            deadline_s=120,
        )


def _lots_contract(site: Site, w3: Web3) -> Any:
    from contracts.chain.client import bind

    manifest = json.loads((site.root / "data" / "deployments" / f"{CHAIN_ID}.json").read_text())
    return bind(w3, "Lots", manifest["contracts"]["Lots"]["address"])


@contextlib.contextmanager
def fault_site() -> Iterator[Site]:
    """The site, up and with its members registered on chain; everything removed after."""
    root = Path(tempfile.mkdtemp(prefix="provenant-faults-"))
    root.chmod(0o711)  # the postgres user reaches its own directory inside
    names = ("postgres", "redis", "anvil", "keyvault", "web", "streams", "http", "https")
    site = Site(root, {name: free_port() for name in names})
    try:
        _up(site)
        yield site
    finally:
        site.stop()
        if os.environ.get("PROVENANT_FAULTS_KEEP"):
            print(f"kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
