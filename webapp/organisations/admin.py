"""Onboarding in the admin: create the organisation, then the actions 'Create signing key',
'Register on chain' and 'Create API token'; invite people with `manage.py invite_member`."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from webapp.organisations.models import ApiToken, Member, Organisation
from webapp.organisations.services import (
    api_token_create,
    organisation_create_key,
    organisation_register,
)


class MemberInline(admin.TabularInline):
    model = Member
    extra = 0


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "role_list", "address", "key_backend", "is_operator"]
    readonly_fields = ["address", "key_reference"]
    inlines = [MemberInline]
    actions = ["create_key", "register_on_chain", "create_api_token"]

    @admin.display(description="roles")
    def role_list(self, obj: Organisation) -> str:
        return ", ".join(obj.role_names)

    @admin.action(description="Create signing key in its key store")
    def create_key(self, request: HttpRequest, queryset: QuerySet[Organisation]) -> None:
        for org in queryset:
            try:
                address = organisation_create_key(organisation=org)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
            else:
                self.message_user(request, f"{org.name}: key created, address {address}")

    @admin.action(description="Register on chain with its roles (signed by the operator)")
    def register_on_chain(self, request: HttpRequest, queryset: QuerySet[Organisation]) -> None:
        for org in queryset:
            try:
                operation = organisation_register(organisation=org, user=request.user)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
            else:
                self.message_user(request, f"{org.name}: registration {operation.status}")

    @admin.action(description="Create an API token (shown once)")
    def create_api_token(self, request: HttpRequest, queryset: QuerySet[Organisation]) -> None:
        for org in queryset:
            token, _ = api_token_create(organisation=org, name=f"created by {request.user}")
            self.message_user(request, f"{org.name}: API token {token} (copy it now)")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["organisation", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "digest", "last_used_at"]
