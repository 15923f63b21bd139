"""A running search rebuild's progress line on the admin (read-only)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from webapp.exports.search.models import ReindexCursor


@admin.register(ReindexCursor)
class ReindexProgressAdmin(admin.ModelAdmin):
    list_display = ("kind", "indexed", "total", "last", "done", "updated_at")
    readonly_fields = ("kind", "indexed", "total", "last", "done", "updated_at")

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
