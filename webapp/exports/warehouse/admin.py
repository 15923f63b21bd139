"""The warehouse rebuild's progress line on the admin (read-only)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from webapp.exports.warehouse.models import WarehouseProgress


@admin.register(WarehouseProgress)
class WarehouseProgressAdmin(admin.ModelAdmin):
    list_display = ("name", "done", "total", "started_at", "updated_at", "finished")
    readonly_fields = ("name", "done", "total", "started_at", "updated_at", "finished")

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
