"""What one input may hold, in one place: the forms, the API serializers, the JSON parser and
the upload handler all read their bounds from here.

Numbers bound by the contracts' types: ids and quantities are uint256, certificate validity
times uint40 seconds, claim values int256 (and the claims themselves have domain ranges).

List lengths are bound by what one transaction can carry. Measured on the local anvil node
(block gas limit 30,000,000): a bundle costs about 51,000 gas per lot packed for the first
time (the link each lot keeps to the bundles holding it, so a quarantine reaches through
them; 200 lots: 10.1 M gas, 120 lots: about 6.1 M); a transformation about 32,000 gas per
input and per output (100 in, 100 out: 6.5 M gas). The bounds below keep every write, with
the submitter's 20 % headroom, under a third of a block (tests/webapp/test_hardening_inputs.py
sends the largest of each).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

UINT256_MAX = 2**256 - 1
UINT40_MAX = 2**40 - 1

#: Largest lot, bundle, handoff or certificate id a write may name (uint256).
MAX_ID = UINT256_MAX
#: Largest quantity: the Lots contract keeps a lot's quantity in a uint240 (QuantityTooLarge).
MAX_QUANTITY = 2**240 - 1


def id_bounds() -> dict[str, Any]:
    """Keyword arguments of an id field (a form's or a serializer's IntegerField)."""
    return {
        "min_value": 1,
        "max_value": MAX_ID,
        "error_messages": {
            "min_value": "An id is a whole number greater than zero.",
            "max_value": "No id on the chain is that large (at most 2^256 - 1).",
        },
    }


QUANTITY_TOO_LARGE = "The quantity is too large (at most 2^240 - 1 base units)."


def quantity_bounds() -> dict[str, Any]:
    """Keyword arguments of a quantity field (a form's or a serializer's IntegerField)."""
    return {
        "min_value": 1,
        "max_value": MAX_QUANTITY,
        "error_messages": {
            "min_value": "The quantity must be a whole number greater than zero.",
            "max_value": QUANTITY_TOO_LARGE,
        },
    }


#: Block numbers in queries (they are stored as bigint).
MAX_BLOCK_NUMBER = 2**63 - 1
#: Self-declared and certified claims: grams of CO2e per unit and recycled content in ‰.
MAX_CO2E_G_PER_UNIT = 10**12
MAX_RECYCLED_PERMILLE = 1000

#: Certificates are valid within this window (validity is uint40 seconds on chain; a
#: date before 1970 cannot be encoded at all).
EARLIEST_CERTIFICATE_DATE = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_CERTIFICATE_DATE = datetime(2199, 12, 31, 23, 59, 59, tzinfo=UTC)

#: Lots in one bundle; inputs and outputs of one transformation (see the gas figures above).
MAX_BUNDLE_ITEMS = 120
MAX_TRANSFORMATION_INPUTS = 100
MAX_TRANSFORMATION_OUTPUTS = 100
#: Documents referenced by one lot registration.
MAX_LOT_DOCUMENTS = 20

#: Text lengths (characters).
MAX_NAME_LENGTH = 200
MAX_UNIT_LENGTH = 20
MAX_DESCRIPTION_LENGTH = 4000
MAX_REASON_LENGTH = 500
MAX_PROCESS_LENGTH = 500
MAX_CODE_LENGTH = 40  # GTIN, batch, SSCC, data subject ids
MAX_PERSONAL_FIELD_LENGTH = 500
MAX_PERSONAL_FIELDS = 10
MAX_IDEMPOTENCY_KEY_LENGTH = 255

#: JSON request bodies of the API, and the JSON files dropped on /verify.
MAX_JSON_BODY_BYTES = 1024 * 1024
MAX_JSON_BODY_DEPTH = 32
MAX_VERIFY_BYTES = 20 * 1024 * 1024
MAX_VERIFY_DEPTH = 64

#: Uploaded documents; a request carrying one may add this much for its other fields.
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
MAX_UPLOAD_REQUEST_BYTES = MAX_DOCUMENT_BYTES + 1024 * 1024

#: The interpreter's recursion limit once the imports are done (see webapp/startup.py).
RECURSION_LIMIT = 2000

#: Batch imports (webapp/imports): the file, its rows, columns and cells. An XLSX file is a
#: zip archive: what it unpacks to is bounded too, before a sheet is read.
MAX_IMPORT_BYTES = 10 * 1024 * 1024
MAX_IMPORT_UNPACKED_BYTES = 100 * 1024 * 1024
MAX_IMPORT_ROWS = 10_000
MAX_IMPORT_COLUMNS = 30
MAX_IMPORT_CELL_LENGTH = MAX_DESCRIPTION_LENGTH
