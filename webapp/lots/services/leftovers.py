"""What a failed operation recorded off chain for itself alone, removed when it fails.

The operations app runs this as one of its failure hooks (registered in
``LotsConfig.ready``): it knows operations, not what lots, personal data and documents
were recorded for one.
"""

from __future__ import annotations

from webapp.documents.services import documents_discard
from webapp.lots.models import LotMetadata
from webapp.lots.services.lots import lot_metadata_discard
from webapp.operations.calls import ContractCall, Unencodable
from webapp.operations.models import Operation
from webapp.privacy.services import personal_discard


def created_lot_ids(call: ContractCall) -> list[int]:
    """The lot ids a contract call creates (registration, bundle, transformation outputs)."""
    if call.function in {"registerLot", "bundle"}:
        return [int(call.args[0])]
    if call.function == "transform":
        return [int(output[0]) for output in call.args[2]]
    return []


def operation_leftovers_discard(*, operation: Operation) -> None:
    """Remove what a failed operation recorded off chain for itself alone: the metadata
    documents of the lots it would have created, the personal data sealed for them (and
    subjects left with nothing), and documents uploaded for it that nothing else refers to.
    Anything the chain holds, or another operation or lot still refers to, stays."""
    try:
        created = created_lot_ids(ContractCall.from_json(operation.call))
    except Unencodable:  # a call that never fit its contract created nothing
        created = []
    documents = lot_metadata_discard(chain_id=operation.chain_id, lot_ids=created)
    hashes: set[str] = set()
    for document in documents:
        personal = document.get("personal")
        if isinstance(personal, dict):
            personal_discard(refs=personal)
        hashes |= {str(d) for d in document.get("documents") or [] if isinstance(d, str)}
    request = operation.request or {}
    if isinstance(request.get("documents"), list):
        hashes |= {str(d) for d in request["documents"] if isinstance(d, str)}
    if isinstance(request.get("document"), str):
        hashes.add(request["document"])
    # A document another lot's metadata names stays (documents_discard checks the rest).
    unreferenced = {
        h
        for h in hashes
        if not LotMetadata.objects.filter(document__icontains=h.lower().removeprefix("0x")).exists()
    }
    if unreferenced:
        documents_discard(organisation=operation.organisation, sha256s=unreferenced)
