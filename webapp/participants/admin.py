"""The organisations' admin, with the participants above the operations app because its
actions queue chain operations. Onboarding: create the organisation, then the actions
'Create signing key', 'Register on chain' and 'Create API token'; invite people with
`manage.py invite_member`."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers, patch_cache_control

from webapp.organisations.models import ApiToken, Member, Organisation, OrganisationKey, Site
from webapp.organisations.services import api_token_create, organisation_create_key
from webapp.participants.rotation import organisation_rotate_key, organisation_rotation_advance
from webapp.participants.services import organisation_register


class MemberInline(admin.TabularInline):
    model = Member
    extra = 0


class SiteInline(admin.TabularInline):
    model = Site
    extra = 0
    fields = ("name", "gln", "extension")


class KeyInline(admin.TabularInline):
    model = OrganisationKey
    extra = 0
    fields = ("address", "backend", "reference", "status", "created_at", "retired_at")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "role_list", "address", "key_backend", "is_operator"]
    readonly_fields = ["address"]

    inlines = [MemberInline, SiteInline, KeyInline]
    actions = [
        "create_key",
        "register_on_chain",
        "create_api_token",
        "rotate_key",
        "advance_rotation",
    ]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        """Never deleted: its address, roles and history stay on the chain, so an
        organisation leaves by being deactivated or suspended there, not by a row going."""
        return False

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        """key_backend: the key store the next key (first or rotated) is created in."""
        if db_field.name == "key_backend":
            return forms.ChoiceField(
                choices=[(name, name) for name in settings.KEY_STORE_BACKENDS],
                initial=settings.KEY_BACKEND,
                help_text="Where the organisation's next signing key is generated.",
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

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

    @admin.action(description="Rotate the signing key (new key in its chosen key store)")
    def rotate_key(self, request: HttpRequest, queryset: QuerySet[Organisation]) -> None:
        for org in queryset:
            try:
                key = organisation_rotate_key(organisation=org, user=request.user)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
            else:
                self.message_user(
                    request, f"{org.name}: new key {key.address} queued for registration"
                )

    @admin.action(description="Continue the key rotation (switch, move holdings, retire)")
    def advance_rotation(self, request: HttpRequest, queryset: QuerySet[Organisation]) -> None:
        for org in queryset:
            try:
                state = organisation_rotation_advance(organisation=org, user=request.user)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
            else:
                self.message_user(request, f"{org.name}: {state}")

    @admin.action(description="Create an API token (shown once)")
    def create_api_token(
        self, request: HttpRequest, queryset: QuerySet[Organisation]
    ) -> HttpResponse:
        """The tokens go into this one response, never into a message (the messages
        cookie is signed, not encrypted) and never into any cache."""
        created = []
        for org in queryset:
            token, row = api_token_create(
                organisation=org, name=f"created by {request.user}", created_by=request.user
            )
            created.append((row, token))
        response = render(
            request,
            "admin/organisations/api_tokens_created.html",
            {**self.admin_site.each_context(request), "created": created},
        )
        add_never_cache_headers(response)
        patch_cache_control(response, no_store=True, private=True)
        return response


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = [
        "organisation",
        "name",
        "prefix",
        "scope",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    readonly_fields = ["prefix", "digest", "last_used_at", "created_by"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tokens are made by the organisation action or the portal, shown once
