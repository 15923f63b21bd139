"""The site's virtual network: four subnets, a network security group on each, the private
DNS zones that resolve the services' private endpoints, and a helper for those endpoints.

Address plan (one /16, change `ADDRESS_SPACE` if it clashes with a peered network)::

    10.40.0.0/23   app        Container Apps environment (delegated to Microsoft.App)
    10.40.2.0/28   postgres   the flexible server (delegated; primary and HA standby)
    10.40.3.0/24   endpoints  private endpoints: Redis, Key Vault, the storage accounts
    10.40.4.0/24   besu       the Besu VMs, at fixed addresses (`besu_address`)

Nothing in the network has a public address except the Container Apps environment's ingress
(web and streams only, and only when the environment is external). Every data service has
public network access disabled and is reached through this network alone.

Egress is not designed here: the Besu VMs need it to install Besu and to peer with members
outside this network. Azure is retiring implicit outbound access for new subnets, so give the
besu subnet a NAT gateway or route it through the site's firewall (README).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import network, privatedns, resources

ADDRESS_SPACE = "10.40.0.0/16"
APP_PREFIX = "10.40.0.0/23"
POSTGRES_PREFIX = "10.40.2.0/28"
ENDPOINTS_PREFIX = "10.40.3.0/24"
BESU_PREFIX = "10.40.4.0/24"

BESU_P2P_PORT = 30303
BESU_RPC_PORT = 8545
#: First host address of each Besu role in the besu subnet (Azure keeps .0-.3 and .255).
BESU_FIRST_HOST = {"validator": 10, "rpc": 100}

#: Private DNS zones of the private endpoints, by the endpoint's sub-resource (group id).
PRIVATE_LINK_ZONES = {
    "redisCache": "privatelink.redis.cache.windows.net",
    "vault": "privatelink.vaultcore.azure.net",
    "blob": "privatelink.blob.core.windows.net",
    "dfs": "privatelink.dfs.core.windows.net",
}


@dataclass(frozen=True)
class SiteNetwork:
    vnet: network.VirtualNetwork
    app_subnet: network.Subnet
    postgres_subnet: network.Subnet
    endpoints_subnet: network.Subnet
    besu_subnet: network.Subnet
    #: Private DNS zone per private-endpoint group id, plus "postgres".
    zones: dict[str, privatedns.PrivateZone]
    zone_links: list[privatedns.VirtualNetworkLink]


def besu_address(role: str, index: int) -> str:
    """The fixed private address of a Besu node: the consortium file's `host` (Besu's
    allow-lists match enode hosts as IP addresses, so they must not change)."""
    subnet = ipaddress.ip_network(BESU_PREFIX)
    return str(subnet.network_address + BESU_FIRST_HOST[role] + index)


def _rule(
    name: str,
    priority: int,
    *,
    source: str,
    destination: str,
    ports: Sequence[str] = ("*",),
    protocol: str = "Tcp",
    access: str = "Allow",
) -> network.SecurityRuleArgs:
    return network.SecurityRuleArgs(
        name=name,
        priority=priority,
        direction="Inbound",
        access=access,
        protocol=protocol,
        source_address_prefix=source,
        source_port_range="*",
        destination_address_prefix=destination,
        destination_port_ranges=list(ports),
    )


def _deny_rest_of_vnet(prefix: str) -> network.SecurityRuleArgs:
    # The default rules let the whole virtual network in; each subnet names who may reach it.
    return _rule(
        "deny-rest-of-vnet", 4000, source="VirtualNetwork", destination=prefix, protocol="*",
        access="Deny",
    )  # fmt: skip


def _security_rules(
    admin_source_prefix: str | None, public_ingress: bool
) -> dict[str, list[network.SecurityRuleArgs]]:
    app_rules = []
    if public_ingress:
        app_rules.append(
            _rule("https-from-internet", 100, source="Internet", destination=APP_PREFIX,
                  ports=("443", "80"))
        )  # fmt: skip
    besu_rules = [
        _rule("besu-p2p", 100, source=BESU_PREFIX, destination=BESU_PREFIX,
              ports=(str(BESU_P2P_PORT),), protocol="*"),
        # Only the rpc nodes listen beyond localhost (deploy/besu): the app talks to them.
        _rule("besu-rpc-from-app", 110, source=APP_PREFIX, destination=BESU_PREFIX,
              ports=(str(BESU_RPC_PORT),)),
    ]  # fmt: skip
    if admin_source_prefix:
        besu_rules.append(
            _rule("ssh-from-admin", 120, source=admin_source_prefix, destination=BESU_PREFIX,
                  ports=("22",))
        )  # fmt: skip
    besu_rules.append(_deny_rest_of_vnet(BESU_PREFIX))
    return {
        "app": app_rules,
        "postgres": [
            # The HA primary and standby replicate inside the subnet.
            _rule("postgres-subnet", 100, source=POSTGRES_PREFIX, destination=POSTGRES_PREFIX,
                  protocol="*"),
            _rule("postgres-from-app", 110, source=APP_PREFIX, destination=POSTGRES_PREFIX,
                  ports=("5432",)),
            _deny_rest_of_vnet(POSTGRES_PREFIX),
        ],
        "endpoints": [
            # Redis over TLS (6380), Key Vault and storage over HTTPS.
            _rule("services-from-app", 100, source=APP_PREFIX, destination=ENDPOINTS_PREFIX,
                  ports=("443", "6380")),
            _deny_rest_of_vnet(ENDPOINTS_PREFIX),
        ],
        "besu": besu_rules,
    }  # fmt: skip


def network_create(
    *,
    site: str,
    resource_group: resources.ResourceGroup,
    admin_source_prefix: str | None,
    public_ingress: bool,
) -> SiteNetwork:
    rg = resource_group.name
    vnet = network.VirtualNetwork(
        "vnet",
        resource_group_name=rg,
        address_space=network.AddressSpaceArgs(address_prefixes=[ADDRESS_SPACE]),
        # The subnets are resources of their own below; without this the next update of the
        # network would try to remove them (they are not in its `subnets` input).
        opts=pulumi.ResourceOptions(ignore_changes=["subnets"]),
    )
    rules = _security_rules(admin_source_prefix, public_ingress)
    groups = {
        role: network.NetworkSecurityGroup(f"nsg-{role}", resource_group_name=rg, security_rules=r)
        for role, r in rules.items()
    }
    layout = [
        ("app", APP_PREFIX, "Microsoft.App/environments"),
        ("postgres", POSTGRES_PREFIX, "Microsoft.DBforPostgreSQL/flexibleServers"),
        ("endpoints", ENDPOINTS_PREFIX, None),
        ("besu", BESU_PREFIX, None),
    ]
    subnets: dict[str, network.Subnet] = {}
    previous: network.Subnet | None = None
    for role, prefix, delegated_to in layout:
        subnets[role] = previous = network.Subnet(
            f"subnet-{role}",
            resource_group_name=rg,
            virtual_network_name=vnet.name,
            subnet_name=role,
            address_prefix=prefix,
            network_security_group=network.NetworkSecurityGroupArgs(id=groups[role].id),
            delegations=(
                [network.DelegationArgs(name=role, service_name=delegated_to)]
                if delegated_to
                else None
            ),
            # The endpoints subnet's NSG applies to private endpoints only with this on.
            private_endpoint_network_policies="Enabled" if role == "endpoints" else None,
            # Azure rejects concurrent changes to subnets of one network: one at a time.
            opts=pulumi.ResourceOptions(depends_on=[previous] if previous else None),
        )
    zone_names = {
        **PRIVATE_LINK_ZONES,
        # A flexible server's zone must end with .postgres.database.azure.com.
        "postgres": f"{site}.private.postgres.database.azure.com",
    }
    zones: dict[str, privatedns.PrivateZone] = {}
    links: list[privatedns.VirtualNetworkLink] = []
    for key, zone_name in zone_names.items():
        zones[key] = privatedns.PrivateZone(
            f"zone-{key}", resource_group_name=rg, private_zone_name=zone_name, location="Global"
        )
        links.append(
            privatedns.VirtualNetworkLink(
                f"zone-{key}-link",
                resource_group_name=rg,
                private_zone_name=zones[key].name,
                virtual_network=privatedns.SubResourceArgs(id=vnet.id),
                registration_enabled=False,
                location="Global",
            )
        )
    return SiteNetwork(
        vnet=vnet,
        app_subnet=subnets["app"],
        postgres_subnet=subnets["postgres"],
        endpoints_subnet=subnets["endpoints"],
        besu_subnet=subnets["besu"],
        zones=zones,
        zone_links=links,
    )


def private_endpoint(
    name: str,
    *,
    net: SiteNetwork,
    resource_group: resources.ResourceGroup,
    target: pulumi.CustomResource,
    group_id: str,
) -> network.PrivateEndpoint:
    """A private endpoint for `target`'s `group_id` sub-resource in the endpoints subnet,
    registered in the matching private DNS zone (so the service's usual host name resolves
    to the private address inside the network)."""
    endpoint = network.PrivateEndpoint(
        f"pe-{name}",
        resource_group_name=resource_group.name,
        subnet=network.SubnetArgs(id=net.endpoints_subnet.id),
        private_link_service_connections=[
            network.PrivateLinkServiceConnectionArgs(
                name=f"{name}-{group_id}",
                private_link_service_id=target.id,
                group_ids=[group_id],
            )
        ],
    )
    network.PrivateDnsZoneGroup(
        f"pe-{name}-dns",
        resource_group_name=resource_group.name,
        private_endpoint_name=endpoint.name,
        private_dns_zone_configs=[
            network.PrivateDnsZoneConfigArgs(
                name=group_id, private_dns_zone_id=net.zones[group_id].id
            )
        ],
        opts=pulumi.ResourceOptions(parent=endpoint),
    )
    return endpoint
