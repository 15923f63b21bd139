"""Two storage accounts: "records" for the documents and the sealed history, "lake" for the
Parquet data lake (PROVENANT_LAKE_URL, webapp/exports/lake).

Why two and not one: the lake wants a hierarchical namespace (directories with atomic
renames: the writer puts a file under a temporary name and renames it), and Azure does not
offer blob versioning on accounts with a hierarchical namespace (nor change feed). The
documents and the history want versioning. So:

- records: no hierarchical namespace; versioning, blob and container soft delete, change
  feed (who changed what, for audits); the `history` container under a time-based immutability
  policy (WORM: a blob can be added and read, not changed or deleted, until its retention
  ends). Sealed lake partitions are copied there; the lake itself cannot be WORM because its
  writer renames files and rewrites each partition's manifest.
- lake: hierarchical namespace; blob and container soft delete (supported there).

Both: geo-zone-redundant, no shared keys (Entra ID only, the apps' managed identity), no
anonymous blob access, HTTPS only, TLS 1.2, public network access disabled and private
endpoints, `protect=True` and a CanNotDelete lock.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import resources, storage

from deploy.azure.network import SiteNetwork, private_endpoint
from deploy.azure.options import SiteOptions
from deploy.azure.protection import lock_against_deletion, protected

SOFT_DELETE_DAYS = 35
DOCUMENTS_CONTAINER = "documents"
HISTORY_CONTAINER = "history"
LAKE_CONTAINER = "lake"


@dataclass(frozen=True)
class SiteStorage:
    records: storage.StorageAccount
    lake: storage.StorageAccount
    history: storage.BlobContainer
    history_policy: storage.BlobContainerImmutabilityPolicy
    #: The app's PROVENANT_LAKE_URL.
    lake_url: pulumi.Output[str]


def _account(
    name: str, *, account_name: str, resource_group: resources.ResourceGroup, data_lake: bool
) -> storage.StorageAccount:
    return storage.StorageAccount(
        name,
        resource_group_name=resource_group.name,
        account_name=account_name,
        kind="StorageV2",
        sku=storage.SkuArgs(name="Standard_GZRS"),
        is_hns_enabled=data_lake,
        allow_blob_public_access=False,
        allow_shared_key_access=False,
        default_to_o_auth_authentication=True,
        enable_https_traffic_only=True,
        minimum_tls_version="TLS1_2",
        public_network_access="Disabled",
        network_rule_set=storage.NetworkRuleSetArgs(
            default_action=storage.DefaultAction.DENY, bypass="None"
        ),
        allow_cross_tenant_replication=False,
        encryption=storage.EncryptionArgs(
            key_source="Microsoft.Storage",
            require_infrastructure_encryption=True,
            services=storage.EncryptionServicesArgs(
                blob=storage.EncryptionServiceArgs(enabled=True, key_type="Account")
            ),
        ),
        opts=protected(),
    )


def storage_create(
    *, options: SiteOptions, resource_group: resources.ResourceGroup, net: SiteNetwork
) -> SiteStorage:
    rg = resource_group.name
    records = _account(
        "records", account_name=f"{options.site}records", resource_group=resource_group,
        data_lake=False,
    )  # fmt: skip
    lock_against_deletion("records", records, holds="the documents and the sealed history")
    storage.BlobServiceProperties(
        "records-blob-service",
        resource_group_name=rg,
        account_name=records.name,
        blob_services_name="default",
        is_versioning_enabled=True,
        delete_retention_policy=storage.DeleteRetentionPolicyArgs(
            enabled=True, days=SOFT_DELETE_DAYS
        ),
        container_delete_retention_policy=storage.DeleteRetentionPolicyArgs(
            enabled=True, days=SOFT_DELETE_DAYS
        ),
        change_feed=storage.ChangeFeedArgs(enabled=True),
        opts=pulumi.ResourceOptions(parent=records),
    )
    storage.BlobContainer(
        "records-documents",
        resource_group_name=rg,
        account_name=records.name,
        container_name=DOCUMENTS_CONTAINER,
        public_access=storage.PublicAccess.NONE,
        opts=pulumi.ResourceOptions(parent=records),
    )
    history = storage.BlobContainer(
        "records-history",
        resource_group_name=rg,
        account_name=records.name,
        container_name=HISTORY_CONTAINER,
        public_access=storage.PublicAccess.NONE,
        opts=pulumi.ResourceOptions(parent=records),
    )
    # Created unlocked: while unlocked the retention can be lengthened or shortened and the
    # policy deleted. Lock it once the first copy has been checked (README: it cannot be
    # undone, and a locked policy's retention can only grow).
    history_policy = storage.BlobContainerImmutabilityPolicy(
        "records-history-worm",
        resource_group_name=rg,
        account_name=records.name,
        container_name=history.name,
        immutability_policy_name="default",
        immutability_period_since_creation_in_days=options.history_retention_days,
        allow_protected_append_writes=False,
        opts=pulumi.ResourceOptions(parent=history),
    )
    private_endpoint(
        "records-blob", net=net, resource_group=resource_group, target=records, group_id="blob"
    )

    lake = _account(
        "lake", account_name=f"{options.site}lake", resource_group=resource_group,
        data_lake=True,
    )  # fmt: skip
    lock_against_deletion("lake", lake, holds="the data lake's Parquet history")
    storage.BlobServiceProperties(
        "lake-blob-service",
        resource_group_name=rg,
        account_name=lake.name,
        blob_services_name="default",
        # Versioning and change feed: not offered with a hierarchical namespace. Soft delete
        # is, and covers a deleted file or directory.
        delete_retention_policy=storage.DeleteRetentionPolicyArgs(
            enabled=True, days=SOFT_DELETE_DAYS
        ),
        container_delete_retention_policy=storage.DeleteRetentionPolicyArgs(
            enabled=True, days=SOFT_DELETE_DAYS
        ),
        opts=pulumi.ResourceOptions(parent=lake),
    )
    lake_container = storage.BlobContainer(
        "lake-container",
        resource_group_name=rg,
        account_name=lake.name,
        container_name=LAKE_CONTAINER,
        public_access=storage.PublicAccess.NONE,
        opts=pulumi.ResourceOptions(parent=lake),
    )
    # The Blob API (reads, soft delete) and the Data Lake API (directories, renames) have
    # separate endpoints; the writer uses both.
    for group_id in ("blob", "dfs"):
        private_endpoint(
            f"lake-{group_id}", net=net, resource_group=resource_group, target=lake,
            group_id=group_id,
        )  # fmt: skip
    lake_url = pulumi.Output.concat(
        "abfs://", lake_container.name, "@", lake.name, ".dfs.core.windows.net/provenant"
    )
    return SiteStorage(
        records=records,
        lake=lake,
        history=history,
        history_policy=history_policy,
        lake_url=lake_url,
    )
