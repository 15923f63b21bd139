"""Onboarding people: an invitation link where the person sets their own password."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from contracts.chain.domain import Role
from webapp.organisations.models import Member
from webapp.organisations.services import organisation_create

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_an_invited_person_sets_a_password_and_logs_in() -> None:
    organisation_create(name="Katanga Cobalt Mine", roles=Role.MINER, slug="mine")
    out = StringIO()
    call_command("invite_member", "mine", "alice", "--base-url", "", stdout=out)
    link = out.getvalue().strip()
    assert Member.objects.get(user__username="alice").organisation.slug == "mine"
    client = Client()
    assert not client.login(username="alice", password="")
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    assert b"Set your password" in form_page.content
    done = client.post(
        form_page.redirect_chain[-1][0],
        {
            "new_password1": "a-long-unusual-passphrase",
            "new_password2": "a-long-unusual-passphrase",
        },
    )
    assert done.status_code == 302
    assert Client().login(username="alice", password="a-long-unusual-passphrase")
    # The link works once.
    assert b"no longer valid" in Client().get(link, follow=True).content


def test_inviting_into_an_unknown_organisation_or_a_taken_name_is_refused() -> None:
    organisation_create(name="Katanga Cobalt Mine", roles=Role.MINER, slug="mine")
    with pytest.raises(CommandError, match="no organisation 'nowhere'"):
        call_command("invite_member", "nowhere", "bob", stdout=StringIO())
    call_command("invite_member", "mine", "bob", stdout=StringIO())
    with pytest.raises(CommandError, match="taken"):
        call_command("invite_member", "mine", "bob", stdout=StringIO())
    assert Member.objects.count() == 1
