"""The signing accounts of the app's organisations, for the account allow-list.

An organisation signs with its current key and, during a key rotation, its pending one; both
must be allowed to send transactions. Django is imported here, inside the function, so the
generator runs without Django (or a database) unless `--accounts-from-app` is asked for;
DJANGO_SETTINGS_MODULE defaults to webapp.settings and DATABASE_URL names the app's database.
"""

from __future__ import annotations

import os

from deploy.besu.consortium import ConsortiumError
from deploy.besu.keys import InvalidKey, checked_address


def app_signing_accounts() -> list[str]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    import django
    from django.core.exceptions import ImproperlyConfigured
    from django.db import DatabaseError

    try:
        django.setup()
        from webapp.organisations.models import Organisation, OrganisationKey

        addresses = set(Organisation.objects.exclude(address="").values_list("address", flat=True))
        addresses |= set(
            OrganisationKey.objects.exclude(status=OrganisationKey.Status.RETIRED).values_list(
                "address", flat=True
            )
        )
    except (DatabaseError, ImproperlyConfigured) as exc:
        raise ConsortiumError(
            f"cannot read the app's organisations ({exc}); set DATABASE_URL to the app's "
            "database and DJANGO_SETTINGS_MODULE (default webapp.settings)"
        ) from None
    if not addresses:
        raise ConsortiumError("the app's organisations have no signing address yet")
    try:
        return sorted({checked_address(a) for a in addresses})
    except InvalidKey as exc:
        raise ConsortiumError(f"an organisation in the app has a bad address: {exc}") from None
