"""API tokens: shown once (never in a cookie), read and write scopes, expiry, revocation,
and their management in the portal by organisation admins only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from contracts.chain.domain import Role
from webapp.organisations.models import ApiToken, Organisation
from webapp.organisations.services import api_token_create, member_invite, organisation_create

pytestmark = [pytest.mark.integration, pytest.mark.django_db]
PROBLEM = "application/problem+json"
PASSWORD = "correct-horse-battery"


@pytest.fixture
def orgs() -> dict[str, Organisation]:
    mine = organisation_create(name="Katanga Cobalt Mine", roles=Role.MINER, slug="mine")
    refinery = organisation_create(name="Nordic Refinery", roles=Role.MANUFACTURER, slug="refinery")
    member_invite(organisation=mine, username="mine-admin", password=PASSWORD, is_admin=True)
    member_invite(organisation=mine, username="mine-clerk", password=PASSWORD)
    member_invite(
        organisation=refinery, username="refinery-admin", password=PASSWORD, is_admin=True
    )
    return {"mine": mine, "refinery": refinery}


def person(username: str) -> Client:
    client = Client()
    assert client.login(username=username, password=PASSWORD)
    return client


def bearer(token: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def upload(client: Client, key: str = "k1") -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        "/api/v1/documents",
        {"file": SimpleUploadedFile("assay.pdf", b"%PDF assay " + key.encode())},
        HTTP_IDEMPOTENCY_KEY=key,
    )


def cookie_text(client: Client) -> str:
    return " ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items())


def test_the_admin_action_shows_the_token_once_on_a_no_store_page_never_in_a_cookie(
    orgs: dict[str, Organisation],
) -> None:
    get_user_model().objects.create_superuser("root", "root@example.org", PASSWORD)
    admin = person("root")
    response = admin.post(
        "/admin/organisations/organisation/",
        {"action": "create_api_token", "_selected_action": [orgs["mine"].pk]},
    )
    row = ApiToken.objects.get(organisation=orgs["mine"])
    assert response.status_code == 200
    body = response.content.decode()
    token = body.split('<code class="api-token">')[1].split("</code>")[0]
    assert token.startswith(row.prefix)
    assert len(token) > 30
    assert "no-store" in response["Cache-Control"]
    assert token not in cookie_text(admin)
    assert token not in str(response.cookies)
    # Nothing keeps it: the next page shows no token, and only its digest is stored.
    assert token not in admin.get("/admin/organisations/apitoken/").content.decode()
    assert row.digest != token
    assert token not in str(ApiToken.objects.values().get(pk=row.pk))
    assert bearer(token).get("/api/v1/operations").status_code == 200


def test_a_read_token_reads_but_every_write_is_403_problem_and_changes_nothing(
    orgs: dict[str, Organisation],
) -> None:
    read, _ = api_token_create(organisation=orgs["mine"], name="bi", scope="read")
    write, _ = api_token_create(organisation=orgs["mine"], name="erp", scope="write")
    assert bearer(read).get("/api/v1/operations").status_code == 200
    refused = upload(bearer(read))
    assert refused.status_code == 403
    assert refused["Content-Type"] == PROBLEM
    assert "read-only" in refused.json()["detail"]
    registered = bearer(read).post(
        "/api/v1/lots/register",
        {"name": "ore", "quantity": 1, "unit": "kg"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="r1",
    )
    assert registered.status_code == 403
    assert registered["Content-Type"] == PROBLEM
    from webapp.documents.models import Document
    from webapp.operations.models import Operation

    assert not Document.objects.exists()
    assert not Operation.objects.exists()
    assert upload(bearer(write)).status_code == 201


def test_an_expired_token_is_401_and_a_live_one_with_an_expiry_works(
    orgs: dict[str, Organisation],
) -> None:
    token, row = api_token_create(
        organisation=orgs["mine"], name="erp", expires_at=timezone.now() + timedelta(hours=1)
    )
    assert bearer(token).get("/api/v1/operations").status_code == 200
    ApiToken.objects.filter(pk=row.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = bearer(token).get("/api/v1/operations")
    assert expired.status_code == 401
    assert expired["Content-Type"] == PROBLEM
    assert "expired" in expired.json()["detail"]


def test_an_expiry_in_the_past_is_refused_and_makes_no_token(
    orgs: dict[str, Organisation],
) -> None:
    admin = person("mine-admin")
    response = admin.post(
        "/api-tokens", {"name": "erp", "scope": "write", "expires_on": "2001-01-01"}
    )
    assert response.status_code == 400
    assert b"The expiry must be in the future." in response.content
    assert not ApiToken.objects.exists()


def test_an_organisation_admin_creates_sees_once_lists_and_revokes_a_token(
    orgs: dict[str, Organisation],
) -> None:
    admin = person("mine-admin")
    expires = (timezone.now() + timedelta(days=400)).date()
    created = admin.post(
        "/api-tokens", {"name": "ERP", "scope": "read", "expires_on": expires.isoformat()}
    )
    assert created.status_code == 200
    assert "no-store" in created["Cache-Control"]
    token = created.content.decode().split('<code id="api-token">')[1].split("</code>")[0]
    assert token not in cookie_text(admin)
    row = ApiToken.objects.get(organisation=orgs["mine"])
    assert row.expires_at is not None
    assert (row.name, row.scope, row.expires_at.date()) == ("ERP", "read", expires)
    assert row.created_by is not None
    assert row.created_by.username == "mine-admin"

    assert bearer(token).get("/api/v1/operations").status_code == 200
    row.refresh_from_db()
    assert row.last_used_at is not None
    listing = admin.get("/api-tokens").content.decode()
    assert "ERP" in listing
    assert row.prefix in listing
    assert token not in listing
    assert timezone.localtime(row.last_used_at).strftime("%Y-%m-%d %H:%M") in listing

    revoked = admin.post(f"/api-tokens/{row.pk}/revoke")
    assert revoked.status_code == 302
    assert bearer(token).get("/api/v1/operations").status_code == 401
    assert "revoked" in admin.get("/api-tokens").content.decode()


def test_a_member_who_is_not_an_admin_cannot_manage_tokens(
    orgs: dict[str, Organisation],
) -> None:
    _, row = api_token_create(organisation=orgs["mine"], name="erp")
    clerk = person("mine-clerk")
    assert clerk.get("/api-tokens").status_code == 403
    assert clerk.post("/api-tokens", {"name": "mine", "scope": "write"}).status_code == 403
    assert clerk.post(f"/api-tokens/{row.pk}/revoke").status_code == 403
    row.refresh_from_db()
    assert row.revoked_at is None
    assert ApiToken.objects.count() == 1
    assert b"API tokens" not in clerk.get("/").content


def test_an_admin_of_one_organisation_cannot_see_or_revoke_another_organisations_token(
    orgs: dict[str, Organisation],
) -> None:
    token, row = api_token_create(organisation=orgs["mine"], name="mine erp")
    other = person("refinery-admin")
    assert "mine erp" not in other.get("/api-tokens").content.decode()
    assert other.post(f"/api-tokens/{row.pk}/revoke").status_code == 404
    row.refresh_from_db()
    assert row.revoked_at is None
    assert bearer(token).get("/api/v1/operations").status_code == 200


def test_a_tokens_last_use_is_written_at_most_once_a_minute(
    orgs: dict[str, Organisation],
) -> None:
    """A partner polling many times a second does not write its token's row each time."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    token, row = api_token_create(organisation=orgs["mine"], name="poller")
    client = bearer(token)

    def updates() -> int:
        with CaptureQueriesContext(connection) as sql:
            assert client.get("/api/v1/operations").status_code == 200
        return sum(q["sql"].startswith("UPDATE") for q in sql.captured_queries)

    assert [updates() for _ in range(3)] == [1, 0, 0]
    row.refresh_from_db()
    first = row.last_used_at
    assert first is not None
    ApiToken.objects.filter(pk=row.pk).update(last_used_at=first - timedelta(seconds=61))
    assert updates() == 1  # a minute on: written again
    row.refresh_from_db()
    assert row.last_used_at is not None
    assert row.last_used_at >= first
