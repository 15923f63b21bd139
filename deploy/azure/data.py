"""PostgreSQL (the app's database: the chain mirror, the projections, operations) and Redis
(Celery's broker and the cache).

PostgreSQL holds the only copy of what is not on chain (organisations, users, documents'
metadata, pending operations), so it gets every guard: zone-redundant HA, geo-redundant
backups at the 35-day maximum, `protect=True` and a CanNotDelete lock. Redis holds queued
tasks only briefly and is rebuilt from PostgreSQL's operations table, so it is not locked.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import pulumi
from pulumi_azure_native import dbforpostgresql, redis, resources

from deploy.azure.network import SiteNetwork, private_endpoint
from deploy.azure.options import SiteOptions, SiteSecrets
from deploy.azure.protection import lock_against_deletion, protected

DATABASE_NAME = "provenant"
ADMIN_LOGIN = "provenant_admin"
REDIS_TLS_PORT = 6380


@dataclass(frozen=True)
class SiteDatabase:
    server: dbforpostgresql.Server
    database: dbforpostgresql.Database
    #: The app's DATABASE_URL (a secret: it carries the password).
    url: pulumi.Output[str]


@dataclass(frozen=True)
class SiteCache:
    cache: redis.Redis
    #: The app's REDIS_URL (a secret: it carries the access key).
    url: pulumi.Output[str]


def postgres_create(
    *,
    options: SiteOptions,
    secrets: SiteSecrets,
    resource_group: resources.ResourceGroup,
    net: SiteNetwork,
) -> SiteDatabase:
    server = dbforpostgresql.Server(
        "postgres",
        resource_group_name=resource_group.name,
        server_name=f"{options.site}-pg",
        version=options.postgres_version,
        sku=dbforpostgresql.SkuArgs(name=options.postgres_sku, tier=options.postgres_tier),
        storage=dbforpostgresql.StorageArgs(
            storage_size_gb=options.postgres_storage_gb, auto_grow="Enabled"
        ),
        administrator_login=ADMIN_LOGIN,
        administrator_login_password=secrets.db_admin_password,
        auth_config=dbforpostgresql.AuthConfigArgs(password_auth="Enabled"),
        # A synchronous standby in another zone: a zone outage fails over without losing a
        # committed transaction (the indexer's checkpoint moves with its rows).
        availability_zone="1",
        high_availability=dbforpostgresql.HighAvailabilityArgs(
            mode="ZoneRedundant", standby_availability_zone="2"
        ),
        # Point-in-time restore within the window; geo-redundant copies survive a region.
        backup=dbforpostgresql.BackupArgs(
            backup_retention_days=options.backup_retention_days, geo_redundant_backup="Enabled"
        ),
        # Private access: the server lives in its delegated subnet and answers only there.
        network=dbforpostgresql.NetworkArgs(
            delegated_subnet_resource_id=net.postgres_subnet.id,
            private_dns_zone_arm_resource_id=net.zones["postgres"].id,
            public_network_access="Disabled",
        ),
        # The zone must be linked to the network before the server registers its name in it.
        opts=protected(pulumi.ResourceOptions(depends_on=net.zone_links)),
    )
    lock_against_deletion("postgres", server, holds="the database: the off-chain records")
    database = dbforpostgresql.Database(
        "postgres-db",
        resource_group_name=resource_group.name,
        server_name=server.name,
        database_name=DATABASE_NAME,
        charset="UTF8",
        collation="en_US.utf8",
        opts=pulumi.ResourceOptions(parent=server),
    )
    # The server refuses unencrypted connections (require_secure_transport is on by default);
    # webapp/env.py reads no query string, so none is given.
    url = pulumi.Output.all(secrets.db_admin_password, server.fully_qualified_domain_name).apply(
        lambda args: (
            f"postgres://{ADMIN_LOGIN}:{quote(args[0], safe='')}@{args[1]}:5432/{DATABASE_NAME}"
        )
    )
    return SiteDatabase(server=server, database=database, url=pulumi.Output.secret(url))


def redis_create(
    *,
    options: SiteOptions,
    resource_group: resources.ResourceGroup,
    net: SiteNetwork,
) -> SiteCache:
    # Azure Cache for Redis; Azure Managed Redis (redisenterprise) is its successor and the
    # move is a change of this function only (the app reads one REDIS_URL).
    cache = redis.Redis(
        "redis",
        resource_group_name=resource_group.name,
        name=f"{options.site}-redis",
        # Premium: zone redundancy, and data persistence if wanted later.
        sku=redis.SkuArgs(name="Premium", family="P", capacity=1),
        zonal_allocation_policy="Automatic",
        enable_non_ssl_port=False,
        minimum_tls_version="1.2",
        public_network_access="Disabled",
        redis_version="6",
        redis_configuration=redis.RedisCommonPropertiesRedisConfigurationArgs(
            # Celery's broker: evicting a key would drop queued tasks without a trace.
            maxmemory_policy="noeviction",
        ),
    )
    private_endpoint(
        "redis", net=net, resource_group=resource_group, target=cache, group_id="redisCache"
    )
    keys = redis.list_redis_keys_output(name=cache.name, resource_group_name=resource_group.name)
    # Access keys are base64: "/" and "+" must be escaped inside a URL.
    url = pulumi.Output.all(keys.primary_key, cache.host_name).apply(
        lambda args: f"rediss://:{quote(args[0], safe='')}@{args[1]}:{REDIS_TLS_PORT}/0"
    )
    return SiteCache(cache=cache, url=pulumi.Output.secret(url))
