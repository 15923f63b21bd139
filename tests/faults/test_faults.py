"""Faults under load (`pytest -m faults`): while partners write through the API, a part of
the site fails; then the load finishes and `checks.settled` proves nothing was lost,
stuck or done twice. Each test prints how long the site took to recover: from the fault's
end until every operation accepted before it was final (confirmed or failed with a
reason).

The site (`site.py`) is private: its own PostgreSQL cluster, Redis, chain node, Key Vault
server and SoftHSM2 token on free ports, so nothing here touches the machine's services.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable, Iterator

import pytest

from deploy.production.smoke import BIN
from tests.faults.checks import SETTLE_DEADLINE_S, Outcome, settled
from tests.faults.load import Ledger, steady_load
from tests.faults.site import SENDERS, WORKERS, Site, fault_site, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.node]

#: How long the node and the key stores stay away (the issue's 30 s).
OUTAGE_S = 30.0
WARMUP_S = 3.0


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    with fault_site() as running:
        yield running


def _final(site: Site, operations: list[str]) -> bool:
    ((open_,),) = site.sql(
        "SELECT count(*) FROM operations_operation WHERE id::text = ANY(%s)"
        " AND status NOT IN ('confirmed', 'failed')",
        operations,
    )
    return open_ == 0


def under_load(
    site: Site,
    name: str,
    fault: Callable[[Ledger], None],
    capsys: pytest.CaptureFixture[str],
    record_property: Callable[[str, object], None],
    *,
    expected: str = "",
    after_s: float = 2.0,
) -> Outcome:
    """Run `fault` (it returns once the part is back) under steady load; check; report.
    `expected`: a pattern the refusals and failures this fault may legitimately cause
    match (each must still say why). `after_s`: how long the load goes on once the
    operations accepted before recovery are final (a short fault needs a longer tail for
    the load to show the recovered site at work)."""
    ledger = Ledger()
    with steady_load(site, ledger):
        time.sleep(WARMUP_S)
        fault(ledger)
        ended = time.monotonic()
        before = list(ledger.accepted)
        wait_for(
            f"{name}: the operations accepted before recovery final",
            lambda: _final(site, before),
            deadline_s=SETTLE_DEADLINE_S,
        )
        recovered = time.monotonic() - ended
        time.sleep(after_s)  # the load goes on a while on the recovered site
    outcome = settled(site, ledger, ended)
    line = (
        f"fault {name}: recovered in {recovered:.1f} s; {len(ledger.accepted)} operations"
        f" accepted ({len(before)} before recovery), {outcome.confirmed} confirmed,"
        f" {len(outcome.failed)} failed; {ledger.retried} requests sent again,"
        f" {len(ledger.refused)} refused"
    )
    record_property("fault_recovery", line)  # the run's summary lists them
    with capsys.disabled():
        print(f"\n{line}")
    refused = [r for r in ledger.refused if not (expected and re.search(expected, r))]
    assert not refused, f"the API refused the load's requests: {refused[:3]}"
    assert len(ledger.accepted) > 10, "the load hardly ran"
    failed = [f for f in outcome.failed.values() if not (expected and re.search(expected, f))]
    assert not failed, f"operations failed: {failed[:3]}"
    outcome.recovered_s = recovered
    return outcome


def test_a_worker_killed_while_signing_and_sending(
    site: Site,
    capsys: pytest.CaptureFixture[str],
    record_property: Callable[[str, object], None],
) -> None:
    def kill(ledger: Ledger) -> None:
        for _ in range(2):
            # just after it took a submission: in the middle of signing and sending
            seen = site.log("submission-1").count("submit_operation")
            wait_for(
                "a submission on worker 1",
                lambda seen=seen: site.log("submission-1").count("submit_operation") > seen,
                deadline_s=120,
            )
            site.signal("submission-1", signal.SIGKILL)
            time.sleep(1.0)
            site.restart_workers(["submission-1"])

    under_load(site, "worker killed (SIGKILL, twice)", kill, capsys, record_property)


def test_redis_restarted_empty(
    site: Site,
    capsys: pytest.CaptureFixture[str],
    record_property: Callable[[str, object], None],
) -> None:
    def restart(ledger: Ledger) -> None:
        site.signal("redis", signal.SIGKILL)  # no persistence: it comes back empty
        time.sleep(2.0)
        site.restart("redis")

    under_load(site, "Redis restarted and emptied", restart, capsys, record_property)


def test_postgresql_restarted(
    site: Site,
    capsys: pytest.CaptureFixture[str],
    record_property: Callable[[str, object], None],
) -> None:
    def restart(ledger: Ledger) -> None:
        site.postgres("stop", "-m", "fast")
        time.sleep(3.0)
        site.postgres("start")

    under_load(site, "PostgreSQL restarted", restart, capsys, record_property, after_s=8.0)


def test_the_node_away_for_30_seconds(
    site: Site,
    capsys: pytest.CaptureFixture[str],
    record_property: Callable[[str, object], None],
) -> None:
    def away(ledger: Ledger) -> None:
        site.signal("anvil", signal.SIGTERM)  # anvil writes its state file on SIGTERM
        time.sleep(OUTAGE_S)
        site.node_start()

    under_load(site, f"chain node stopped {OUTAGE_S:.0f} s", away, capsys, record_property)


def test_every_key_store_unavailable_for_30_seconds(
    site: Site,
    capsys: pytest.CaptureFixture[str],
    record_property: Callable[[str, object], None],
) -> None:
    """The keystore's passphrase wrong (the submission workers restarted with a typo), the
    HSM token removed, the Key Vault server down: each mine's operations wait with the
    reason, then go out once their store is back."""
    tokens = site.hsm_tokens()
    removed = tokens.with_name("tokens-removed")

    def away(ledger: Ledger) -> None:
        site.signal("keyvault", signal.SIGTERM)
        tokens.rename(removed)
        tokens.mkdir()
        typo = {**site.env, "PROVENANT_KEYSTORE_PASSPHRASE": "not-the-site-passphrase-at-all"}
        try:
            for name in SUBMISSION:
                site.signal(name, signal.SIGTERM)
            site.restart_workers(SUBMISSION, typo)
            began = time.monotonic()
            wait_for(
                "every mine's operations waiting for its key store",
                lambda: set(SENDERS) <= _waiting_for_key_store(site),
                deadline_s=OUTAGE_S + 60,
            )
            time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - began)))
        finally:
            tokens.rmdir()
            removed.rename(tokens)
            site.restart("keyvault")
            wait_for(
                "the Key Vault server",
                lambda: site.log("keyvault").count("url=") >= 2,
                deadline_s=60,
            )
            for name in SUBMISSION:
                site.signal(name, signal.SIGTERM)
            site.restart_workers(SUBMISSION)

    under_load(site, f"key stores unavailable {OUTAGE_S:.0f} s", away, capsys, record_property)


SUBMISSION = [name for name in WORKERS if name.startswith("submission")]


def _waiting_for_key_store(site: Site) -> set[str]:
    """The organisations with an operation waiting because its key store failed."""
    rows = site.sql(
        "SELECT DISTINCT o.slug FROM operations_operation op JOIN organisations_organisation o"
        " ON o.id = op.organisation_id WHERE op.status = 'queued'"
        " AND op.waiting_reason LIKE 'key store unavailable%'"
    )
    return {slug for (slug,) in rows}


def test_a_depth_3_reorganisation(
    site: Site,
    capsys: pytest.CaptureFixture[str],
    record_property: Callable[[str, object], None],
) -> None:
    def reorg(ledger: Ledger) -> None:
        w3 = site.web3()
        for _ in range(2):
            wait_for("transactions in the last blocks", lambda: _busy(site), deadline_s=30)
            w3.provider.make_request("anvil_reorg", [3, []])  # type: ignore[arg-type]
            time.sleep(3.0)

    # A handoff the reorganisation took off the chain can no longer be accepted: the
    # receiver is told so (and its handoff, once mined again, is offered afresh).
    under_load(
        site,
        "depth-3 reorganisation (twice)",
        reorg,
        capsys,
        record_property,
        expected=r"Handoff \d+ (is no longer open|does not exist)",
    )


def _busy(site: Site) -> bool:
    w3 = site.web3()
    head = w3.eth.block_number
    return sum(len(w3.eth.get_block(n)["transactions"]) for n in range(head - 2, head + 1)) > 0


RACE = """
import time
import django
django.setup()
from webapp.operations.models import Operation
from workers.tasks import submit_operation
for _ in range(5):
    for operation in Operation.objects.filter(status="queued").values_list("id", flat=True):
        submit_operation.delay(str(operation))
        submit_operation.delay(str(operation))
    time.sleep(1)
"""


def test_two_workers_racing_for_the_same_operations(
    site: Site,
    capsys: pytest.CaptureFixture[str],
    record_property: Callable[[str, object], None],
) -> None:
    def race(ledger: Ledger) -> None:
        # Every queued operation's task goes out twice more: both workers take them.
        site.run([str(BIN / "python"), "-c", RACE])

    name = "two workers racing (every task sent three times)"
    under_load(site, name, race, capsys, record_property)
