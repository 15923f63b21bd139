"""Property-based: a logged-in member posting random, oversized, out-of-range and
wrong-type values to every portal form gets the form back with errors (or a 4xx), never a
server error, and a refused form queues nothing."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.webapp.network import PASSWORD, Network
from tests.webapp.test_provenance_flow import done
from webapp.lots.services import lot_register
from webapp.operations.models import Operation
from webapp.organisations.services import member_invite

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]

FORMS: dict[str, list[str]] = {
    "/lots/new": [
        "name", "quantity", "unit", "kind", "description", "gtin", "batch",
        "co2e_g_per_unit", "recycled_permille", "idempotency_key",
    ],
    "/handoffs/new": ["lot_id", "receiver", "quantity", "idempotency_key"],
    "/handoffs/1/reject": ["reason", "idempotency_key"],
    "/handoffs/1/cancel": ["idempotency_key"],
    "/bundles/new": [
        "name", "sscc", "lot_1", "quantity_1", "lot_2", "quantity_2", "rows", "add_row",
        "idempotency_key",
    ],
    "/transformations/new": [
        "process", "lot_1", "quantity_1", "lot_4", "quantity_4", "rows", "add_row",
        "output_name", "output_quantity", "output_unit", "output_kind",
        "co2e_g_per_unit", "recycled_permille", "idempotency_key",
    ],
    "/settings/acceptance-policy": ["certificate_type", "idempotency_key"],
    "/settings/time-zone": ["time_zone"],
    "/certificates/new": [
        "lot_id", "certificate_type", "valid_from", "valid_until", "co2e_g_per_unit",
        "recycled_permille", "idempotency_key",
    ],
    "/certificates/1/revoke": ["reason", "idempotency_key"],
}  # fmt: skip
FILE_FIELDS = {"/lots/new": "document", "/certificates/new": "document"}
#: Who posts each form: an organisation whose roles allow it (an admin, for the settings),
#: so the form itself is exercised rather than the role check.
POSTER = {"/certificates/new": "certifier", "/certificates/1/revoke": "certifier"}

big_numbers = st.integers(min_value=-(2**300), max_value=2**300).map(str)
odd_values = st.sampled_from(
    [
        "", " ", "²", "١٢٣", "\uff11\uff12", "-1", "0", "1e309", "NaN", "0001-01-01", "9999-12-31",
        "1970-01-01", "2026-02-30", str(2**256), str(2**256 - 1), "1 2\n3 ²", "1 1\n1 1",
        "raw_material", "bundle", "refinery", "mine", "QUALITY", "\u202e", "<script>",
        "1001", "1", "9999", "Europe/Oslo", "Mars/Olympus",
    ]
)  # fmt: skip
long_text = st.integers(min_value=200, max_value=20_000).map(lambda n: "x" * n)
# Lines of `lot quantity` with Unicode digits, signs, words and numbers past uint256.
item_tokens = st.one_of(
    st.integers(min_value=-5, max_value=2**257).map(str),
    st.sampled_from(["\u00b2", "\u0661", "\uff11", "x", "1.5", "0x10"]),
)
item_lines = st.lists(st.tuples(item_tokens, item_tokens), max_size=5).map(
    lambda rows: "\n".join(f"{a} {b}" for a, b in rows)
)
many_lines = st.integers(min_value=150, max_value=400).map(
    lambda n: "\n".join(f"{i} 1" for i in range(1, n))
)
values = st.one_of(odd_values, big_numbers, item_lines, st.text(max_size=40), long_text, many_lines)

#: Inputs that once answered 500, tried first on every run.
KNOWN = {
    "/bundles/new": {"name": "Pallet", "lot_1": "1 ²", "quantity_1": "1"},
    "/transformations/new": {
        "process": "Refining", "lot_1": "²", "quantity_1": "1", "output_name": "Cobalt",
        "output_quantity": "1", "output_unit": "kg", "output_kind": "component",
    },
    "/lots/new": {
        "name": "Ore", "quantity": "1", "unit": "kg", "kind": "raw_material",
        "idempotency_key": "k" * 300,
    },
    "/handoffs/new": {"lot_id": str(10**100), "receiver": "mine", "quantity": "1"},
}  # fmt: skip


@st.composite
def submissions(draw: st.DrawFn, path: str) -> dict[str, Any]:
    fields = FORMS[path]
    data = {
        name: draw(values) for name in fields if draw(st.booleans()) or name != "idempotency_key"
    }
    if path in FILE_FIELDS and draw(st.booleans()):
        upload = io.BytesIO(draw(st.binary(min_size=0, max_size=64)))
        upload.name = draw(st.sampled_from(["cert.pdf", "x", "../../etc/passwd", "a" * 300]))
        data[FILE_FIELDS[path]] = upload
    return data


def test_no_portal_form_input_gets_a_server_error(network: Network) -> None:
    member_invite(
        organisation=network.orgs["mine"], username="mine-admin", password=PASSWORD, is_admin=True
    )
    done(
        network, lot_register(organisation=network.orgs["mine"], name="Ore", quantity=9, unit="kg")
    )
    for path in FORMS:
        client = Client()
        assert client.login(username=POSTER.get(path, "mine-admin"), password=PASSWORD)
        _exercise(client, path)


def _exercise(client: Client, path: str) -> None:
    @given(data=submissions(path))
    @settings(
        max_examples=30,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def post(data: dict[str, Any]) -> None:
        before = Operation.objects.count()
        response = client.post(path, data)
        assert response.status_code < 500, (path, data)
        accepted = response.status_code == 302 and "/operations/" in response["Location"]
        if not accepted:
            assert Operation.objects.count() == before, (path, data)

    if path in KNOWN:
        post = example(data=KNOWN[path])(post)
    post()


#: The lots page's filters and the search box: GET parameters, each tried with odd values.
FILTERS = [
    "tab", "kind", "gtin", "holder", "state", "registered_from", "registered_to", "sort", "page",
]  # fmt: skip


def test_no_lots_filter_or_search_text_gets_a_server_error(network: Network) -> None:
    client = Client()
    assert client.login(username="mine", password=PASSWORD)

    @given(
        params=st.dictionaries(st.sampled_from(FILTERS), values, max_size=len(FILTERS)),
        q=values,
    )
    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def get(params: dict[str, str], q: str) -> None:
        assert client.get("/lots", params).status_code < 500, params
        assert client.get("/search", {"q": q}).status_code < 500, q

    get()
