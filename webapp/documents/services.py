"""Store uploaded documents by content hash; serve them only while the hash still holds."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile, File
from django.db import IntegrityError, transaction

from webapp.chain.models import ChainEvent
from webapp.documents.models import Document
from webapp.limits import MAX_DOCUMENT_BYTES
from webapp.operations.models import Operation
from webapp.organisations.models import Organisation

#: Files written inside the innermost `document_transaction()`, removed if it rolls back.
_written: ContextVar[list[str] | None] = ContextVar("documents_written", default=None)


class DocumentAltered(Exception):
    """The stored file no longer matches the hash recorded for it (and on chain)."""


@contextmanager
def document_transaction() -> Iterator[None]:
    """A database transaction that also owns the files uploaded inside it: when it rolls
    back (a service refused what the document came with), the files written in it are
    deleted with their rows, so a refused form leaves nothing stored."""
    written: list[str] = []
    token = _written.set(written)
    try:
        with transaction.atomic():
            yield
    except BaseException:
        _discard(written)
        raise
    finally:
        _written.reset(token)


def _discard(names: list[str]) -> None:
    storage = Document._meta.get_field("file").storage
    for name in names:
        if not Document.objects.filter(file=name).exists():
            storage.delete(name)


def _clean_name(name: str) -> str:
    cleaned = "".join(c for c in name if c.isprintable()).strip()
    return cleaned[:255] or "document"


def document_upload(
    *, organisation: Organisation, name: str, content: bytes | File[Any], content_type: str
) -> Document:
    """Keep a document; the same bytes uploaded twice by one organisation are one record
    (another organisation's upload of them is its own record).

    `content` is read in chunks (an upload may be a temporary file on disk): its size is
    checked before a byte is read and its hash computed while streaming."""
    upload = ContentFile(content) if isinstance(content, bytes) else content
    size = upload.size or 0
    if not size:
        raise ValidationError({"file": ["The file is empty."]})
    if size > MAX_DOCUMENT_BYTES:
        raise ValidationError(
            {"file": [f"Documents are limited to {MAX_DOCUMENT_BYTES // 2**20} MB."]}
        )
    hasher = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        hasher.update(chunk)
    digest = hasher.hexdigest()
    existing = Document.objects.filter(sha256=digest, uploaded_by=organisation).first()
    if existing is not None:
        return existing
    document = Document(
        sha256=digest,
        name=_clean_name(name),
        content_type=_clean_name(content_type)[:100]
        if content_type
        else "application/octet-stream",
        size=size,
        uploaded_by=organisation,
    )
    upload.seek(0)
    written = _written.get()
    try:
        with transaction.atomic():
            document.file.save(digest, upload, save=False)
            if written is not None:
                written.append(document.file.name)
            document.save()
    except IntegrityError:
        # The same bytes were stored by a concurrent upload: that one is the document.
        _discard([document.file.name])
        if written is not None and document.file.name in written:
            written.remove(document.file.name)
        return Document.objects.get(sha256=digest, uploaded_by=organisation)
    except BaseException:
        if written is None and document.file.name:
            _discard([document.file.name])
        raise
    return document


def document_read(*, document: Document) -> bytes:
    """The document's bytes, after checking they still hash to the recorded value."""
    with document.file.open("rb") as fh:
        content: bytes = fh.read()
    if hashlib.sha256(content).hexdigest() != document.sha256:
        raise DocumentAltered(
            f"{document.name}: the stored file does not match its recorded hash 0x{document.sha256}"
        )
    return content


def documents_discard(*, organisation: Organisation, sha256s: set[str]) -> int:
    """Remove documents an organisation uploaded for a record that never came to be (its
    operation failed), with their files, when nothing else refers to them: no operation
    that has not failed, no certificate on chain. The caller leaves out the documents a
    lot's metadata refers to (the lots app, which calls this: see
    `webapp.lots.services.leftovers`). Returns how many went."""
    removed = 0
    for digest in {d.lower().removeprefix("0x") for d in sha256s}:
        document = Document.objects.filter(sha256=digest, uploaded_by=organisation).first()
        if document is None:
            continue
        if (
            Operation.objects.exclude(status=Operation.Status.FAILED)
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
        transaction.on_commit(functools.partial(storage.delete, name))
        removed += 1
    return removed
