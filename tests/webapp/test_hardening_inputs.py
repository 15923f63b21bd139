"""Input hardening at the edge: deeply nested JSON, NUL characters, Unicode digits, numbers
past what the contracts hold, oversized lists and uploads. Each is refused with a 4xx and
changes nothing; none takes the process down."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client, RequestFactory

from contracts.chain.client import build_transaction, transact
from contracts.chain.domain import LotKind, Role
from contracts.proofs.safe_json import JsonRefused, JsonTooLarge, json_loads_bounded
from tests.background import Background
from tests.contracts.consortium import H1, TEST_GAS, Consortium
from tests.webapp.network import PASSWORD, Network
from webapp.documents.models import Document
from webapp.limits import (
    MAX_BUNDLE_ITEMS,
    MAX_DOCUMENT_BYTES,
    MAX_TRANSFORMATION_INPUTS,
    MAX_TRANSFORMATION_OUTPUTS,
    MAX_UPLOAD_REQUEST_BYTES,
    RECURSION_LIMIT,
)
from webapp.operations.models import Operation
from webapp.organisations.services import api_token_create, organisation_create
from webapp.portal.errors import server_error

ROOT = Path(__file__).resolve().parents[2]
PROBLEM = "application/problem+json"

#: 80,000 levels in 160 KB: enough to overflow the C stack under py_ecc's recursion limit.
NESTED = '{"a": ' + "[" * 80_000 + "]" * 80_000 + "}"

# Runs in a fresh interpreter, through the WSGI entry point, as the web server does.
CHILD = textwrap.dedent(
    """
    import io, json, sys
    from webapp.wsgi import application  # the entry point: settings, apps, recursion limit
    from django.test import Client

    nested = open(sys.argv[1], "rb").read()
    token = sys.argv[2]
    answers = {}
    proof = io.BytesIO(nested)
    proof.name = "nested.json"
    answers["verify"] = Client().post("/verify", {"proof": proof}).status_code
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_IDEMPOTENCY_KEY="nested-1")
    for path in ("/api/v1/lots/register", "/api/v1/transformations", "/api/v1/bundles"):
        response = api.post(path, nested, content_type="application/json")
        answers[path] = [response.status_code, response["Content-Type"]]
    print(json.dumps(answers))
    """
)


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_deeply_nested_json_is_refused_and_the_process_lives(tmp_path: Path) -> None:
    organisation = organisation_create(name="Nested Test Org", roles=Role.MINER)
    token, _ = api_token_create(organisation=organisation, name="fuzz")
    payload = tmp_path / "nested.json"
    payload.write_text(NESTED)
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": "webapp.settings",
        "PROVENANT_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(ROOT),
    }
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(payload), token],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, f"the process died ({child.returncode}): {child.stderr[-2000:]}"
    answers: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    assert answers.pop("verify") == 400
    for path, (status, content_type) in answers.items():
        assert status == 400, path
        assert content_type == PROBLEM, path


# ------------------------------------------------------------------ API bounds and parsing


def _api(network: Network, slug: str) -> Client:
    token, _ = api_token_create(organisation=network.orgs[slug], name="edge")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def _post(client: Client, path: str, body: Any, key: str = "edge-1", **headers: Any) -> Any:
    return client.post(
        path, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key, **headers
    )


def _refused(response: Any, field: str) -> None:
    assert response.status_code == 400, response.content[:500]
    assert response["Content-Type"] == PROBLEM
    assert field in response.json()["errors"], response.json()


@pytest.mark.integration
@pytest.mark.node
@pytest.mark.django_db(transaction=True)
def test_numbers_lists_and_texts_past_what_a_transaction_holds_are_refused_by_field(
    network: Network,
) -> None:
    mine, certifier = _api(network, "mine"), _api(network, "certifier")
    before = Operation.objects.count()
    lot = {"name": "Ore", "quantity": 10, "unit": "kg"}
    _refused(_post(mine, "/api/v1/lots/register", {**lot, "quantity": 2**256}), "quantity")
    # The Lots contract keeps a lot's quantity in a uint240.
    _refused(_post(mine, "/api/v1/lots/register", {**lot, "quantity": 2**240}), "quantity")
    _refused(
        _post(mine, "/api/v1/lots/register", {**lot, "claims": {"co2e_g_per_unit": 2**300}}),
        "claims",
    )
    _refused(_post(mine, "/api/v1/lots/register", {**lot, "name": "x" * 5000}), "name")
    _refused(_post(mine, "/api/v1/lots/register", {**lot, "gtin": "1234567²"}), "gtin")
    _refused(
        _post(
            mine,
            "/api/v1/handoffs/initiate",
            {"lot_id": 2**256, "receiver": "refinery", "quantity": 1},
        ),
        "lot_id",
    )
    many = [{"lot_id": i, "quantity": 1} for i in range(1, MAX_BUNDLE_ITEMS + 2)]
    _refused(_post(mine, "/api/v1/bundles", {"name": "Pallet", "items": many}), "items")
    outputs = [{"name": f"o{i}", "quantity": 1, "unit": "kg"} for i in range(3000)]
    _refused(
        _post(
            mine,
            "/api/v1/transformations",
            {"process": "p", "inputs": [{"lot_id": 1, "quantity": 1}], "outputs": outputs},
        ),
        "outputs",
    )
    certificate = {
        "lot_id": 1,
        "certificate_type": "QUALITY",
        "document_hash": "0x" + "ab" * 32,
        "valid_from": "2026-01-01T00:00:00Z",
        "valid_until": "2027-01-01T00:00:00Z",
    }
    issue = "/api/v1/certificates/issue"
    _refused(_post(certifier, issue, {**certificate, "valid_from": "0001-01-01T00:00:00Z"}),
             "valid_from")  # fmt: skip
    _refused(_post(certifier, issue, {**certificate, "claims": {"CO2E_G_PER_UNIT": 2**300}}),
             "claims")  # fmt: skip
    _refused(_post(certifier, issue, {**certificate, "claims": {"RECYCLED_PERMILLE": 1001}}),
             "claims")  # fmt: skip
    too_long = _post(mine, "/api/v1/lots/register", lot, key="k" * 300)
    _refused(too_long, "Idempotency-Key")
    assert Operation.objects.count() == before


@pytest.mark.integration
@pytest.mark.node
@pytest.mark.django_db(transaction=True)
def test_unicode_digits_nul_characters_and_huge_ids_get_a_4xx_not_a_server_error(
    network: Network,
) -> None:
    mine = _api(network, "mine")
    for path, field in (
        ("/api/v1/certificates?lot_id=²", "lot_id"),
        ("/api/v1/certificates?lot_id=" + "9" * 100, "lot_id"),
        ("/api/v1/lots/1/holders?as_of=²", "as_of"),
        ("/api/v1/lots/1/holders?as_of=" + "9" * 30, "as_of"),
    ):
        _refused(mine.get(path), field)
    for path in ("/api/v1/operations?status=%00", "/api/v1/lots?holder=a%00b"):
        response = mine.get(path)
        assert response.status_code == 400
        assert response["Content-Type"] == PROBLEM
    huge = "9" * 100
    for path in (f"/api/v1/lots/{huge}", f"/api/v1/certificates/{huge}/impact"):
        response = mine.get(path)
        assert response.status_code == 404
        assert response["Content-Type"] == PROBLEM
    response = _post(mine, f"/api/v1/handoffs/{huge}/accept", {})
    assert response.status_code == 404
    anonymous = Client()
    assert anonymous.get("/proofs/%00/1.json").status_code == 400
    assert anonymous.get(f"/proofs/0xab/{huge}.json").status_code == 404
    assert anonymous.get(f"/passport/{huge}").status_code == 404

    before = Operation.objects.count()
    portal = Client()
    assert portal.login(username="mine", password=PASSWORD)
    for path, field, data in (
        ("/bundles/new", "lot_1", {"name": "Pallet", "lot_1": "²", "quantity_1": "1"}),
        ("/bundles/new", "quantity_1", {"name": "Pallet", "lot_1": "", "quantity_1": 2**256}),
        ("/bundles/new", "sscc", {"name": "Pallet", "sscc": "²" * 18, "quantity_1": "1"}),
        (
            "/transformations/new",
            "lot_1",
            {"process": "p", "lot_1": "1 ²", "quantity_1": "1", "output_name": "o",
             "output_quantity": 1, "output_unit": "kg", "output_kind": "component"},
        ),
        (
            "/lots/new",
            "idempotency_key",
            {"name": "Ore", "quantity": 1, "unit": "kg", "kind": "raw_material",
             "idempotency_key": "k" * 300},
        ),
        ("/lots/new", "quantity", {"name": "Ore", "quantity": 2**256, "unit": "kg",
                                   "kind": "raw_material"}),
    ):  # fmt: skip
        response = portal.post(path, data)
        assert response.status_code == 200, (path, response.status_code)
        assert field in response.context["form"].errors, (path, response.context["form"].errors)
    response = portal.post("/handoffs/1/accept", {"idempotency_key": "k" * 300})
    assert response.status_code == 400
    assert Operation.objects.count() == before


# --------------------------------------------------------------------- pages and uploads


@pytest.mark.integration
@pytest.mark.django_db
def test_unknown_urls_get_the_sites_own_404_and_problem_json_under_the_api(
    settings: Any,
) -> None:
    settings.DEBUG = False
    page = Client().get("/no/such/page")
    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")
    assert b"There is no page at" in page.content
    assert b"URLconf" not in page.content
    api = Client().get("/api/v1/no-such-thing")
    assert api.status_code == 404
    assert api["Content-Type"] == PROBLEM
    assert api.json()["title"] == "Not found"


@pytest.mark.integration
@pytest.mark.django_db
def test_verify_refuses_an_oversized_file_and_nested_json_with_a_reason() -> None:
    nested = io.BytesIO(NESTED.encode())
    nested.name = "nested.json"
    refused = Client().post("/verify", {"proof": nested})
    assert refused.status_code == 400
    assert b"nested more than" in refused.content
    big = io.BytesIO(b" " * (MAX_UPLOAD_REQUEST_BYTES + 1))
    big.name = "big.json"
    assert Client().post("/verify", {"proof": big}).status_code == 413


@pytest.mark.integration
@pytest.mark.node
@pytest.mark.django_db(transaction=True)
def test_an_upload_is_capped_while_it_streams_and_a_refused_form_keeps_its_document(
    network: Network, settings: Any
) -> None:
    mine = _api(network, "mine")
    big = io.BytesIO(b"x" * (MAX_DOCUMENT_BYTES + 1))
    big.name = "big.pdf"
    response = mine.post("/api/v1/documents", {"file": big})
    assert response.status_code == 413
    assert response["Content-Type"] == PROBLEM
    assert not Document.objects.exists()

    portal = Client()
    assert portal.login(username="mine", password=PASSWORD)
    document = io.BytesIO(b"%PDF certificate of origin")
    document.name = "origin.pdf"
    refused = portal.post(
        "/lots/new",
        {"name": "Ore", "quantity": 5, "unit": "kg", "kind": "raw_material",
         "gtin": "12345678", "document": document},
    )  # fmt: skip
    assert refused.status_code == 200
    assert "gtin" in refused.context["form"].errors
    # The document is kept for the form shown again (the person need not attach it twice);
    # the file input is empty, its hash travels in the form.
    pending = Document.objects.get()
    assert refused.context["form"].data["pending_document"] == pending.sha256
    accepted = portal.post(
        "/lots/new",
        {"name": "Ore", "quantity": 5, "unit": "kg", "kind": "raw_material",
         "pending_document": pending.sha256},
    )  # fmt: skip
    assert accepted.status_code == 302
    stored = Document.objects.get()
    assert (
        Path(settings.MEDIA_ROOT) / stored.file.name
    ).read_bytes() == b"%PDF certificate of origin"


# ------------------------------------------------------------- the parser and the limit


@pytest.mark.unit
def test_the_bounded_json_loader_measures_depth_without_recursion_and_skips_strings() -> None:
    assert json_loads_bounded('{"a": "[[[[\\" {", "b": [1, {"c": []}]}', max_bytes=100,
                              max_depth=4) == {"a": '[[[[" {', "b": [1, {"c": []}]}  # fmt: skip
    with pytest.raises(JsonRefused, match="nested more than 3"):
        json_loads_bounded('{"b": [1, {"c": []}]}', max_bytes=100, max_depth=3)
    with pytest.raises(JsonRefused, match="nested more than 32"):
        json_loads_bounded(NESTED, max_bytes=len(NESTED), max_depth=32)
    with pytest.raises(JsonTooLarge):
        json_loads_bounded(b"[" + b"1," * 100 + b"1]", max_bytes=100, max_depth=3)
    for bad in ("NaN", "[1,", b"\xff", '"unterminated [[[['):
        with pytest.raises(JsonRefused):
            json_loads_bounded(bad, max_bytes=100, max_depth=3)


ENTRY_POINTS = [
    "import webapp.wsgi",
    "import workers.celery",
    "import sys; sys.argv = ['manage.py', 'check']; import manage; manage.main()",
]


def _start(entry: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    script = f"{entry}\nimport sys, web3\nprint('limit', sys.getrecursionlimit())"
    env = {**os.environ, "PROVENANT_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def start_early(jobs: Background, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each entry point in a fresh process, started with the run (`early`, tests/conftest.py)."""
    for entry in ENTRY_POINTS:
        jobs.submit(f"{__name__}:{entry}", _start, entry, tmp_path_factory.mktemp("entry"))


@pytest.mark.unit
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_every_entry_point_puts_the_recursion_limit_back(entry: str, early: Background) -> None:
    child = early.result(f"{__name__}:{entry}")
    assert child.returncode == 0, child.stderr[-2000:]
    assert child.stdout.strip().splitlines()[-1] == f"limit {RECURSION_LIMIT}"


# ----------------------------------------------------------- list bounds against gas


@pytest.mark.chain
@pytest.mark.node
def test_the_largest_bundle_and_transformation_fit_in_a_third_of_a_block(
    anvil_consortium: Consortium,
) -> None:
    c = anvil_consortium
    third_of_a_block = c.w3.eth.get_block("latest")["gasLimit"] // 3

    def register(count: int) -> list[int]:
        """`count` new lots of the maker's, sent back to back (one fee and nonce look-up),
        each then checked mined and successful."""
        ids = [c.new_id() for _ in range(count)]
        calls = [c.lots.functions.registerLot(i, 1000, LotKind.COMPONENT, H1, H1) for i in ids]
        nonce = c.w3.eth.get_transaction_count(c.maker.address, "pending")
        base = build_transaction(c.w3, c.maker.address, calls[0], nonce=nonce, gas=TEST_GAS)
        sent = [
            c.w3.eth.send_raw_transaction(
                c.maker.sign_transaction(
                    {**base, "nonce": nonce + n, "data": call._encode_transaction_data()}
                )
            )
            for n, call in enumerate(calls)
        ]
        for tx_hash in sent:
            assert c.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)["status"] == 1
        return ids

    packed = register(MAX_BUNDLE_ITEMS)
    bundle = transact(
        c.w3, c.maker, c.lots.functions.bundle(c.new_id(), packed, [1000] * len(packed), H1, H1)
    )
    consumed = register(MAX_TRANSFORMATION_INPUTS)
    outputs = [(c.new_id(), 5, LotKind.PRODUCT, H1, H1) for _ in range(MAX_TRANSFORMATION_OUTPUTS)]
    transformation = transact(
        c.w3, c.maker, c.lots.functions.transform(consumed, [10] * len(consumed), outputs, H1)
    )
    for receipt in (bundle, transformation):
        assert receipt["status"] == 1
        assert receipt["gasUsed"] * 6 // 5 < third_of_a_block


@pytest.mark.unit
def test_a_server_error_is_the_sites_own_page_or_problem_json_and_reads_no_database() -> None:
    factory = RequestFactory()
    page = server_error(factory.get("/lots/7"))
    assert page.status_code == 500
    assert b"Something went wrong on our side" in page.content
    api = server_error(factory.get("/api/v1/lots/7"))
    assert api.status_code == 500
    assert api["Content-Type"] == PROBLEM
    assert json.loads(api.content)["title"] == "Server error"


@pytest.mark.integration
@pytest.mark.django_db
def test_a_database_that_is_away_answers_503_with_retry_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PostgreSQL restarting or failing over: the API answers problem+json 503 and the
    portal a plain 503, both with Retry-After, instead of a server error."""
    from django.contrib.auth.models import User
    from django.db import OperationalError
    from django.db.backends.utils import CursorWrapper

    organisation = organisation_create(name="Edge Mine", roles=Role.MINER)
    token, _ = api_token_create(organisation=organisation, name="edge")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    person = Client(raise_request_exception=False)  # as a browser meets it
    person.force_login(User.objects.create_user("edge-person", password=PASSWORD))

    def away(self: Any, sql: str, params: Any = None) -> Any:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(CursorWrapper, "execute", away)
    try:
        answer = api.get("/api/v1/lots")
        page = person.get("/")
    finally:
        monkeypatch.undo()
    assert answer.status_code == 503
    assert answer["Content-Type"] == "application/problem+json"
    assert answer["Retry-After"] == "5"
    assert "same Idempotency-Key" in answer.json()["detail"]
    assert page.status_code == 503
    assert page["Retry-After"] == "5"
    assert b"unavailable for a moment" in page.content
