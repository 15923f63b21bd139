"""Documents: the file lives here, its SHA-256 goes on chain (in a lot's metadata or as a
certificate's document hash), and every download checks the file still matches it."""

from __future__ import annotations

from django.db import models


class Document(models.Model):
    sha256 = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    file = models.FileField(upload_to="documents/")
    uploaded_by = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="documents"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.sha256[:12]}…)"

    @property
    def hash_hex(self) -> str:
        return "0x" + self.sha256
