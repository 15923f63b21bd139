"""Portal under load: --users people browse the portal (Locust, headless, in this process)
while partner clients hand lots over through the API, on the production stack.

Starts the stack of `make prod-smoke` (`deploy/production/smoke.py`: gunicorn with its
production count of sync workers, twice the cores plus one unless WEB_CONCURRENCY says otherwise,
behind nginx with TLS, one Celery worker per queue, beat, PostgreSQL, a private
Redis, anvil with 1-second blocks). Seeds it through the API as members would: two miners
and a refinery register --lots lots, the miners hand 40 of them to the refinery, which
makes ten products from pairs of them and three assemblies from pairs of those (a lineage
two levels deep), and a certifier certifies the products. Then --users portal people (spread
over the miners, the refinery, the certifier and an auditor) each sign in through the
portal's login form and browse: the dashboard, the lots list, an assembly's lot page (with
its lineage), a passport and the sustainability page, with --think seconds between pages.
Meanwhile a background thread runs the handoff load of `bench/e2e.py` (`handoffs`: eight
clients hand the remaining lots back and forth between a miner and the refinery, each
accepted once confirmed). Measured: --duration seconds from the moment every person has
signed in.

Prints per page ``portal_<page>_p95_ms``, p50, requests and failures as the browsers saw
them (TLS through nginx included), then the same page's time inside gunicorn (its access
log), the handoffs done meanwhile, and for the slowest page what dominates: the time spent
waiting for a web worker (browser time minus gunicorn time) against the time in the view;
then, after the load, each page alone in a separate process (``alone_<page>``, and
``alone_api_operation`` for the operation the handoff clients poll): its time, SQL
statements and their time, the most repeated statements, and the functions with the most
own time (cProfile over ten requests).

    python bench/portal_load.py [--users 50] [--duration 60] [--lots 300] [--think 1 5]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Locust patches the standard library for gevent when it is imported: before requests,
# ssl and the stack's modules, so the background handoff threads become greenlets too.
import locust  # noqa: I001
from locust import FastHttpUser, between, task
from locust.env import Environment
from locust.exception import StopUser

import argparse
import json
import os
import random
import re
import secrets
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import gevent

from bench.e2e import Partner, handoffs, lift_partner_rate_limit
from bench.stats import percentile
from deploy.production.smoke import (
    BIN,
    SmokeFailed,
    Stack,
    _lots_contract,
    _wait,
    smoke_stack,
)

PAGES = ("dashboard", "lots", "lot_lineage", "passport", "sustainability")
#: gunicorn's access log line (deploy/production/gunicorn.conf.py): path, status, ms.
ACCESS = re.compile(
    r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d+) \S+ (?P<ms>\d+)ms'
)
PASSWORD = secrets.token_urlsafe(18)


def _page_of(path: str) -> str | None:
    path = path.split("?", 1)[0]
    if path == "/":
        return "dashboard"
    if path == "/lots":
        return "lots"
    if re.fullmatch(r"/lots/\d+", path):
        return "lot_lineage"
    if re.fullmatch(r"/passport/\d+", path):
        return "passport"
    if path == "/sustainability":
        return "sustainability"
    return None


# ---------------------------------------------------------------- seeding, through the API


def _member(stack: Stack, slug: str, roles: str) -> dict[str, str]:
    found: dict[str, str] = json.loads(
        stack.run(
            [str(BIN / "python"), "manage.py", "add_organisation", "--slug", slug,
             "--name", slug.replace("-", " ").title(), "--roles", roles,
             "--admin", f"{slug}-admin"]
        )
    )  # fmt: skip
    return found


def _confirmed(partner: Partner, path: str, body: dict[str, Any]) -> dict[str, Any]:
    return partner.follow(partner.write(path, body), {})


def _register(registrants: list[Partner], count: int) -> dict[Partner, list[int]]:
    """`count` lots, round robin over the registrants, twelve requests in flight."""

    def one(partner: Partner) -> tuple[Partner, int]:
        body = {"name": "Cobalt ore", "quantity": 1000, "unit": "kg", "kind": "raw_material"}
        return partner, int(_confirmed(partner, "/api/v1/lots/register", body)["lot_id"])

    made: dict[Partner, list[int]] = defaultdict(list)
    with ThreadPoolExecutor(12) as pool:
        for partner, lot in pool.map(one, [registrants[i % len(registrants)]
                                           for i in range(count)]):  # fmt: skip
            made[partner].append(lot)
    return made


def _transform(refinery: Partner, pairs: list[tuple[int, int]], name: str) -> list[int]:
    """One output made from each pair of the refinery's lots (all of each input used)."""

    def one(pair: tuple[int, int]) -> int:
        state = _confirmed(
            refinery,
            "/api/v1/transformations",
            {
                "process": "refining",
                "inputs": [{"lot_id": lot, "quantity": 1000} for lot in pair],
                "outputs": [{"name": name, "quantity": 1500, "unit": "kg", "kind": "product",
                             "claims": {"co2e_g_per_unit": 4200, "recycled_permille": 150}}],
            },
        )  # fmt: skip
        if state.get("lot_id") is None:
            raise SmokeFailed(f"a transformation confirmed without an output lot: {state}")
        return int(state["lot_id"])

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, pairs))


def _certify(certifier: Partner, lots: list[int]) -> int:
    """A certificate on each lot, all backed by one uploaded document."""
    upload = certifier.session.post(
        f"{certifier.base}/api/v1/documents",
        files={"file": ("audit.pdf", b"%PDF-1.4 bench audit report", "application/pdf")},
        timeout=30,
    )
    if upload.status_code != 201:
        raise SmokeFailed(f"document upload answered {upload.status_code}: {upload.text[:300]}")
    digest = upload.json()["hash"]
    now = datetime.now(UTC)

    def one(lot: int) -> None:
        _confirmed(
            certifier,
            "/api/v1/certificates/issue",
            {"lot_id": lot, "certificate_type": "CARBON_FOOTPRINT", "document_hash": digest,
             "valid_from": (now - timedelta(days=1)).isoformat(),
             "valid_until": (now + timedelta(days=365)).isoformat(),
             "claims": {"CO2E_G_PER_UNIT": 4000}},
        )  # fmt: skip

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, lots))
    return len(lots)


def _people(stack: Stack, count: int, organisations: list[str]) -> list[str]:
    """`count` portal people, round robin over the organisations, all with one password."""
    names = [f"portal-{n:03d}" for n in range(count)]
    pairs = [(name, organisations[n % len(organisations)]) for n, name in enumerate(names)]
    stack.run(
        [str(BIN / "python"), "manage.py", "shell", "-c",
         "from webapp.organisations.models import Organisation\n"
         "from webapp.organisations.services import member_invite\n"
         f"for name, slug in {pairs!r}:\n"
         "    member_invite(organisation=Organisation.objects.get(slug=slug),"
         f" username=name, password={PASSWORD!r})\n"]
    )  # fmt: skip
    return names


# ------------------------------------------------------------------- the portal's browsers


class PortalPerson(FastHttpUser):
    """Signs in through the login form once, then opens the pages at random. `host`,
    `wait_time`, `people`, `lots` and `products` are set by `browse` before the run."""

    abstract = True
    people: ClassVar[list[str]] = []
    lots: ClassVar[list[int]] = []
    products: ClassVar[list[int]] = []
    signed_in: ClassVar[list[str]] = []

    def on_start(self) -> None:
        username = self.people.pop()
        form = self.client.get("/accounts/login/", name="login")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text or "")
        if token is None:
            raise StopUser(f"no login form for {username}")
        with self.client.post(
            "/accounts/login/",
            data={"username": username, "password": PASSWORD,
                  "csrfmiddlewaretoken": token.group(1)},
            headers={"Referer": f"{self.host}/accounts/login/"},
            allow_redirects=False, name="login", catch_response=True,
        ) as answer:  # fmt: skip
            if answer.status_code != 302:
                answer.failure(f"login answered {answer.status_code}")
                raise StopUser(username)
        self.signed_in.append(username)

    def _open(self, path: str, page: str) -> None:
        # A lapsed session would redirect to the login page: that is a failure, not a page.
        with self.client.get(path, name=page, allow_redirects=False, catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"{path} answered {r.status_code}")

    @task
    def dashboard(self) -> None:
        self._open("/", "dashboard")

    @task
    def lots_list(self) -> None:
        self._open("/lots", "lots")

    @task
    def lot_lineage(self) -> None:
        self._open(f"/lots/{random.choice(self.products)}", "lot_lineage")

    @task
    def passport(self) -> None:
        self._open(f"/passport/{random.choice(self.lots)}", "passport")

    @task
    def sustainability(self) -> None:
        self._open("/sustainability", "sustainability")


def browse(
    stack: Stack, people: list[str], lots: list[int], products: list[int], args: argparse.Namespace
) -> tuple[dict[str, list[float]], dict[str, int], tuple[float, float], tuple[int, int]]:
    """Runs the browsers; per page the response times (ms) and failures within the measured
    window, the window (time.time()) and the web log's size at its start and end."""
    signed_in: list[str] = []
    person = type(
        "BenchPerson",
        (PortalPerson,),
        {"abstract": False, "host": stack.env["SMOKE_BASE"], "wait_time": between(*args.think),
         "people": list(people), "lots": lots, "products": products, "signed_in": signed_in},
    )  # fmt: skip
    env = Environment(user_classes=[person], events=locust.events)
    times: dict[str, list[float]] = defaultdict(list)
    failures: dict[str, int] = defaultdict(int)
    measuring = threading.Event()

    def record(name: str, response_time: float, exception: Any, **_: Any) -> None:
        if measuring.is_set() and name in PAGES:
            times[name].append(response_time)
            failures[name] += exception is not None

    env.events.request.add_listener(record)  # type: ignore[no-untyped-call]
    runner = env.create_local_runner()
    runner.start(args.users, spawn_rate=args.spawn_rate)
    try:
        # each sign-in hashes a password (PBKDF2): seconds of CPU for fifty on this machine
        _wait(
            "every person signed in",
            lambda: len(signed_in) >= args.users,
            deadline_s=max(120, 5 * args.users),
        )
        log = stack.logs["web"]
        began, start = time.time(), log.stat().st_size
        measuring.set()
        gevent.sleep(args.duration)
        measuring.clear()
        ended, end = time.time(), log.stat().st_size
    finally:
        runner.quit()
    return times, failures, (began, ended), (start, end)


# ----------------------------------------------------------------- what the server reports


def _server_times(log: Path, start: int, end: int) -> dict[str, list[float]]:
    """Milliseconds inside gunicorn per page from its access log, for the lines written
    between the offsets `start` and `end` (the measured window); under "busy:<kind>" every
    request's, by what asked (the portal's pages, the API, anything else)."""
    found: dict[str, list[float]] = defaultdict(list)
    with log.open("rb") as lines:
        lines.seek(start)
        text = lines.read(end - start).decode(errors="replace")
    for match in ACCESS.finditer(text):
        page = _page_of(match["path"]) if match["method"] == "GET" else None
        kind = "pages" if page else "api" if match["path"].startswith("/api/") else "other"
        found[f"busy:{kind}"].append(float(match["ms"]))
        if page is not None and match["status"] == "200":
            found[page].append(float(match["ms"]))
    return found


PROBE = """
import json, time
from collections import Counter
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
# nginx says the request came over TLS (PROVENANT_TRUSTED_PROXY=1)
client = Client(HTTP_HOST="localhost", HTTP_X_FORWARDED_PROTO="https")
# the first backend (the sign-in throttle) authenticates nobody: the one that does
client.force_login(
    get_user_model().objects.get(username=USERNAME),
    backend="django.contrib.auth.backends.ModelBackend",
)
for _ in range(2):
    client.get(PATH, secure=True)
with CaptureQueriesContext(connection) as sql:
    began = time.perf_counter()
    answer = client.get(PATH, secure=True)
    total = time.perf_counter() - began
statements = list(sql.captured_queries)
shapes = Counter(" ".join(q["sql"].split())[:90] for q in statements)
slowest = max(statements, key=lambda q: float(q["time"]), default=None)
# where the Python time goes: ten more requests under cProfile, own time per function
# (the statements above are copied first: each request empties Django's query log)
import cProfile, pstats
profile = cProfile.Profile()
profile.enable()
for _ in range(10):
    client.get(PATH, secure=True)
profile.disable()
own = sorted(
    ((row[2], f"{key[0].split('site-packages/')[-1].split('/work/')[-1]}:{key[2]}")
     for key, row in pstats.Stats(profile).stats.items()),
    reverse=True,
)
print(json.dumps({
    "status": answer.status_code,
    "total_ms": total * 1000,
    "statements": len(statements),
    "sql_ms": sum(float(q["time"]) for q in statements) * 1000,
    "repeated": [[shape, n] for shape, n in shapes.most_common(3) if n > 1],
    "slowest": [" ".join(slowest["sql"].split())[:120], float(slowest["time"]) * 1000]
    if slowest else None,
    "own_ms": [[name, round(seconds * 100, 2)] for seconds, name in own[:6]],
}))
"""


def _probe(stack: Stack, path: str, username: str) -> dict[str, Any]:
    """One request to `path` as `username`, in a separate process on the stack's settings,
    with every SQL statement recorded (after two warm-up requests)."""
    code = PROBE.replace("USERNAME", repr(username)).replace("PATH", repr(path))
    out = stack.run([str(BIN / "python"), "manage.py", "shell", "-c", code])
    found: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return found


# ------------------------------------------------------------------------------------ main


def _handoff_load(
    pool: list[int],
    miner: Partner,
    refinery: Partner,
    stop: threading.Event,
    done: list[tuple[float, int]],
) -> None:
    """Hands the pool back and forth (miner → refinery, then back), sixteen lots at a time,
    until `stop`; `done` gets when each chunk was done (every handoff initiated and
    accepted) and its size."""
    holder, other, slug = miner, refinery, "bench-refinery"
    while not stop.is_set():
        for start in range(0, len(pool), 16):
            if stop.is_set():
                return
            chunk = pool[start : start + 16]
            handoffs([(holder, lot) for lot in chunk], other, slug, 8)
            done.append((time.time(), len(chunk)))
        holder, other = other, holder
        slug = "smoke-mine" if slug == "bench-refinery" else "bench-refinery"


def seed(stack: Stack, lots: int) -> dict[str, Any]:
    members = {
        "smoke-mine": json.loads(stack.env["SMOKE_MEMBER"]),
        "bench-mine-2": _member(stack, "bench-mine-2", "MINER"),
        "bench-refinery": _member(stack, "bench-refinery", "MANUFACTURER"),
        "bench-certifier": _member(stack, "bench-certifier", "CERTIFIER"),
        "bench-auditor": _member(stack, "bench-auditor", "AUDITOR"),
    }
    contract = _lots_contract(stack)
    for m in members.values():

        def registered(address: str = m["address"]) -> bool:
            return bool(contract.functions.isRegistered(address).call())

        _wait("registration", registered, deadline_s=120)
    partners = {slug: Partner(stack, m["token"]) for slug, m in members.items()}
    mine, mine2, refinery = (partners[s] for s in ("smoke-mine", "bench-mine-2", "bench-refinery"))
    _wait(
        "ready",
        lambda: mine.session.get(f"{mine.base}/health/ready", timeout=60).ok,
        deadline_s=120,
    )
    began = time.perf_counter()
    made = _register([mine, mine2, refinery], lots)
    print(f"seed: {lots} lots registered in {time.perf_counter() - began:.0f} s", flush=True)
    given = made[mine2][:40]
    handoffs([(mine2, lot) for lot in given], refinery, "bench-refinery", 8)
    products = _transform(refinery, list(zip(given[0:20:2], given[1:20:2], strict=True)), "Cathode")
    assemblies = _transform(
        refinery, list(zip(products[0:6:2], products[1:6:2], strict=True)), "Cell module"
    )
    certified = _certify(partners["bench-certifier"], products[6:] + assemblies)
    print(f"seed: 40 handoffs, {len(products)} products, {len(assemblies)} assemblies from "
          f"them, {certified} certificates", flush=True)  # fmt: skip
    everything = [lot for made_by in made.values() for lot in made_by] + products + assemblies
    return {
        "members": members,
        "mine": mine,
        "refinery": refinery,
        "pool": made[mine],
        "lots": everything,
        "lineage": assemblies + products[6:],
    }


def _report(
    times: dict[str, list[float]],
    failures: dict[str, int],
    server: dict[str, list[float]],
    args: argparse.Namespace,
) -> str:
    for page in PAGES:
        got = times.get(page, [])
        print(f"portal_{page}_p95_ms: {percentile(got, 0.95):.0f} (p50 "
              f"{percentile(got, 0.5):.0f}, {len(got)} requests, {failures.get(page, 0)} "
              f"failures; in gunicorn p95 {percentile(server.get(page, []), 0.95):.0f}, "
              f"p50 {percentile(server.get(page, []), 0.5):.0f})")  # fmt: skip
    every = [t for page in PAGES for t in times.get(page, [])]
    print(f"portal_all_p95_ms: {percentile(every, 0.95):.0f} ({len(every)} requests, "
          f"{len(every) / args.duration:.1f}/s, {args.users} users, think "
          f"{args.think[0]:g}-{args.think[1]:g} s)")  # fmt: skip
    return max(PAGES, key=lambda p: percentile(times.get(p, []) or [0.0], 0.95))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60, help="measured seconds")
    parser.add_argument("--spawn-rate", type=float, default=10, help="users started per second")
    parser.add_argument("--lots", type=int, default=300)
    parser.add_argument("--think", type=float, nargs=2, default=(1.0, 5.0), metavar=("MIN", "MAX"))
    args = parser.parse_args()
    if args.lots < 150:  # a third of them seed the lineage (40), a third the handoff load
        parser.error("--lots: at least 150")
    lift_partner_rate_limit()
    # gunicorn's production default (deploy/production/gunicorn.conf.py), not the smoke's 2
    os.environ.setdefault("WEB_CONCURRENCY", str(2 * (os.cpu_count() or 1) + 1))
    with smoke_stack(keep=False) as stack:
        seeded = seed(stack, args.lots)
        people = _people(
            stack, args.users,
            ["smoke-mine", "bench-mine-2", "bench-refinery", "bench-certifier", "bench-auditor"],
        )  # fmt: skip
        stop, done = threading.Event(), list[tuple[float, int]]()
        load = threading.Thread(
            target=_handoff_load,
            args=(seeded["pool"], seeded["mine"], seeded["refinery"], stop, done),
            daemon=True,
        )
        load.start()
        try:
            times, failures, (began, ended), offsets = browse(
                stack, people, seeded["lots"], seeded["lineage"], args
            )
        finally:
            stop.set()
        load.join(timeout=120)
        stack.check_alive()
        handed = sum(n for at, n in done if began <= at <= ended)
        print(f"handoffs_during_window: {handed} ({handed / (ended - began):.2f}/s, "
              "initiated and accepted, 8 partner clients)")  # fmt: skip
        server = _server_times(stack.logs["web"], *offsets)
        slowest = _report(times, failures, server, args)
        paths = {"dashboard": "/", "lots": "/lots", "sustainability": "/sustainability",
                 "lot_lineage": f"/lots/{seeded['lineage'][-1]}",
                 "passport": f"/passport/{seeded['lots'][0]}"}  # fmt: skip
        client = percentile(times[slowest], 0.95)
        inside = percentile(server.get(slowest, []), 0.95)
        print(f"slowest: {slowest} p95 {client:.0f} ms in the browser, {inside:.0f} ms in "
              f"gunicorn: {max(client - inside, 0):.0f} ms waiting for a worker, TLS and "
              "nginx")  # fmt: skip
        busy = {k: sum(server.get(f"busy:{k}", [])) / 1000 for k in ("pages", "api", "other")}
        capacity = int(stack.env["WEB_CONCURRENCY"]) * (ended - began)
        print(f"gunicorn_busy: {sum(busy.values()):.0f} of {capacity:.0f} worker-seconds "
              f"(pages {busy['pages']:.0f} s in {len(server.get('busy:pages', []))} requests, "
              f"API {busy['api']:.0f} s in {len(server.get('busy:api', []))}, other "
              f"{busy['other']:.0f} s in {len(server.get('busy:other', []))})")  # fmt: skip
        # The operation the handoff clients poll, as its organisation's person (people[0]).
        mine: Partner = seeded["mine"]
        polled = mine.session.get(
            f"{mine.base}/api/v1/operations", params={"page_size": "1"}, timeout=30
        ).json()["results"][0]["id"]
        paths["api_operation"] = f"/api/v1/operations/{polled}"
        # Each page alone, after the load, as the auditor's person (people[4]): its pages
        # cover the whole consortium.
        for page, path in paths.items():
            probe = _probe(stack, path, people[0 if page == "api_operation" else 4 % len(people)])
            print(f"alone_{page}: {path} {probe['status']} {probe['total_ms']:.0f} ms, "
                  f"{probe['statements']} SQL statements in {probe['sql_ms']:.0f} ms; most "
                  f"repeated {probe['repeated']}; slowest statement {probe['slowest']}; "
                  f"own time per request (ms) {probe['own_ms']}")  # fmt: skip


if __name__ == "__main__":
    main()
