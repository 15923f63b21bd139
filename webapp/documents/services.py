"""Store uploaded documents by content hash; serve them only while the hash still holds."""

from __future__ import annotations

import hashlib

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction

from webapp.chain.models import ChainEvent
from webapp.documents.models import Document
from webapp.lots.models import LotMetadata
from webapp.operations.models import Operation
from webapp.organisations.models import Organisation

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024


class DocumentAltered(Exception):
    """The stored file no longer matches the hash recorded for it (and on chain)."""


def document_upload(
    *, organisation: Organisation, name: str, content: bytes, content_type: str
) -> Document:
    """Keep a document; the same bytes uploaded twice are one document."""
    if not content:
        raise ValidationError({"file": ["The file is empty."]})
    if len(content) > MAX_DOCUMENT_BYTES:
        raise ValidationError({"file": ["Documents are limited to 20 MB."]})
    digest = hashlib.sha256(content).hexdigest()
    existing = Document.objects.filter(sha256=digest).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        document = Document(
            sha256=digest,
            name=name[:255] or "document",
            content_type=content_type or "application/octet-stream",
            size=len(content),
            uploaded_by=organisation,
        )
        document.file.save(f"{digest}", ContentFile(content), save=False)
        document.save()
    return document


def document_read(*, document: Document) -> bytes:
    """The document's bytes, after checking they still hash to the recorded value."""
    with document.file.open("rb") as fh:
        content = fh.read()
    if hashlib.sha256(content).hexdigest() != document.sha256:
        raise DocumentAltered(
            f"{document.name}: the stored file does not match its recorded hash 0x{document.sha256}"
        )
    return content


def documents_discard(*, organisation: Organisation, sha256s: set[str]) -> int:
    """Remove documents an organisation uploaded for a record that never came to be (its
    operation failed), with their files, when nothing else refers to them: no lot's
    metadata, no operation that has not failed, no certificate on chain. Returns how many
    went."""
    removed = 0
    for digest in {d.lower().removeprefix("0x") for d in sha256s}:
        document = Document.objects.filter(sha256=digest, uploaded_by=organisation).first()
        if document is None:
            continue
        if (
            LotMetadata.objects.filter(document__icontains=digest).exists()
            or Operation.objects.exclude(status=Operation.Status.FAILED)
            .filter(request__icontains=digest)
            .exists()
            or ChainEvent.objects.filter(
                event="CertificateIssued", args__documentHash="0x" + digest
            ).exists()
        ):
            continue
        storage, name = document.file.storage, document.file.name
        document.delete()
        # The file goes once the row's removal is committed: a rollback keeps both.
        transaction.on_commit(lambda storage=storage, name=name: storage.delete(name))
        removed += 1
    return removed
