"""Provenance keeps no facts of its own: lineage is read from the projections through the
`provenance_lineage_edge` view (see migration 0001). What it stores is what it told people:
notifications to the holders of lots that a revoked certificate affects."""

from __future__ import annotations

from django.db import models

from webapp.organisations.models import Organisation


class Notification(models.Model):
    """A message for an organisation's members in the portal.

    Unique on (organisation, key): the key names the fact that caused it (e.g.
    ``revoked:7:401`` = certificate 7's revocation reached lot 401), so replaying the
    events that produce notifications never doubles one.
    """

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE)
    key = models.CharField(max_length=200)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    link = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "key"], name="notification_unique_key")
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.subject
