"""The admin shows mirrored chain data but never edits it, and never deletes an
organisation (an organisation leaves by being deactivated or suspended on chain)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from contracts.chain.domain import Role
from webapp.chain.models import Block, ChainEvent, Checkpoint, ConsumerCursor, ParkedLog
from webapp.organisations.models import Organisation
from webapp.organisations.services import organisation_create

pytestmark = [pytest.mark.integration, pytest.mark.django_db]
PASSWORD = "a-long-Root-pass-9"
MIRRORED_APPS = {"chain", "projections", "passport"}
HASH = "0x" + "ab" * 32
ADDRESS = "0x" + "12" * 20
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def mirrored_models() -> list[type[Model]]:
    return [m for m in admin.site._registry if m._meta.app_label in MIRRORED_APPS]


@pytest.fixture
def root() -> Client:
    get_user_model().objects.create_superuser("root", "root@example.org", PASSWORD)
    client = Client()
    assert client.login(username="root", password=PASSWORD)
    return client


@pytest.fixture
def rows() -> list[Model]:
    return [
        Block.objects.create(chain_id=1, number=7, hash=HASH, parent_hash=HASH, timestamp=WHEN),
        ChainEvent.objects.create(
            chain_id=1,
            block_number=7,
            block_hash=HASH,
            block_timestamp=WHEN,
            transaction_hash=HASH,
            transaction_index=0,
            log_index=0,
            contract="LotRegistry",
            address=ADDRESS,
            event="LotRegistered",
            args={"lotId": 1},
            content_hash=HASH,
            running_hash=HASH,
        ),
        Checkpoint.objects.create(chain_id=1, block_number=7, block_hash=HASH),
        ParkedLog.objects.create(
            chain_id=1,
            block_number=7,
            block_hash=HASH,
            transaction_hash=HASH,
            log_index=1,
            address=ADDRESS,
            topics=[HASH],
            data="0x",
            error="unknown event",
        ),
        ConsumerCursor.objects.create(chain_id=1, name="recorder"),
    ]


def url(model: type[Model], view: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_every_mirrored_model_in_the_admin_is_view_only() -> None:
    """Fails as soon as a model of the chain, projections or passport apps is registered
    with add, change or delete allowed."""
    models = mirrored_models()
    assert {Block, ChainEvent, Checkpoint, ParkedLog, ConsumerCursor} <= set(models)
    request = type("Request", (), {"user": get_user_model()(is_superuser=True, is_active=True)})
    writable = [
        m.__name__
        for m in models
        if admin.site._registry[m].has_add_permission(request)  # type: ignore[arg-type]
        or admin.site._registry[m].has_change_permission(request)  # type: ignore[arg-type]
        or admin.site._registry[m].has_delete_permission(request)  # type: ignore[arg-type]
    ]
    assert writable == []


def test_a_superuser_cannot_add_mirrored_rows(root: Client) -> None:
    for model in mirrored_models():
        assert root.get(url(model, "add")).status_code == 403, model.__name__
        assert root.post(url(model, "add"), {}).status_code == 403, model.__name__


def test_mirrored_rows_show_without_a_save_button_and_a_post_changes_nothing(
    root: Client, rows: list[Model]
) -> None:
    for row in rows:
        model = type(row)
        page = root.get(url(model, "change", row.pk))
        assert page.status_code == 200, model.__name__
        assert 'name="_save"' not in page.content.decode(), model.__name__
        before = model.objects.filter(pk=row.pk).values().get()
        edited = {name: "0" for name in before if name != "id"}
        assert root.post(url(model, "change", row.pk), edited).status_code == 403
        assert root.post(url(model, "delete", row.pk), {"post": "yes"}).status_code == 403
        assert model.objects.filter(pk=row.pk).values().get() == before


def test_mirrored_changelists_render_without_the_delete_action(
    root: Client, rows: list[Model]
) -> None:
    for model in mirrored_models():
        page = root.get(url(model, "changelist"))
        assert page.status_code == 200, model.__name__
        body = page.content.decode()
        assert "delete_selected" not in body, model.__name__
        assert url(model, "add") not in body, model.__name__
    cursors = root.get(url(ConsumerCursor, "changelist")).content.decode()
    assert 'value="unpark"' in cursors  # the safe action stays


def test_the_delete_selected_action_is_refused_on_mirrored_rows(
    root: Client, rows: list[Model]
) -> None:
    block = next(r for r in rows if isinstance(r, Block))
    response = root.post(
        url(Block, "changelist"),
        {"action": "delete_selected", "_selected_action": [block.pk], "post": "yes"},
    )
    assert response.status_code in (200, 302)
    assert Block.objects.filter(pk=block.pk).exists()


def test_an_organisation_cannot_be_deleted_from_the_admin(root: Client) -> None:
    org = organisation_create(name="Katanga Cobalt Mine", roles=Role.MINER, slug="mine")
    changelist = root.get(url(Organisation, "changelist"))
    assert changelist.status_code == 200
    assert "delete_selected" not in changelist.content.decode()
    assert 'value="create_api_token"' in changelist.content.decode()
    change = root.get(url(Organisation, "change", org.pk))
    assert change.status_code == 200
    assert 'name="_save"' in change.content.decode()  # still editable
    assert url(Organisation, "delete", org.pk) not in change.content.decode()
    assert root.get(url(Organisation, "delete", org.pk)).status_code == 403
    assert root.post(url(Organisation, "delete", org.pk), {"post": "yes"}).status_code == 403
    bulk = root.post(
        url(Organisation, "changelist"),
        {"action": "delete_selected", "_selected_action": [org.pk], "post": "yes"},
    )
    assert bulk.status_code in (200, 302)
    assert Organisation.objects.filter(pk=org.pk).exists()
