from __future__ import annotations

from django.db import models


class LakeExportProgress(models.Model):
    """The progress of a running (or the last) lake export, shown on the admin."""

    name = models.CharField(max_length=64, unique=True)
    done = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = "lake export progress"

    def __str__(self) -> str:
        return f"{self.name}: {self.done}/{self.total}"
