"""The public passport tells the truth in words: its title names the product once, each
transformation is described once, what the figures rest on is said in plain words (no
internal ids), the chain of custody covers everything the product is made of from the mine
on, an unknown passport gets a helpful 404 even with DEBUG on, and the page reads on a
phone (see test_passport_browser.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from tests.webapp.network import Network
from tests.webapp.test_provenance_flow import done, hand, product
from webapp.chain.models import ChainEvent
from webapp.lots.services import Output, bundle_create, bundle_unpack, transformation_record
from webapp.passport.selectors import (
    StoryStep,
    certificate_label,
    passport_title,
    story_shortened,
)
from webapp.projections.models import TransformationEdge

__all__ = ["product"]  # fixture used below

ROOT = Path(__file__).resolve().parents[2]


def _text(html: str) -> str:
    """What a reader sees: tags dropped, entities decoded, white space collapsed."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def _section(html: str, element_id: str) -> str:
    found = html.index(f'id="{element_id}"')
    name = html[html.rfind("<", 0, found) + 1 : found].split()[0]
    start = html.index(">", found) + 1
    return html[start : html.index(f"</{name}>", start)]


def _items(html: str) -> list[str]:
    return [_text(li) for li in re.findall(r"<li\b[^>]*>(.*?)</li>", html, flags=re.DOTALL)]


@pytest.mark.unit
def test_the_title_names_the_product_and_its_id_once() -> None:
    assert passport_title(name="Pallet", lot_id=7) == "Pallet · lot 7"
    assert passport_title(name="Pallet 401", lot_id=401) == "Pallet 401"
    assert passport_title(name="Pallet 401", lot_id=1006) == "Pallet 401 · lot 1006"
    assert passport_title(name="Lot 40", lot_id=401) == "Lot 40 · lot 401"
    assert passport_title(name="  ", lot_id=9) == "Lot 9"
    assert certificate_label("0x" + b"QUALITY".ljust(32, b"\0").hex()) == "Quality certificate"


@pytest.mark.unit
def test_a_long_story_keeps_where_the_material_came_from_and_where_the_product_is() -> None:
    steps = [
        StoryStep("handed", datetime(2026, 12, 2, tzinfo=UTC), "Mine", [], position=(i, 0))
        for i in range(10)
    ]
    assert story_shortened(steps, 10) == (steps, None)
    shown, gap_after = story_shortened(steps, 4)
    assert [s.position[0] for s in shown] == [0, 1, 8, 9]
    assert gap_after == 2
    # Events not read before step 7: the gap is there even when all steps fit.
    assert story_shortened(steps, 10, split=7) == (steps, 7)
    shown, gap_after = story_shortened(steps, 6, split=7)
    assert [s.position[0] for s in shown] == [0, 1, 2, 7, 8, 9]
    assert gap_after == 3
    shown, gap_after = story_shortened(steps, 6, split=9)  # one late step: more early ones
    assert [s.position[0] for s in shown] == [0, 1, 2, 3, 4, 9]
    assert gap_after == 5


@pytest.mark.unit
def test_no_passport_template_loads_the_portal_tag_library() -> None:
    loads = re.compile(r"{%\s*load\s+([^%]*)%}")
    for template in (ROOT / "webapp/passport/templates").rglob("*.html"):
        for libraries in loads.findall(template.read_text()):
            assert "portal" not in libraries.split(), template


@pytest.mark.integration
@pytest.mark.django_db
def test_an_unknown_or_invalid_passport_id_gets_a_helpful_404_even_with_debug_on(
    settings: Any,
) -> None:
    settings.DEBUG = True
    public = Client()
    for code in ("999999", "abc", "12ab", "9" * 100, "5/extra", ""):
        response = public.get(f"/passport/{code}")
        assert response.status_code == 404, code
        html = response.content.decode()
        assert "Check the code on the label" in html, code
        assert "URLconf" not in html, code  # not Django's debug page with the URL list
        assert "urlpatterns" not in html, code
    typed = public.get("/passport/999999/")  # a slash typed after the id
    assert typed.status_code == 302
    assert typed["Location"] == "/passport/999999"
    page = public.get("/passport/999999").content.decode()
    assert "No product passport with id 999999" in _text(page)
    evidence = public.get("/passport/999999/evidence.json")
    assert evidence.status_code == 404
    assert b"Check the code on the label" in evidence.content


@pytest.mark.integration
@pytest.mark.django_db
def test_the_site_wide_error_pages_are_plain_and_useful(settings: Any) -> None:
    settings.DEBUG = False
    response = Client().get("/no-such-page")
    assert response.status_code == 404
    text = _text(response.content.decode())
    assert "/no-such-page" in text
    assert "Verify a proof" in text
    assert "check the code on the label" in text
    assert "Traceback" not in text


@pytest.mark.integration
@pytest.mark.node
@pytest.mark.django_db(transaction=True)
def test_the_passport_reads_in_words_and_tells_the_whole_upstream_custody(
    product: dict[str, Any],
) -> None:
    p = product["p"]
    html = Client().get(f"/passport/{p}").content.decode()
    title = _text(_section(html, "passport-title"))
    assert title == f"Pallet · lot {p}"
    words = title.lower().replace("·", " ").split()
    assert len(words) == len(set(words))  # nothing said twice ("Pallet 401 401")
    assert f"<title>Pallet · lot {p} · product passport" in html

    # One transformation, said once, in words: what went in and what came out, by whom.
    made = _items(_section(html, "transformations"))
    assert len(made) == 1
    assert "Made through 1 transformation:" in _text(html)
    assert made[0].startswith(
        "Ore A (800 g) and Ore B (400 g) → Cobalt (600 g), by Nordic Refinery"
    )

    # What the figures rest on, without internal ids.
    built_on = _items(_section(html, "built-on"))
    assert not any(re.search(r"(certificate|transformation):\d", item) for item in built_on)
    assert any(
        item.startswith("Carbon footprint certificate for Ore A from Trust Certification")
        and "valid until" in item
        for item in built_on
    ), built_on
    assert any(
        item.startswith("Transformation at Nordic Refinery on ")
        and "Ore A and Ore B → Cobalt" in item
        for item in built_on
    ), built_on
    assert "certificate:" not in _text(html)
    assert "4 kg CO2e per bundle" in _text(_section(html, "footprint"))

    # The chain of custody: from the mine to the distributor, in order, each with a date.
    timeline = _section(html, "custody-timeline")
    steps = _items(timeline)
    expected = [
        "Katanga Cobalt Mine registered Ore A (1 kg)",
        "Katanga Cobalt Mine registered Ore B (500 g)",
        "Katanga Cobalt Mine handed Ore A (1 kg) to Nordic Refinery",
        "Katanga Cobalt Mine handed Ore B (500 g) to Nordic Refinery",
        "Nordic Refinery turned Ore A (800 g) and Ore B (400 g) into Cobalt (600 g)",
        "Nordic Refinery packed Cobalt (600 g) into Pallet",
        "Nordic Refinery handed Pallet (1 bundle) to EuroLogistics",
    ]
    assert len(steps) == len(expected), steps
    for step, says in zip(steps, expected, strict=True):
        assert says in step, (step, says)
        assert re.match(r"\d{1,2} [A-Z][a-z]{2} \d{4} ", step), step  # "2 Dec 2026 ..."
    assert timeline.count("<time ") == len(expected)
    assert timeline.count("/proofs/") == len(expected)  # each step links to its proof
    assert "custody-gap" not in html


@pytest.mark.integration
@pytest.mark.node
@pytest.mark.django_db(transaction=True)
def test_a_story_too_long_for_the_page_keeps_its_beginning_and_its_end(
    product: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    p = product["p"]
    monkeypatch.setattr("webapp.passport.selectors.MAX_STORY_STEPS", 4)
    steps = _items(_section(Client().get(f"/passport/{p}").content.decode(), "custody-timeline"))
    assert len(steps) == 5
    assert "Katanga Cobalt Mine registered Ore A" in steps[0]
    assert "Katanga Cobalt Mine registered Ore B" in steps[1]
    assert steps[2].startswith("More steps happened here")
    assert "Nordic Refinery packed Cobalt" in steps[3]
    assert "Nordic Refinery handed Pallet (1 bundle) to EuroLogistics" in steps[4]

    # Too many events to read: the first and the last are read, none is made up in between
    # (the ore's handoffs were offered before the gap and accepted inside it).
    monkeypatch.setattr("webapp.passport.selectors.MAX_STORY_STEPS", 200)
    monkeypatch.setattr("webapp.passport.selectors.MAX_STORY_EVENTS", 6)
    steps = _items(_section(Client().get(f"/passport/{p}").content.decode(), "custody-timeline"))
    undated = [s if s.startswith("More") else s.split(" ", 3)[3] for s in steps]
    assert [s.split(" (")[0] for s in undated] == [
        "Katanga Cobalt Mine registered Ore A",
        "Katanga Cobalt Mine registered Ore B",
        "More steps happened here; this page leaves them out to stay short.",
        "Nordic Refinery packed Cobalt",
        "Nordic Refinery handed Pallet",
    ]


@pytest.mark.integration
@pytest.mark.node
@pytest.mark.django_db(transaction=True)
def test_a_transformation_with_several_outputs_is_told_once_and_later_custody_is_left_out(
    product: dict[str, Any],
) -> None:
    net: Network = product["net"]
    a, b = product["a"], product["b"]
    refinery = net.orgs["refinery"]
    done(
        net,
        transformation_record(
            organisation=refinery,
            inputs=[(a, 150), (b, 50)],
            process="fab run 2",
            outputs=[
                Output(name="Chip X", quantity=3, unit="pcs"),
                Output(name="Chip Y", quantity=2, unit="pcs"),
            ],
        ),
    )
    second = ChainEvent.objects.filter(event="LotsTransformed").order_by("-block_number").first()
    assert second is not None
    outputs = sorted(
        {
            int(edge.output_lot)
            for edge in TransformationEdge.objects.filter(
                transformation_id=second.args["transformationId"]
            )
        }
    )
    x, y = outputs
    case = int(
        done(net, bundle_create(organisation=refinery, items=[(x, 3), (y, 2)], name="Case")).lot_id
        or 0
    )
    hand(net, "refinery", "distributor", case, 1)
    # After the ore was used, what is left of it moves on: not part of the case's story.
    hand(net, "refinery", "retailer", a, 50)

    html = Client().get(f"/passport/{case}").content.decode()
    made = _items(_section(html, "transformations"))
    assert made == [made[0]]  # two outputs, one transformation: told once
    assert "→ Chip X (3 pcs) and Chip Y (2 pcs), by Nordic Refinery" in made[0]
    steps = _items(_section(html, "custody-timeline"))
    told = [step.split(" ", 3)[3] for step in steps]  # without the date
    assert told[-3].startswith("Nordic Refinery turned Ore A (150 g) and Ore B (50 g) into")
    assert told[-2].startswith("Nordic Refinery packed Chip X (3 pcs) and Chip Y (2 pcs) into Case")
    assert told[-1].startswith("Nordic Refinery handed Case (1 bundle) to EuroLogistics")
    assert not any("City Electronics" in s for s in steps), steps
    assert not any("Cobalt (" in s for s in steps), steps  # a sibling product's history

    # Chip X travelled inside the case: the case's journey is part of the chip's custody.
    done(net, bundle_unpack(organisation=net.orgs["distributor"], bundle_id=case))
    html = Client().get(f"/passport/{x}").content.decode()
    made = _items(_section(html, "transformations"))
    assert len(made) == 1
    assert "→ Chip X (3 pcs) plus 1 other lot, by Nordic Refinery" in made[0]
    told = [step.split(" ", 3)[3] for step in _items(_section(html, "custody-timeline"))]
    assert told[0].startswith("Katanga Cobalt Mine registered Ore A (1 kg)")
    assert told[-4].startswith("Nordic Refinery turned Ore A (150 g) and Ore B (50 g) into Chip X")
    assert told[-3].startswith("Nordic Refinery packed Chip X (3 pcs) and Chip Y (2 pcs) into Case")
    assert told[-2].startswith("Nordic Refinery handed Case (1 bundle) to EuroLogistics")
    assert told[-1].startswith("EuroLogistics unpacked Case")
    assert not any("City Electronics" in s for s in told), told
