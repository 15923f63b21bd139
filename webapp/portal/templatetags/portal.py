"""Small template helpers for the portal."""

from __future__ import annotations

import uuid
from typing import Any

from django import template

from webapp import formatting
from webapp.certificates.selectors import certificate_type_name
from webapp.lots.selectors import metadata_for
from webapp.operations.selectors import operation_reason_for_user
from webapp.organisations.selectors import organisation_of_user
from webapp.portal.access import allowed_actions as actions_of

register = template.Library()


@register.filter
def get(mapping: dict[str, Any], key: Any) -> Any:
    return mapping.get(key) if mapping else None


@register.simple_tag
def uuid_key() -> str:
    """A fresh idempotency key for a one-button form."""
    return uuid.uuid4().hex


@register.filter
def ascii32(value: str) -> str:
    """A bytes32 hex value holding a short ASCII name (certificate types)."""
    return certificate_type_name(value)


register.filter("percent", formatting.percent)


@register.filter
def user_reason(reason: str) -> str:
    """An operation's error or waiting reason without server paths or key-store detail."""
    return operation_reason_for_user(reason or "")


@register.simple_tag(takes_context=True)
def allowed_actions(context: Any) -> frozenset[str]:
    """The portal actions (URL names, see `webapp.portal.access.ACTIONS`) the signed-in
    person's organisation may perform: `{% allowed_actions as can %}` then
    `{% if "bundle" in can %}`."""
    request = context.get("request")
    user = getattr(request, "user", None)
    organisation = organisation_of_user(user) if user is not None else None
    return actions_of(organisation) if organisation is not None else frozenset()


@register.filter
def handoff_quantity(handoff: Any) -> str:
    """A handoff's quantity in its lot's unit ("400 kg")."""
    metadata = metadata_for([handoff.lot_id]).get(int(handoff.lot_id))
    return formatting.quantity(handoff.quantity, metadata.unit if metadata else "")
