"""The whole site in one call, in dependency order: `__main__.py` runs it under `pulumi up`,
the tests run it under Pulumi's mocks and inspect what it declared."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import resources

from deploy.azure.access import SiteIdentities, identities_create
from deploy.azure.besu import BesuNode, besu_nodes_create, rpc_url
from deploy.azure.compute import AppSettings, SiteApps, container_apps_create
from deploy.azure.data import SiteCache, SiteDatabase, postgres_create, redis_create
from deploy.azure.monitoring import SiteLogs, diagnostics_create, workspace_create
from deploy.azure.network import SiteNetwork, network_create
from deploy.azure.options import SiteOptions, SiteSecrets
from deploy.azure.storage import SiteStorage, storage_create
from deploy.azure.vault import SiteVault, vault_create


@dataclass(frozen=True)
class Site:
    resource_group: resources.ResourceGroup
    net: SiteNetwork
    logs: SiteLogs
    database: SiteDatabase
    cache: SiteCache
    vault: SiteVault
    storage: SiteStorage
    besu: list[BesuNode]
    identities: SiteIdentities
    apps: SiteApps


def build_site(options: SiteOptions, secrets: SiteSecrets) -> Site:
    resource_group = resources.ResourceGroup(
        "rg", resource_group_name=f"{options.site}-rg", location=options.location
    )
    net = network_create(
        site=options.site,
        resource_group=resource_group,
        admin_source_prefix=options.admin_source_prefix,
        public_ingress=options.public_ingress,
    )
    logs = workspace_create(options=options, resource_group=resource_group)
    database = postgres_create(
        options=options, secrets=secrets, resource_group=resource_group, net=net
    )
    cache = redis_create(options=options, resource_group=resource_group, net=net)
    vault = vault_create(site=options.site, resource_group=resource_group, net=net)
    storage = storage_create(options=options, resource_group=resource_group, net=net)
    besu = besu_nodes_create(options=options, resource_group=resource_group, net=net)
    diagnostics_create(
        options=options,
        resource_group=resource_group,
        logs=logs,
        vault=vault.vault,
        server=database.server,
        cache=cache.cache,
    )
    identities = identities_create(
        site=options.site,
        resource_group=resource_group,
        vault=vault.vault,
        accounts={"records": storage.records, "lake": storage.lake},
    )
    settings = AppSettings(
        plain={
            "PROVENANT_RPC_URL": rpc_url(besu),
            "PROVENANT_CHAIN_ID": str(options.chain_id),
            "PROVENANT_POA_CHAIN": "1",
            "PROVENANT_KEY_BACKEND": "keyvault",
            "PROVENANT_KEY_VAULT_URL": vault.vault.properties.vault_uri.apply(lambda u: u or ""),
            "PROVENANT_KEY_VAULT_HSM": "1",
            "PROVENANT_LAKE_URL": storage.lake_url,
            "PROVENANT_MQTT_HOST": options.mqtt_host,
        },
        secrets={
            "DATABASE_URL": database.url,
            "REDIS_URL": cache.url,
            "DJANGO_SECRET_KEY": secrets.django_secret_key,
        },
    )
    apps = container_apps_create(
        options=options,
        resource_group=resource_group,
        net=net,
        logs=logs,
        identities=identities,
        settings=settings,
        public_ingress=options.public_ingress,
    )
    return Site(
        resource_group=resource_group,
        net=net,
        logs=logs,
        database=database,
        cache=cache,
        vault=vault,
        storage=storage,
        besu=besu,
        identities=identities,
        apps=apps,
    )


def site_export(site: Site) -> None:
    """The stack outputs an operator needs next (README: after `pulumi up`)."""
    pulumi.export("resourceGroup", site.resource_group.name)
    pulumi.export("webUrl", pulumi.Output.concat("https://", site.apps.web_fqdn))
    pulumi.export("keyVaultUrl", site.vault.vault.properties.vault_uri)
    pulumi.export("postgresHost", site.database.server.fully_qualified_domain_name)
    pulumi.export("lakeUrl", site.storage.lake_url)
    pulumi.export("besuNodes", {node.name: node.address for node in site.besu})
