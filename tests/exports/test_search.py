"""The search index and GET /api/v1/search, over hand-built projections: what a caller
finds (within what it may see), facets and their counts, bad input, sealed personal data,
the consumer's rollback and the resumable reindex."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from contracts.chain.domain import Role
from tests.webapp.lineage import CERTIFIER, CHAIN, MINE, REFINERY, Graph, block_time
from webapp.chain.models import ChainEvent
from webapp.exports.search import index
from webapp.exports.search.consumers import SearchIndexConsumer
from webapp.exports.search.models import ReindexCursor, SearchEntry
from webapp.lots.models import LotMetadata
from webapp.organisations.models import Organisation
from webapp.organisations.services import api_token_create

pytestmark = pytest.mark.django_db

EMAIL = "jane.doe@example.org"


def _event(number: int, log: int, name: str, **args: Any) -> ChainEvent:
    return ChainEvent.objects.create(
        chain_id=CHAIN,
        block_number=number,
        block_hash=f"0x{number:064x}",
        block_timestamp=block_time(number),
        transaction_hash=f"0x{number:02x}{log:062x}",
        transaction_index=0,
        log_index=log,
        contract="LotRegistry",
        address=MINE,
        event=name,
        args=args,
        content_hash="0x" + "00" * 32,
        running_hash="0x" + "00" * 32,
    )


@pytest.fixture
def world(settings: Any) -> dict[str, Any]:
    settings.CHAIN_ID = CHAIN
    mine = Organisation.objects.create(slug="mine", name="Kolwezi Mine", address=MINE)
    refinery = Organisation.objects.create(
        slug="refinery", name="Lualaba Refinery", address=REFINERY
    )
    auditor = Organisation.objects.create(
        slug="auditor", name="Audit Partners", address="0x" + "55" * 20, roles=int(Role.AUDITOR)
    )
    Organisation.objects.create(slug="certifier", name="Certifier Ltd", address=CERTIFIER)
    graph = Graph()
    graph.lot(1, 100, block=1, holder=MINE)
    graph.lot(2, 50, block=2, holder=REFINERY)
    LotMetadata.objects.create(
        chain_id=CHAIN,
        lot_id=1,
        document={
            "name": "Cobalt hydroxide",
            "unit": "kg",
            "batch": "KOL-2026-07",
            "description": "Artisanal-free concentrate",
            "personal": {"email": "0x" + "ab" * 32},
        },
        metadata_hash="0x" + "00" * 32,
        gs1_key="(01)09506000134352(10)KOL-2026-07",
    )
    LotMetadata.objects.create(
        chain_id=CHAIN,
        lot_id=2,
        document={"name": "Secret cobalt alloy", "unit": "kg", "batch": "LUA-9"},
        metadata_hash="0x" + "00" * 32,
        gs1_key="(01)09506000999999(10)LUA-9",
    )
    graph.certify(1, block=3, kind="CARBON_FOOTPRINT")
    graph.certify(2, block=4, kind="RESPONSIBLE_SOURCING", revoked_at=5)
    events = [_event(1, 1, "LotRegistered", lotId="1"), _event(2, 1, "LotRegistered", lotId="2")]
    call_command("reindex_search", verbosity=0)
    return {"mine": mine, "refinery": refinery, "auditor": auditor, "events": events}


def client_for(organisation: Organisation) -> Client:
    token, _ = api_token_create(organisation=organisation, name="search")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def search(caller: Organisation, **params: Any) -> Any:
    response = client_for(caller).get("/api/v1/search", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_finds_a_lot_by_name_gtin_batch_and_partial_id(world: dict[str, Any]) -> None:
    for q in ["cobalt hydroxide", "09506000134352", "kol-2026", "0134352"]:
        body = search(world["mine"], q=q, type="lot")
        assert [(r["type"], r["key"]) for r in body["results"]] == [("lot", "1")], q
        assert body["results"][0]["link"] == "/lots/1"


def test_another_organisations_private_lot_is_not_found(world: dict[str, Any]) -> None:
    assert search(world["mine"], q="secret")["count"] == 0
    assert search(world["mine"], q="LUA-9")["count"] == 0
    found = search(world["refinery"], q="secret")
    assert {r["type"] for r in found["results"]} == {"lot"}
    # The auditor sees every lot, and the event history of every lot.
    keys = {(r["type"], r["key"]) for r in search(world["auditor"], q="LUA-9")["results"]}
    assert ("lot", "2") in keys


def test_facets_count_per_value_and_filter(world: dict[str, Any]) -> None:
    body = search(world["auditor"], q="cobalt")
    assert body["facets"]["type"] == {"lot": 2}
    assert body["facets"]["status"] == {"active": 2}
    assert body["facets"]["organisation"] == {"mine": 1, "refinery": 1}
    only = search(world["auditor"], q="cobalt", organisation="refinery")
    assert [r["key"] for r in only["results"]] == ["2"]
    # The type facet still counts the other values under the organisation filter.
    assert only["facets"]["organisation"] == {"mine": 1, "refinery": 1}
    certificates = search(world["auditor"], q="responsible sourcing")
    assert certificates["facets"]["status"] == {"revoked": 1}
    assert search(world["auditor"], q="responsible sourcing", status="valid")["count"] == 0


def test_date_range_and_pages(world: dict[str, Any]) -> None:
    day = block_time(1).date().isoformat()
    body = search(world["auditor"], q="LotRegistered", type="event", **{"from": day, "to": day})
    assert [r["key"] for r in body["results"]] == ["1:1"]
    both = search(world["auditor"], q="LotRegistered", page_size=1, page=2)
    assert both["count"] == 2
    assert len(both["results"]) == 1


def test_past_the_match_cap_counts_are_lower_bounds_and_a_facet_looks_again(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from webapp.exports.search import selectors

    monkeypatch.setattr(selectors, "MATCH_CAP", 1)
    body = search(world["auditor"], q="cobalt")
    assert (body["count"], body["count_is_lower_bound"]) == (1, True)
    assert sum(body["facets"]["type"].values()) == 1
    # narrowed to one organisation, the one match there is found whatever came first
    for slug, key in [("mine", "1"), ("refinery", "2")]:
        narrowed = search(world["auditor"], q="cobalt", organisation=slug)
        assert [r["key"] for r in narrowed["results"]] == [key]
        assert narrowed["count_is_lower_bound"] is False
    monkeypatch.setattr(selectors, "MATCH_CAP", 1000)
    assert search(world["auditor"], q="cobalt")["count_is_lower_bound"] is False


def test_organisations_are_found_by_everyone(world: dict[str, Any]) -> None:
    body = search(world["mine"], q="lualaba")
    assert [(r["type"], r["key"]) for r in body["results"]] == [("organisation", "refinery")]


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"q": "x" * 201}, "longer than 200"),
        ({"q": ""}, "q is required"),
        ({"q": "a\x07b"}, "control characters"),
        ({"q": "a", "from": "2026-13-01"}, "should be a date"),
        ({"q": "a", "from": "2026-02-01", "to": "2026-01-01"}, "from is after to"),
        ({"q": "a", "type": "widget"}, "type should be one of"),
        ({"q": "a", "status": "lost"}, "status should be one of"),
        ({"q": "a", "colour": "red"}, "Unknown parameter 'colour'"),
        ({"q": "a", "page_size": "1000"}, "page_size should be"),
    ],
)
def test_bad_input_is_a_400_with_a_reason(
    world: dict[str, Any], params: dict[str, str], reason: str
) -> None:
    response = client_for(world["mine"]).get("/api/v1/search", params)
    assert response.status_code == 400
    assert reason in response.content.decode()


def test_search_needs_a_caller() -> None:
    assert Client().get("/api/v1/search", {"q": "cobalt"}).status_code in (401, 403)


def test_sealed_personal_data_is_never_indexed_nor_found_after_forgetting(
    world: dict[str, Any],
) -> None:
    stored = " ".join(SearchEntry.objects.values_list("body", flat=True))
    assert EMAIL not in stored
    assert "ab" * 32 not in stored
    assert search(world["auditor"], q="jane.doe")["count"] == 0
    # Forgetting the subject removes the key; the index held nothing to remove.
    call_command("reindex_search", verbosity=0)
    assert search(world["auditor"], q=EMAIL)["count"] == 0


def test_rollback_removes_events_and_things_above_the_kept_block(world: dict[str, Any]) -> None:
    consumer = SearchIndexConsumer()
    event = _event(6, 1, "LotQuarantined", lotId="1", reason="contaminated")
    consumer.apply([event], chain_id=CHAIN)
    assert search(world["auditor"], q="contaminated")["count"] == 1
    consumer.rollback(5, chain_id=CHAIN)
    assert search(world["auditor"], q="contaminated")["count"] == 0
    # The lot itself is still found (it was registered below the kept block).
    assert search(world["mine"], q="hydroxide")["count"] == 1


def test_reindex_resumes_after_a_kill(world: dict[str, Any]) -> None:
    SearchEntry.objects.all().delete()
    ReindexCursor.objects.create(kind="organisation", done=True)
    ReindexCursor.objects.create(kind="lot", last="1")
    call_command("reindex_search", verbosity=0, batch=1)
    kinds = set(SearchEntry.objects.values_list("kind", "key"))
    # Organisations were done before the kill and lot 1 was written: they are not redone.
    assert ("organisation", "mine") not in kinds
    assert ("lot", "1") not in kinds
    assert ("lot", "2") in kinds
    assert ("event", "1:1") in kinds
    assert not ReindexCursor.objects.exists()
    call_command("reindex_search", verbosity=0)
    assert SearchEntry.objects.filter(kind="organisation").count() == 4


def test_a_running_reindex_shows_its_progress_per_kind(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, int, int]] = []
    real = index.index_lots

    def watched(lot_ids: Any, **kwargs: Any) -> int:
        cursor = ReindexCursor.objects.get(kind="lot")  # what the admin's line shows
        seen.append((cursor.kind, cursor.indexed, cursor.total))
        return real(lot_ids, **kwargs)

    monkeypatch.setattr(index, "index_lots", watched)
    call_command("reindex_search", verbosity=0, batch=1, kind=["lot"])
    total = seen[0][2]
    assert total >= 2
    assert seen == [("lot", done, total) for done in range(total)]


def test_organisation_renames_reach_the_index(world: dict[str, Any]) -> None:
    refinery = world["refinery"]
    refinery.name = "Kamoto Refinery"
    refinery.save()
    index.index_organisations([refinery])
    assert search(world["mine"], q="kamoto")["count"] == 1


def test_documents_are_found_by_name_and_hash_by_their_uploader_only(
    world: dict[str, Any], settings: Any, tmp_path: Any
) -> None:
    from webapp.documents.services import document_upload

    settings.MEDIA_ROOT = tmp_path
    report = document_upload(
        organisation=world["mine"],
        name="Assay report Kolwezi.pdf",
        content=b"%PDF assay of the ore",
        content_type="application/pdf",
    )
    body = search(world["mine"], q="assay")
    assert [(r["type"], r["title"]) for r in body["results"]] == [
        ("document", "Assay report Kolwezi.pdf")
    ]
    assert body["results"][0]["link"] == f"/documents/{report.sha256}"
    assert search(world["mine"], q=report.sha256[:16], type="document")["count"] == 1
    assert search(world["refinery"], q="assay")["count"] == 0  # another member's document
    assert search(world["auditor"], q="assay")["count"] == 1
    assert search(world["mine"], q="ore")["count"] == 0  # the content is never indexed
    report.delete()
    assert search(world["mine"], q="assay")["count"] == 0
