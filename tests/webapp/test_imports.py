"""Batch imports through the portal and the API: every row checked as the chain would
check it with nothing queued, all-or-nothing or only the valid rows, no row queued twice
however often the file comes back, a result file, refusals in plain words with nothing
stored, other organisations kept out; and lots and a handoff imported to confirmation."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from openpyxl import Workbook, load_workbook

from tests.webapp.network import PASSWORD, Network
from webapp.documents.services import document_upload
from webapp.imports.models import ImportJob, ImportRow
from webapp.imports.records import RECORD_TYPES
from webapp.imports.services import import_create
from webapp.lots.models import LotMetadata
from webapp.operations.models import Operation
from webapp.organisations.models import Organisation
from webapp.organisations.services import api_token_create, member_invite

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]

GTIN = "4006381333931"  # a valid GTIN-13
LOTS_CSV = (
    "Name,Quantity,Unit,GTIN,Batch,CO2e g per unit\n"
    f"Cobalt ore drum 1,1200,kg,{GTIN},B-1,4\n"
    "Cobalt ore drum 2,ten,kg,,,\n"
    "Cobalt ore drum 3,800,kg,4006381333932,B-3,\n"
    "Cobalt ore drum 4,500,kg,,,\n"
).encode()


def member(slug: str) -> Client:
    client = Client()
    assert client.login(username=slug, password=PASSWORD)
    return client


def upload(client: Client, record_type: str, name: str, content: bytes) -> Any:
    return client.post(
        "/imports/new", {"record_type": record_type, "file": SimpleUploadedFile(name, content)}
    )


def latest_job() -> ImportJob:
    return ImportJob.objects.latest("created_at")


def xlsx(rows: list[list[Any]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def result(client: Client, job: ImportJob) -> list[dict[str, str]]:
    answer = client.get(f"/imports/{job.id}/result.csv")
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(answer.content.decode())))


def test_the_dry_run_names_each_bad_row_in_plain_words_and_queues_nothing(
    network: Network,
) -> None:
    mine = member("mine")
    before = (Operation.objects.count(), LotMetadata.objects.count())
    answer = upload(mine, "lots", "register.csv", LOTS_CSV)
    job = latest_job()
    assert answer.status_code == 302
    assert answer["Location"] == f"/imports/{job.id}"
    assert (job.status, job.row_count, job.checked_count, job.error_count) == (
        "validated",
        4,
        4,
        2,
    )
    errors = dict(
        ImportRow.objects.filter(job=job).exclude(error="").values_list("number", "error")
    )
    assert errors == {
        3: "quantity must be a whole number, got 'ten'",
        4: "gtin: GTIN 4006381333932 has check digit 2; it should be 1.",
    }
    # The service ran for every readable row, and its writes were rolled back.
    assert (Operation.objects.count(), LotMetadata.objects.count()) == before
    page = mine.get(f"/imports/{job.id}").content.decode()
    assert "Row 3: quantity must be a whole number, got &#x27;ten&#x27;" in page
    assert "Import the 2 valid rows" in page
    assert "Nothing has been recorded yet" in page
    assert 'id="import-all"' not in page

    # All or nothing: one bad row refuses the whole file.
    refused = mine.post(f"/imports/{job.id}/submit", follow=True).content.decode()
    assert "2 of 4 rows have errors (the first is row 3); nothing was queued" in refused
    assert Operation.objects.count() == before[0]
    job.refresh_from_db()
    assert job.status == "validated"

    # Only the valid rows, when asked for.
    mine.post(f"/imports/{job.id}/submit", {"only_valid": "1"})
    job.refresh_from_db()
    assert job.status == "submitted"
    queued = Operation.objects.filter(action="lot.register").order_by("created_at")
    assert [op.request["name"] for op in queued] == ["Cobalt ore drum 1", "Cobalt ore drum 4"]
    lines = result(mine, job)
    assert [(r["row"], r["state"], r["already_imported"]) for r in lines] == [
        ("2", "queued", "no"),
        ("3", "invalid", "no"),
        ("4", "invalid", "no"),
        ("5", "queued", "no"),
    ]
    assert lines[0]["operation_id"] == str(queued[0].id)
    assert lines[0]["lot_id"] == str(int(queued[0].lot_id or 0))
    assert lines[1]["error"] == "quantity must be a whole number, got 'ten'"

    # The same file again (and a corrected copy): the rows already queued are recognised.
    corrected = LOTS_CSV.replace(b"drum 2,ten", b"drum 2,10")
    upload(mine, "lots", "register-fixed.csv", corrected)
    again = latest_job()
    assert (again.error_count, again.already_count) == (1, 2)
    page = mine.get(f"/imports/{again.id}").content.decode()
    assert "2 already imported before" in page
    mine.post(f"/imports/{again.id}/submit", {"only_valid": "1"})
    names = sorted(op.request["name"] for op in Operation.objects.filter(action="lot.register"))
    assert names == ["Cobalt ore drum 1", "Cobalt ore drum 2", "Cobalt ore drum 4"]
    again_lines = result(mine, again)
    assert [(r["row"], r["already_imported"]) for r in again_lines][:2] == [
        ("2", "yes"),
        ("3", "no"),
    ]
    assert again_lines[0]["operation_id"] == lines[0]["operation_id"]

    # The very same file a third time, all of it: nothing new at all.
    upload(mine, "lots", "register-fixed.csv", corrected)
    third = latest_job()
    assert third.already_count == 3
    count = Operation.objects.count()
    mine.post(f"/imports/{third.id}/submit", {"only_valid": "1"})
    assert Operation.objects.count() == count


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("lots.xlsx", b"PK\x03\x04broken", "The file is not a readable .xlsx workbook."),
        (
            "lots.csv",
            b"name,quantity,colour\nOre,1,red\n",
            "missing column: unit; unknown column: &#x27;colour&#x27;",
        ),
        (
            "lots.csv",
            b"name,quantity,unit\n" + b"Ore,1,kg\n" * 10_001,
            "The file has more than 10,000 rows; split it into several files.",
        ),
        (
            "lots.csv",
            b"name,quantity,unit\n" + b"x" * (10 * 2**20 + 1),
            "The file is larger than 10 MB; split it.",
        ),
    ],
)
def test_a_file_that_cannot_be_imported_is_refused_with_its_reason_and_nothing_stored(
    network: Network, name: str, content: bytes, reason: str
) -> None:
    answer = upload(member("mine"), "lots", name, content)
    assert answer.status_code == 400
    assert reason in answer.content.decode()
    assert not ImportJob.objects.exists()
    assert not ImportRow.objects.exists()


def test_the_templates_download_as_csv_and_xlsx_with_the_columns_an_import_reads(
    network: Network,
) -> None:
    mine = member("mine")
    for record_type, record in RECORD_TYPES.items():
        as_csv = mine.get(f"/imports/templates/{record_type}.csv")
        assert as_csv.status_code == 200
        assert as_csv.content.decode().strip() == ",".join(record.column_names)
        as_xlsx = mine.get(f"/imports/templates/{record_type}.xlsx")
        assert as_xlsx.status_code == 200
        workbook = load_workbook(io.BytesIO(as_xlsx.content), read_only=True)
        first = next(workbook.worksheets[0].iter_rows(values_only=True))
        assert list(first) == record.column_names
    assert mine.get("/imports/templates/invoices.csv").status_code == 404
    assert mine.get("/imports/templates/lots.pdf").status_code == 404
    page = mine.get("/imports").content.decode()
    assert "/imports/templates/handoffs.xlsx" in page
    assert "/imports/new" in page


def test_another_organisation_cannot_see_or_act_on_an_import(network: Network) -> None:
    upload(member("mine"), "lots", "register.csv", LOTS_CSV)
    job = latest_job()
    refinery = member("refinery")
    for path in ("", "/status", "/result.csv"):
        assert refinery.get(f"/imports/{job.id}{path}").status_code == 404
    assert refinery.post(f"/imports/{job.id}/submit", {"only_valid": "1"}).status_code == 404
    assert job.file_name not in refinery.get("/imports").content.decode()
    token, _ = api_token_create(organisation=network.orgs["refinery"], name="erp")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get(f"/api/v1/imports/{job.id}").status_code == 404
    assert api.get(f"/api/v1/imports/{job.id}/result").status_code == 404
    submitted = api.post(
        f"/api/v1/imports/{job.id}/submit",
        {"only_valid": True},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="s-1",
    )
    assert submitted.status_code == 404
    job.refresh_from_db()
    assert job.status == "validated"
    assert not Operation.objects.filter(action="lot.register")


def test_only_certifiers_import_certificates_each_naming_a_document_uploaded_before(
    network: Network,
) -> None:
    header = "lot_id,certificate_type,document_sha256,valid_from,valid_until,co2e_g_per_unit\n"
    # The portal offers the mine only what its roles record; the service says why.
    offered = member("mine").get("/imports/new").content.decode()
    assert 'value="lots"' in offered
    assert 'value="certificates"' not in offered
    refused = upload(member("mine"), "certificates", "certs.csv", header.encode())
    assert refused.status_code == 400
    assert "not one of the available choices" in refused.content.decode()
    with pytest.raises(ValidationError) as why:
        import_create(
            organisation=network.orgs["mine"],
            record_type="certificates",
            file_name="certs.csv",
            content=header.encode(),
        )
    assert why.value.message_dict["type"] == [
        "Importing certificates needs the CERTIFIER role; Katanga Cobalt Mine holds MINER."
    ]
    # A certifier records no lots: it is offered certificates only.
    offered = member("certifier").get("/imports/new").content.decode()
    assert 'value="certificates"' in offered
    assert 'value="lots"' not in offered
    assert not ImportJob.objects.exists()

    document = document_upload(
        organisation=network.orgs["certifier"],
        name="audit.pdf",
        content=b"%PDF audit",
        content_type="application/pdf",
    )
    rows = (
        f"1001,Carbon footprint,{document.sha256},2026-01-01,2026-12-31,4\n"
        f"1001,QUALITY,{'ab' * 32},2026-01-01,2026-12-31,\n"
        f"1001,QUALITY,{document.sha256},2026-12-31,2026-01-01,\n"
        f"1001,GOLDEN,{document.sha256},2026-01-01,31/12/2026,\n"
    )
    upload(member("certifier"), "certificates", "certs.csv", (header + rows).encode())
    job = latest_job()
    errors = dict(job.rows.values_list("number", "error"))
    # Lot 1001 does not exist: the chain's own refusal, through the service's pre-flight.
    assert errors[2] == "lot_id: The certificate's subject does not exist."
    assert errors[3] == "document_sha256: Upload the certificate's document first."
    assert errors[4] == "valid_until: The certificate must end after it starts."
    assert errors[5] == (
        "certificate_type must be one of QUALITY, CARBON_FOOTPRINT, RECYCLED_CONTENT,"
        " RESPONSIBLE_SOURCING, got 'GOLDEN'; valid_until must be a date as YYYY-MM-DD,"
        " got '31/12/2026'"
    )
    assert not Operation.objects.filter(action="certificate.issue").exists()


def test_the_api_checks_submits_and_follows_an_import(network: Network) -> None:
    token, _ = api_token_create(organisation=network.orgs["mine"], name="erp")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    def post(key: str | None, **fields: Any) -> Any:
        headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
        return api.post("/api/v1/imports", fields, **headers)

    missing = post(None, type="lots", file=SimpleUploadedFile("l.csv", LOTS_CSV))
    assert missing.status_code == 400
    checked = post("imp-1", type="lots", file=SimpleUploadedFile("l.csv", LOTS_CSV))
    assert checked.status_code == 202, checked.json()
    body = checked.json()
    assert checked["Location"] == body["url"]
    assert (body["status"], body["rows"], body["valid"], body["invalid"]) == (
        "validated",
        4,
        2,
        2,
    )
    assert body["errors"][0] == {"row": 3, "error": "quantity must be a whole number, got 'ten'"}
    assert not Operation.objects.filter(action="lot.register").exists()
    # The same key and file: the same job; the same key and another file: 422.
    assert (
        post("imp-1", type="lots", file=SimpleUploadedFile("l.csv", LOTS_CSV)).json()["id"]
        == (body["id"])
    )
    reused = post("imp-1", type="lots", file=SimpleUploadedFile("l.csv", LOTS_CSV + b"x,1,kg\n"))
    assert reused.status_code == 422
    bad = post("imp-2", type="lots", file=SimpleUploadedFile("l.csv", b"colour\nred\n"))
    assert bad.status_code == 400
    assert "unknown column" in bad.json()["detail"]
    assert ImportJob.objects.count() == 1

    def submit(only_valid: bool) -> Any:
        return api.post(
            f"{body['url']}/submit",
            {"only_valid": only_valid},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=f"submit-{only_valid}",
        )

    assert submit(False).status_code == 400
    assert not Operation.objects.filter(action="lot.register").exists()
    submitted = submit(True)
    assert submitted.status_code == 202
    assert (submitted.json()["status"], submitted.json()["operations"]) == ("submitted", 2)
    network.settle()
    followed = api.get(body["url"]).json()
    assert (followed["phase"], followed["confirmed"], followed["queued"]) == ("done", 2, 0)
    lines = list(csv.DictReader(io.StringIO(api.get(body["result_url"]).content.decode())))
    assert [line["state"] for line in lines] == ["confirmed", "invalid", "invalid", "confirmed"]

    # Uploaded to be submitted at once, with only the valid rows: nothing is queued twice.
    direct = post(
        "imp-3",
        type="lots",
        file=SimpleUploadedFile("l.csv", LOTS_CSV),
        dry_run="false",
        only_valid="true",
    ).json()
    assert (direct["status"], direct["already_imported"], direct["operations"]) == (
        "submitted",
        2,
        2,
    )
    assert Operation.objects.filter(action="lot.register").count() == 2
    # Without only_valid, a file with errors is refused as a whole once checked.
    whole = post(
        "imp-4", type="lots", file=SimpleUploadedFile("l2.csv", LOTS_CSV), dry_run="false"
    ).json()
    page = member("mine").get(f"/imports/{whole['id']}").content.decode()
    assert "nothing was queued" in page
    assert whole["status"] == "failed"
    assert "nothing was queued" in whole["error"]


def test_lots_and_a_handoff_imported_from_spreadsheets_reach_the_chain(network: Network) -> None:
    mine = member("mine")
    sheet = xlsx(
        [
            ["NAME", "Quantity", "unit", "Kind", "recycled permille"],
            ["Cobalt hydroxide A", 1000, "kg", "raw material", 0],
            ["Cobalt hydroxide B", 2000.0, "kg", None, None],
            ["Cobalt hydroxide C", 3000, "kg", "component", 150],
        ]
    )
    upload(mine, "lots", "register.xlsx", sheet)
    lots = latest_job()
    assert (lots.status, lots.valid_count) == ("validated", 3)
    assert 'id="import-all"' in mine.get(f"/imports/{lots.id}").content.decode()
    mine.post(f"/imports/{lots.id}/submit")
    status = mine.get(f"/imports/{lots.id}/status").json()
    assert (status["phase"], status["operations"], status["queued"]) == ("submitted", 3, 3)
    network.settle()
    status = mine.get(f"/imports/{lots.id}/status").json()
    assert (status["phase"], status["confirmed"], status["final"]) == ("done", 3, True)
    lot_ids = [int(line["lot_id"]) for line in result(mine, lots)]
    assert len(set(lot_ids)) == 3

    handoffs = f"lot_id,receiver,quantity\n{lot_ids[1]},Nordic Refinery,1500\n".encode()
    upload(mine, "handoffs", "shipments.csv", handoffs)
    shipment = latest_job()
    assert shipment.error_count == 0
    mine.post(f"/imports/{shipment.id}/submit")
    network.settle()
    (line,) = result(mine, shipment)
    assert (line["state"], line["lot_id"]) == ("confirmed", str(lot_ids[1]))
    operation = Operation.objects.get(id=line["operation_id"])
    assert operation.request == {"lot_id": lot_ids[1], "receiver": "refinery", "quantity": 1500}
    # More than the lot holds: the chain's refusal, row by row, before anything is queued.
    upload(mine, "handoffs", "too-much.csv", handoffs.replace(b"1500", b"9000"))
    (error,) = latest_job().rows.values_list("error", flat=True)
    assert error.startswith("quantity: Not enough of lot")


def test_a_row_refused_when_it_is_queued_stops_an_all_rows_import_where_it_stands(
    network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webapp.documents.models import Document
    from webapp.imports import services

    monkeypatch.setattr(services, "QUEUE_CHUNK", 1)
    mine = member("mine")

    def register_with(document: str) -> bytes:
        return (
            f"name,quantity,unit,documents\nOre 1,10,kg,\nOre 2,20,kg,{document}\nOre 3,30,kg,\n"
        ).encode()

    def uploaded(name: str) -> str:
        return document_upload(
            organisation=network.orgs["mine"],
            name=name,
            content=name.encode(),
            content_type="application/pdf",
        ).sha256

    first = uploaded("assay-1.pdf")
    upload(mine, "lots", "register.csv", register_with(first))
    job = latest_job()
    assert job.error_count == 0
    Document.objects.filter(sha256=first).delete()  # gone between the check and the import
    mine.post(f"/imports/{job.id}/submit")
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error == (
        f"Row 3 was refused when it was queued: documents: No uploaded document has hash"
        f" 0x{first}. 1 row before it was queued and go on; the rest were not. Correct the"
        " file and upload it again: the rows already queued are recognised and not queued"
        " twice."
    )
    assert [r["state"] for r in result(mine, job)] == ["queued", "invalid", "valid"]
    assert mine.get(f"/imports/{job.id}/status").json()["final"] is False  # row 2 goes on

    # The corrected file queues what is missing, and row 2 not twice.
    upload(mine, "lots", "register.csv", register_with(""))
    fixed = latest_job()
    assert fixed.already_count == 1
    mine.post(f"/imports/{fixed.id}/submit")
    names = [op.request["name"] for op in Operation.objects.filter(action="lot.register")]
    assert sorted(names) == ["Ore 1", "Ore 2", "Ore 3"]

    # Only the valid rows: the refused one is marked, the others go.
    second = uploaded("assay-2.pdf")
    content = register_with(second).replace(b"Ore", b"Slag")
    upload(mine, "lots", "slag.csv", content)
    slag = latest_job()
    Document.objects.filter(sha256=second).delete()
    mine.post(f"/imports/{slag.id}/submit", {"only_valid": "1"})
    slag.refresh_from_db()
    assert (slag.status, slag.error_count) == ("submitted", 1)
    assert [r["state"] for r in result(mine, slag)] == ["queued", "invalid", "queued"]


def test_an_import_whose_worker_stopped_is_taken_up_again_from_the_first_row(
    network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from webapp.imports import services

    with monkeypatch.context() as lost:  # the broker loses the message
        lost.setattr(services, "_dispatch", lambda task, job: None)
        job = services.import_create(
            organisation=network.orgs["mine"],
            record_type="lots",
            file_name="register.csv",
            content=LOTS_CSV,
            submit=True,
            only_valid=True,
        )
    # ... or a worker died half-way through the check.
    ImportJob.objects.filter(id=job.id).update(checked_count=3, error_count=2)
    assert services.imports_resume() == 0  # not stale yet
    ImportJob.objects.filter(id=job.id).update(updated_at=timezone.now() - timedelta(minutes=5))
    assert services.imports_resume() == 1
    job.refresh_from_db()
    assert (job.status, job.checked_count, job.error_count) == ("submitted", 4, 2)
    assert Operation.objects.filter(action="lot.register").count() == 2
    # Sent again once more (a duplicate message): nothing changes, nothing is queued twice.
    services.import_submit(job_id=str(job.id))
    services.import_validate(job_id=str(job.id))
    job.refresh_from_db()
    assert (job.status, job.checked_count, job.error_count) == ("submitted", 4, 2)
    assert Operation.objects.filter(action="lot.register").count() == 2


def test_an_organisation_that_records_nothing_is_told_why_and_offered_no_upload(
    network: Network,
) -> None:
    operator = Organisation.objects.get(is_operator=True)
    member_invite(organisation=operator, username="auditor", password=PASSWORD)
    auditor = member("auditor")
    refused = auditor.get("/imports/new")
    assert refused.status_code == 403
    assert "Consortium operator holds AUDITOR" in refused.content.decode()
    assert upload(auditor, "lots", "l.csv", LOTS_CSV).status_code == 403
    listing = auditor.get("/imports").content.decode()
    assert 'id="new-import"' not in listing
    assert 'id="no-imports"' in listing
    assert not ImportJob.objects.exists()
