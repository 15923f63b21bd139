"""The Key Vault that holds the organisations' signing keys (PROVENANT_KEY_BACKEND=keyvault:
the app signs with `sign` calls and never sees a private key).

A lost signing key cannot be replaced on chain without the consortium re-admitting the
account, so the vault has every guard Azure offers: soft delete for the maximum 90 days,
purge protection (a deleted key cannot be purged before those 90 days, by anyone, and
purge protection cannot be turned off again), RBAC authorisation instead of access
policies, no public network access, `protect=True` and a CanNotDelete lock.

Managed HSM alternative: where keys must sit in a single-tenant HSM pool under the site's
own security domain, replace the vault with `keyvault.ManagedHsm` (sku Standard_B1,
`enable_purge_protection=True`, `soft_delete_retention_in_days=90`,
`public_network_access="Disabled"`, private endpoint group id "managedhsm", zone
privatelink.managedhsm.azure.net, the same lock and `protect`); the apps' settings do not
change (PROVENANT_KEY_VAULT_HSM=1 already asks for EC-HSM keys). A Managed HSM must be
activated by downloading its security domain (encrypted to a quorum of RSA keys held
offline) before it serves a key: an operator
ceremony, not a step for `pulumi up`. The Premium vault below already keeps HSM-protected
keys in HSMs, shared between tenants.
"""

from __future__ import annotations

from dataclasses import dataclass

from pulumi_azure_native import authorization, keyvault, resources

from deploy.azure.network import SiteNetwork, private_endpoint
from deploy.azure.protection import lock_against_deletion, protected

SOFT_DELETE_DAYS = 90


@dataclass(frozen=True)
class SiteVault:
    vault: keyvault.Vault


def vault_create(
    *, site: str, resource_group: resources.ResourceGroup, net: SiteNetwork
) -> SiteVault:
    client = authorization.get_client_config_output()
    vault = keyvault.Vault(
        "vault",
        resource_group_name=resource_group.name,
        vault_name=f"{site}-kv",
        properties=keyvault.VaultPropertiesArgs(
            tenant_id=client.tenant_id,
            # Premium: HSM-backed keys (EC-HSM on P-256K, the chain's curve).
            sku=keyvault.SkuArgs(family="A", name=keyvault.SkuName.PREMIUM),
            enable_rbac_authorization=True,
            enable_soft_delete=True,
            soft_delete_retention_in_days=SOFT_DELETE_DAYS,
            enable_purge_protection=True,
            public_network_access="Disabled",
            network_acls=keyvault.NetworkRuleSetArgs(default_action="Deny", bypass="None"),
            enabled_for_deployment=False,
            enabled_for_disk_encryption=False,
            enabled_for_template_deployment=False,
        ),
        opts=protected(),
    )
    lock_against_deletion("vault", vault, holds="the organisations' signing keys")
    private_endpoint(
        "vault", net=net, resource_group=resource_group, target=vault, group_id="vault"
    )
    return SiteVault(vault=vault)
