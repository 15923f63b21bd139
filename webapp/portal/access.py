"""Who is asking, and what their organisation may do.

`ACTIONS` is the one table of portal actions and the roles each needs: the navigation and
the handoff lists show only what it allows, every action view checks it before showing a
form, and the tests crawl the portal against it. The roles mirror the contracts' own
checks (`_requireActor` in Lots.sol, `checkActor` in Certificates.sol): a role the table
allows and the chain refuses would show a form that can only fail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from contracts.chain.domain import Role
from webapp.organisations.models import Organisation
from webapp.organisations.selectors import member_is_admin, organisation_of_user

#: Roles that take custody of material: they hold, hand off, receive, pack and unpack lots.
CUSTODIANS = Role.MINER | Role.MANUFACTURER | Role.DISTRIBUTOR | Role.RETAILER
#: Roles that make new material: register lots and record transformations.
MAKERS = Role.MINER | Role.MANUFACTURER


@dataclass(frozen=True)
class Action:
    roles: Role
    #: What the action is, as the start of a sentence ("Registering lots needs ...").
    doing: str
    #: Open to every member whatever the organisation's roles: the organisation's own
    #: integration settings, not a fact on chain (the API lets any member or token of
    #: the organisation do the same).
    any_member: bool = False


#: Every role: with `any_member`, an action no role restricts.
EVERY_ROLE = Role(sum(Role))


#: Portal URL name (in the `portal` namespace) -> the roles allowed to perform it.
ACTIONS: dict[str, Action] = {
    "lot-register": Action(MAKERS, "Registering lots"),
    "transform": Action(MAKERS, "Recording transformations"),
    "handoff-initiate": Action(CUSTODIANS, "Handing lots off"),
    "handoff-accept": Action(CUSTODIANS, "Accepting handoffs"),
    "handoff-reject": Action(CUSTODIANS, "Rejecting handoffs"),
    "handoff-cancel": Action(CUSTODIANS, "Cancelling handoffs"),
    "bundle": Action(CUSTODIANS, "Packing bundles"),
    "unbundle": Action(CUSTODIANS, "Unpacking bundles"),
    "certificate": Action(Role.CERTIFIER, "Issuing certificates"),
    "certificate-revoke": Action(Role.CERTIFIER, "Revoking certificates"),
    "acceptance-policy": Action(CUSTODIANS, "Setting an acceptance policy"),
    # Event subscriptions (webhooks): what the subscriptions API allows any member.
    **{
        name: Action(EVERY_ROLE, "Managing event subscriptions", any_member=True)
        for name in (
            "subscription-create",
            "subscription-edit",
            "subscription-pause",
            "subscription-resume",
            "subscription-rewind",
            "subscription-rotate",
            "subscription-test",
            "subscription-delete",
            "dead-letter-replay",
            "dead-letters-replay",
        )
    },
}


def role_list(roles: Role | int) -> str:
    """'MINER', 'MINER or MANUFACTURER', 'MINER, MANUFACTURER or RETAILER'."""
    names = [r.name or "" for r in Role if int(roles) & r]
    if len(names) < 2:
        return "".join(names)
    return ", ".join(names[:-1]) + " or " + names[-1]


def allowed(organisation: Organisation, action: str) -> bool:
    entry = ACTIONS[action]
    return entry.any_member or bool(organisation.roles & entry.roles)


def allowed_actions(organisation: Organisation) -> frozenset[str]:
    """The URL names of every action the organisation's roles allow."""
    return frozenset(name for name in ACTIONS if allowed(organisation, name))


def refusal(organisation: Organisation, action: str) -> str:
    """Why the organisation may not perform `action`, in plain words."""
    entry = ACTIONS[action]
    held = ", ".join(organisation.role_names) or "no role"
    return (
        f"{entry.doing} needs the {role_list(entry.roles)} role; {organisation.name} holds {held}."
    )


def requires(action: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Refuse, with a 403 page that says why, a request for an action the organisation's
    roles do not allow: before the form is shown, and before anything is written."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            organisation = organisation_of(request)
            if not allowed(organisation, action):
                return render(
                    request,
                    "portal/forbidden.html",
                    {"reason": refusal(organisation, action), "organisation": organisation},
                    status=403,
                )
            return view(request, *args, **kwargs)

        return checked

    return decorate


def organisation_of(request: HttpRequest) -> Organisation:
    organisation = organisation_of_user(request.user)
    if organisation is None:
        raise PermissionDenied("Your account does not belong to an organisation.")
    return organisation


def organisation_admin_of(request: HttpRequest) -> Organisation:
    """The organisation of a person who administers it (manages its API tokens)."""
    organisation = organisation_of(request)
    if not member_is_admin(request.user):
        raise PermissionDenied(f"Only {organisation.name}'s admins manage its API tokens.")
    return organisation
