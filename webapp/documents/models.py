"""Documents: the file lives here, its SHA-256 goes on chain (in a lot's metadata or as a
certificate's document hash), and every download checks the file still matches it.

A record is one organisation's upload: the same bytes uploaded by another organisation
are another record, with that organisation's file name and time, so an upload never
reveals who else has the document (who may read which: `webapp.documents.selectors`)."""

from __future__ import annotations

from django.db import models


class Document(models.Model):
    sha256 = models.CharField(max_length=64, db_index=True)
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    file = models.FileField(upload_to="documents/")
    uploaded_by = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="documents"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sha256", "uploaded_by"], name="document_per_uploader")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.sha256[:12]}…)"

    @property
    def hash_hex(self) -> str:
        return "0x" + self.sha256
