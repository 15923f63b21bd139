"""The built-in GS1 Digital Link resolver on a real anvil node and PostgreSQL: a lot
registered with a GTIN and batch, and a pallet with an SSCC, resolve to their passports
and their other links; the label's QR code, decoded from its PNG, leads there too."""

from __future__ import annotations

import struct
import zlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import zxingcpp
from django.test import Client, override_settings

from tests.webapp.network import Network
from tests.webapp.test_provenance_flow import done
from webapp.lots.services import bundle_create, lot_register

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]

GTIN = "4006381333931"
BATCH = "L-7/A"  # a slash: percent-encoded in the Digital Link
LOT_PATH = "/01/04006381333931/10/L-7%2FA"
SSCC = "140063810000000014"


@pytest.fixture
def labelled(network: Network) -> dict[str, Any]:
    """A lot of 'Cobalt ore, pit 7' with GTIN 4006381333931 and batch L-7/A, packed by the
    mine (GS1 Company Prefix 4006381) onto a pallet with an SSCC."""
    net = network
    mine = net.orgs["mine"]
    mine.gs1_company_prefix = "4006381"
    mine.gln = "4006381000017"
    mine.save()
    lot = done(
        net,
        lot_register(
            organisation=mine, name="Cobalt ore, pit 7", quantity=1000, unit="g",
            gtin=GTIN, batch=BATCH,
        ),
    ).lot_id  # fmt: skip
    pallet = done(
        net,
        bundle_create(organisation=mine, items=[(int(lot or 0), 400)], name="Pallet", sscc=SSCC),
    ).lot_id
    return {"lot": int(lot or 0), "pallet": int(pallet or 0)}


def test_a_gtin_and_batch_redirect_to_the_passport_with_a_linkset_link(
    labelled: dict[str, Any],
) -> None:
    response = Client().get(LOT_PATH)
    assert response.status_code == 307
    assert response["Location"] == f"http://testserver/passport/{labelled['lot']}"
    assert response["Link"] == (
        f'<http://testserver{LOT_PATH}?linkType=linkset>; rel="linkset"; '
        'type="application/linkset+json"'
    )
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "Location" in response["Access-Control-Expose-Headers"]
    # The same lot by its GTIN-13, and gs1:dpp, go to the same passport.
    also = Client().get("/01/4006381333931/10/L-7%2FA?linkType=gs1:dpp")
    assert also["Location"] == response["Location"]


def test_each_link_type_goes_to_its_part_of_the_passport(labelled: dict[str, Any]) -> None:
    passport = f"http://testserver/passport/{labelled['lot']}"
    expected = {
        "gs1:pip": passport,
        "gs1:certificationInfo": passport + "#passport-certificates",
        "gs1:sustainabilityInfo": passport + "#footprint",
        "gs1:traceability": passport + "#custody",
    }
    for link_type, target in expected.items():
        response = Client().get(LOT_PATH, {"linkType": link_type})
        assert (response.status_code, response["Location"]) == (307, target), link_type
    epcis = Client().get(LOT_PATH, {"linkType": "gs1:epcis"})["Location"]
    assert epcis.startswith("http://testserver/epcis/events?")
    assert parse_qs(urlsplit(epcis).query) == {
        "MATCH_anyEPCClass": ["urn:epc:class:lgtin:4006381.033393.L-7%2FA"]
    }


def test_data_attributes_are_passed_on_to_the_target(labelled: dict[str, Any]) -> None:
    response = Client().get(LOT_PATH + "?17=261231&linkType=gs1:traceability&ref=shelf")
    assert response["Location"] == (
        f"http://testserver/passport/{labelled['lot']}?17=261231&ref=shelf#custody"
    )


def test_an_unknown_link_type_is_404_listing_the_available_ones(labelled: dict[str, Any]) -> None:
    response = Client().get(LOT_PATH, {"linkType": "gs1:recipeInfo"})
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 404
    assert "gs1:recipeInfo" in problem["detail"]
    assert problem["availableLinkTypes"] == [
        "gs1:pip", "gs1:dpp", "gs1:epcis", "gs1:certificationInfo",
        "gs1:sustainabilityInfo", "gs1:traceability", "linkset",
    ]  # fmt: skip


def test_the_linkset_by_parameter_and_by_accept_header(labelled: dict[str, Any]) -> None:
    by_parameter = Client().get(LOT_PATH, {"linkType": "linkset"})
    by_accept = Client().get(LOT_PATH, headers={"Accept": "application/linkset+json"})
    for response in (by_parameter, by_accept):
        assert response.status_code == 200
        assert response["Content-Type"] == "application/linkset+json"
        assert "Location" not in response
    (context,) = by_accept.json()["linkset"]
    assert by_parameter.json() == by_accept.json()
    assert context["anchor"] == f"http://testserver{LOT_PATH}"
    passport = f"http://testserver/passport/{labelled['lot']}"
    assert context["https://gs1.org/voc/defaultLink"][0]["href"] == passport
    assert context["https://gs1.org/voc/pip"][0]["href"] == passport
    assert context["https://gs1.org/voc/certificationInfo"][0]["href"].endswith(
        "#passport-certificates"
    )
    assert set(context) == {
        "anchor", *(f"https://gs1.org/voc/{t}" for t in (
            "defaultLink", "pip", "dpp", "epcis", "certificationInfo", "sustainabilityInfo",
            "traceability",
        )),
    }  # fmt: skip


def test_a_pallet_resolves_by_its_sscc(labelled: dict[str, Any]) -> None:
    response = Client().get(f"/00/{SSCC}")
    assert response["Location"] == f"http://testserver/passport/{labelled['pallet']}"
    epcis = Client().get(f"/00/{SSCC}?linkType=gs1:epcis")["Location"]
    assert parse_qs(urlsplit(epcis).query) == {
        "MATCH_anyEPC": ["urn:epc:id:sscc:4006381.1000000001"]
    }


@pytest.mark.parametrize(
    ("path", "status", "detail"),
    [
        ("/01/04006381333932/10/L-7%2FA", 400, "check digit 2; it should be 1"),
        ("/00/140063810000000015", 400, "check digit 5; it should be 4"),
        ("/01/04006381333931/10/LOT%20SEVEN", 400, "outside the GS1 character set 82"),
        ("/01/04006381333931/10/OTHER", 404, "No lot on this chain carries"),
        ("/01/04006381333931", 404, "names a product, not a lot"),
        ("/00/106141411234567897", 404, "No lot on this chain carries"),
        ("/414/4006381000017", 404, "answers for lots (01) and bundles (00)"),
    ],
)
def test_bad_and_unknown_keys_get_a_problem_document(
    labelled: dict[str, Any], path: str, status: int, detail: str
) -> None:
    response = Client().get(path)
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert problem["title"]
    assert detail in problem["detail"]


def test_the_resolver_describes_itself(labelled: dict[str, Any]) -> None:
    description = Client().get("/.well-known/gs1resolver").json()
    assert description["resolverRoot"] == "http://testserver"
    assert description["supportedPrimaryKeys"] == ["01", "00"]
    assert [t["linkType"] for t in description["linkTypes"] if t["default"]] == ["gs1:pip"]
    with override_settings(RESOLVER_URL="https://id.example.com"):
        configured = Client().get("/.well-known/gs1resolver").json()
    assert configured["resolverRoot"] == "https://id.example.com"


def _png_grey(png: bytes) -> tuple[bytes, int, int]:
    """A greyscale PNG's pixels (one byte each), decoded here: neither Pillow nor numpy is
    installed, and zxing-cpp reads any buffer of the right shape."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    at, data, header = 8, b"", b""
    while at < len(png):
        (length,), kind = struct.unpack(">I", png[at : at + 4]), png[at + 4 : at + 8]
        body = png[at + 8 : at + 8 + length]
        header = body if kind == b"IHDR" else header
        data += body if kind == b"IDAT" else b""
        at += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert colour == 0, colour  # greyscale, as segno writes it
    assert depth in (1, 8), depth
    stride = (width * depth + 7) // 8
    raw, rows, previous = zlib.decompress(data), [], bytearray(stride)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            left = line[i - 1] if i else 0
            up, corner = previous[i], previous[i - 1] if i else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        previous = line
    if depth == 8:
        return b"".join(rows), width, height
    pixels = bytearray()
    for row in rows:
        pixels += bytes(255 if row[x // 8] >> (7 - x % 8) & 1 else 0 for x in range(width))
    return bytes(pixels), width, height


def test_the_label_qr_code_leads_through_the_resolver_to_the_passport(
    labelled: dict[str, Any],
) -> None:
    client = Client()
    png = client.get(f"/passport/{labelled['lot']}/qr.png")
    assert png.status_code == 200
    assert png["Content-Type"] == "image/png"
    pixels, width, height = _png_grey(png.content)
    (barcode,) = zxingcpp.read_barcodes(memoryview(pixels).cast("B", (height, width)))
    assert barcode.text == f"http://testserver{LOT_PATH}"  # the Digital Link, not /passport/

    scanned = urlsplit(barcode.text)
    redirect = client.get(scanned.path)
    assert redirect.status_code == 307
    page = client.get(urlsplit(redirect["Location"]).path)
    assert page.status_code == 200
    assert "Cobalt ore, pit 7" in page.content.decode()

    # The pallet's label holds its SSCC; a resolver elsewhere is named when configured.
    with override_settings(RESOLVER_URL="https://id.example.com"):
        pallet = client.get(f"/passport/{labelled['pallet']}/qr.png")
    assert pallet["X-Label-URI"] == f"https://id.example.com/00/{SSCC}"
    assert client.get("/passport/987654/qr.png").status_code == 404


def test_a_lot_without_gs1_key_keeps_its_passport_address_on_the_label(
    network: Network,
) -> None:
    lot = done(
        network,
        lot_register(organisation=network.orgs["mine"], name="Ore", quantity=5, unit="g"),
    ).lot_id
    response = Client().get(f"/passport/{lot}/qr.png")
    assert response["X-Label-URI"] == f"http://testserver/passport/{lot}"


def test_without_a_registered_prefix_epcis_names_the_lot_by_its_gs1_uri(
    labelled: dict[str, Any], network: Network
) -> None:
    mine = network.orgs["mine"]
    mine.gs1_company_prefix = ""
    mine.save()
    epcis = Client().get(LOT_PATH, {"linkType": "gs1:epcis"})["Location"]
    assert parse_qs(urlsplit(epcis).query) == {
        "MATCH_anyEPCClass": ["https://id.gs1.org/01/04006381333931/10/L-7%2FA"]
    }
