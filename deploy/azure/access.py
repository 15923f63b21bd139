"""Who may use what: the container apps run as user-assigned managed identities (no
passwords or connection strings for the vault or the storage accounts) with the narrowest
built-in roles that let them work.

Two identities, because only one process creates keys: an organisation's signing key is
created from the web app (the admin action and `add_organisation`, run in the web
container), so "web" may manage keys (Key Vault Crypto Officer); every other process only
signs, wraps and unwraps with existing keys (Key Vault Crypto User). Deleting a key is
recoverable either way: soft delete and purge protection keep it for 90 days.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization, managedidentity, resources

#: Azure's built-in role ids (the same in every tenant).
KEY_VAULT_CRYPTO_OFFICER = "14b46e9e-c2b7-41b4-b07b-48a6ebf60603"
KEY_VAULT_CRYPTO_USER = "12338af0-0e69-4776-bea7-57ae8d297424"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"

#: Processes that run as the key-managing identity; all others run as "workers".
KEY_ADMIN_PROCESSES = frozenset({"web"})


@dataclass(frozen=True)
class SiteIdentities:
    web: managedidentity.UserAssignedIdentity
    workers: managedidentity.UserAssignedIdentity

    def for_process(self, name: str) -> managedidentity.UserAssignedIdentity:
        return self.web if name in KEY_ADMIN_PROCESSES else self.workers


def _grant(
    name: str,
    *,
    identity: managedidentity.UserAssignedIdentity,
    role: str,
    scope: pulumi.CustomResource,
    subscription_id: pulumi.Output[str],
) -> authorization.RoleAssignment:
    return authorization.RoleAssignment(
        name,
        principal_id=identity.principal_id,
        principal_type="ServicePrincipal",
        role_definition_id=subscription_id.apply(
            lambda sub: (
                f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{role}"
            )
        ),
        scope=scope.id,
    )


def identities_create(
    *,
    site: str,
    resource_group: resources.ResourceGroup,
    vault: pulumi.CustomResource,
    accounts: dict[str, pulumi.CustomResource],
) -> SiteIdentities:
    identities = SiteIdentities(
        web=managedidentity.UserAssignedIdentity(
            "identity-web", resource_group_name=resource_group.name, resource_name_=f"{site}-web"
        ),
        workers=managedidentity.UserAssignedIdentity(
            "identity-workers",
            resource_group_name=resource_group.name,
            resource_name_=f"{site}-workers",
        ),
    )
    subscription_id = authorization.get_client_config_output().subscription_id
    _grant("web-keys", identity=identities.web, role=KEY_VAULT_CRYPTO_OFFICER, scope=vault,
           subscription_id=subscription_id)  # fmt: skip
    _grant("workers-keys", identity=identities.workers, role=KEY_VAULT_CRYPTO_USER, scope=vault,
           subscription_id=subscription_id)  # fmt: skip
    for account_name, account in accounts.items():
        for who, identity in (("web", identities.web), ("workers", identities.workers)):
            _grant(
                f"{who}-{account_name}-blobs",
                identity=identity,
                role=STORAGE_BLOB_DATA_CONTRIBUTOR,
                scope=account,
                subscription_id=subscription_id,
            )
    return identities
