"""Erasure in the admin: 'Forget' on data subjects, 'Shred' on retention periods, and the
read-only log of every access to personal data."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from webapp.privacy.models import DataSubject, PersonalDataAccess, RetentionPeriod
from webapp.privacy.services import period_shred, subject_forget


@admin.register(DataSubject)
class DataSubjectAdmin(admin.ModelAdmin):
    list_display = ["id", "organisation", "period", "created_at", "forgotten_at"]
    list_filter = ["organisation", "period"]
    search_fields = ["id"]
    readonly_fields = ["organisation", "wrapping_key", "period", "created_at", "forgotten_at"]
    actions = ["forget"]

    @admin.action(description="Forget (destroy the data key; irreversible)")
    def forget(self, request: HttpRequest, queryset: QuerySet[DataSubject]) -> None:
        for subject in queryset:
            subject_forget(subject_id=str(subject.id))
        self.message_user(request, f"{queryset.count()} data subject(s) erased", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(RetentionPeriod)
class RetentionPeriodAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at", "shredded_at"]
    readonly_fields = ["name", "wrapping_key", "created_at", "shredded_at"]
    actions = ["shred"]

    @admin.action(description="Shred (erase every subject of the period; irreversible)")
    def shred(self, request: HttpRequest, queryset: QuerySet[RetentionPeriod]) -> None:
        for period in queryset:
            period_shred(name=period.name)
        self.message_user(request, f"{queryset.count()} period(s) shredded", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(PersonalDataAccess)
class PersonalDataAccessAdmin(admin.ModelAdmin):
    list_display = ["at", "subject_id", "field", "user", "organisation", "purpose", "outcome"]
    list_filter = ["outcome", "organisation"]
    search_fields = ["subject_id", "purpose"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
