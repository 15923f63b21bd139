"""The demo's seed and simulator tell the story of issue "Demo" on a real chain: the seed
leaves the refrigerated pallet in an open handoff from the distributor to the retailer;
a quarantine of a lot on it (what the simulator's excursion sets off) makes the chain
refuse the retailer's acceptance; once ColdChain Sensors lifts it the acceptance goes
through; and the seed stays idempotent afterwards. The web app's half of the story
(refusal before signing, the quality manager's clearing) is tests/webapp/test_demo_story.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from web3.logs import DISCARD

from deploy.local import seed as demo
from deploy.local import simulator
from tests.contracts.consortium import Consortium


@pytest.mark.unit
def test_the_door_opens_about_a_minute_in_and_again_every_cycle() -> None:
    warm = [t for t in range(0, 1200, 3) if simulator.temperature(t, 600) > 8]
    assert 55 <= warm[0] <= 65
    assert all(simulator.temperature(t, 600) < 8 for t in range(0, 55, 3))
    first = [t for t in warm if t < 600]
    assert first[-1] - first[0] >= simulator.RULE_DURATION_S + 30  # long enough to breach
    assert any(600 <= t < 700 for t in warm)  # a later visitor sees it too
    assert simulator.temperature(10, 600, opens_at=0) > 8  # --door-opens-at


def test_the_seeded_pallet_waits_for_the_retailer_and_a_quarantine_stops_it(
    anvil_consortium: Consortium, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROVENANT_DATA_DIR", str(tmp_path))
    c = anvil_consortium
    lots = c.system.lots
    said = demo.seed(c.w3, c.admin, c.system)
    assert "waiting for the retailer to accept it" in said[-1]

    dist, shop = demo.org_key("eurologistics"), demo.org_key("city-electronics")
    sensors = demo.org_key("coldchain-sensors")
    (initiated, *_) = reversed(lots.events.HandoffInitiated().get_logs(from_block=0))
    handoff = int(initiated["args"]["handoffId"])
    assert int(initiated["args"]["lotId"]) == demo.PALLET
    assert lots.functions.counts().call()[0] == demo.SEEDED_HANDOFFS
    assert lots.functions.balanceOf(shop.address, demo.PALLET).call() == 0
    assert lots.functions.balanceOf(dist.address, demo.PALLET).call() == 0
    accept = lots.functions.acceptHandoff(handoff, demo.PALLET, dist.address, shop.address)

    # The simulator's excursion: ColdChain Sensors (REPORTER) quarantines a lot on the pallet.
    c.act(sensors, lots.functions.setQuarantine(simulator.LOTS[0], "above 8 °C for 1 min"))
    refused = c.reverts(shop, accept)
    assert (refused.name, refused.error.args) == ("LotQuarantined", {"lotId": simulator.LOTS[0]})
    assert lots.functions.balanceOf(shop.address, demo.PALLET).call() == 0

    c.act(sensors, lots.functions.clearQuarantine(simulator.LOTS[0], "door closed; probe 4 °C"))
    receipt = c.act(shop, accept)
    (accepted,) = lots.events.HandoffAccepted().process_receipt(receipt, errors=DISCARD)
    assert int(accepted["args"]["handoffId"]) == handoff
    assert lots.functions.balanceOf(shop.address, demo.PALLET).call() == 1

    head = c.w3.eth.block_number
    assert demo.seed(c.w3, c.admin, c.system) == []  # a seeded chain is left alone
    assert c.w3.eth.block_number == head
