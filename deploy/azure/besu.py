"""The Besu nodes: one VM per validator and per rpc node, at fixed private addresses in the
besu subnet, each with a managed data disk for the chain.

VMs rather than an AKS node pool: a QBFT validator is a pet, not cattle. Its identity is its
node key (the enode in every peer's allow-list, the address in the validator set), its
address is pinned in the other nodes' allow-lists (Besu matches enode hosts as IPs), and
replacing one is a consortium vote (deploy/besu's day-2 commands), not a reschedule. A VM
with a static NIC address and a data disk of its own models exactly that, with no cluster
control plane to run and upgrade for a handful of processes; deploy/besu already writes one
directory per node to copy onto its host.

Zones: nodes go round-robin over the region's three zones. QBFT stays safe whatever fails;
it stays live while more than two thirds of the validators are up, which no layout of 3f+1
validators over three zones keeps through the loss of a whole zone (some zone holds more
than f of them). A zone outage halts block production until the zone returns or the
validator set is changed; the data disks are zone-redundant (Premium_ZRS) so a node's chain
data can be attached to a replacement VM in a surviving zone.

The VMs and their data disks are protected (`protect=True` and a CanNotDelete lock), and the
data disk is only detached, never deleted, when its VM goes.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from pulumi_azure_native import compute, network, resources

from deploy.azure.network import BESU_RPC_PORT, SiteNetwork, besu_address
from deploy.azure.options import SiteOptions
from deploy.azure.protection import lock_against_deletion, protected

ADMIN_USER = "besu"
DATA_MOUNT = "/var/lib/besu"

#: Formats the chain disk on first boot and mounts it where Besu's data-path points
#: (Azure exposes a data disk at LUN n as /dev/disk/azure/scsi1/lun<n>).
CLOUD_INIT = f"""#cloud-config
disk_setup:
  /dev/disk/azure/scsi1/lun0:
    table_type: gpt
    layout: true
    overwrite: false
fs_setup:
  - device: /dev/disk/azure/scsi1/lun0
    partition: 1
    filesystem: ext4
    label: besu-data
    overwrite: false
mounts:
  - ["LABEL=besu-data", "{DATA_MOUNT}", "ext4", "defaults,nofail,noatime", "0", "2"]
"""


@dataclass(frozen=True)
class BesuNode:
    name: str
    role: str
    address: str
    vm: compute.VirtualMachine
    disk: compute.Disk


def besu_roles(options: SiteOptions) -> list[tuple[str, int]]:
    """(role, index) of every node: the validators, then the rpc nodes the app talks to."""
    return [("validator", i) for i in range(options.besu_validators)] + [
        ("rpc", i) for i in range(options.besu_rpc_nodes)
    ]


def besu_node_create(
    role: str,
    index: int,
    *,
    zone: str,
    options: SiteOptions,
    resource_group: resources.ResourceGroup,
    net: SiteNetwork,
) -> BesuNode:
    name = f"besu-{role}-{index}"
    address = besu_address(role, index)
    rg = resource_group.name
    nic = network.NetworkInterface(
        f"{name}-nic",
        resource_group_name=rg,
        enable_accelerated_networking=True,
        ip_configurations=[
            network.NetworkInterfaceIPConfigurationArgs(
                name="primary",
                primary=True,
                subnet=network.SubnetArgs(id=net.besu_subnet.id),
                private_ip_allocation_method="Static",
                private_ip_address=address,
                # No public_ip_address: the nodes are reached from inside the network only.
            )
        ],
    )
    disk = compute.Disk(
        f"{name}-data",
        resource_group_name=rg,
        disk_name=f"{options.site}-{name}-data",
        sku=compute.DiskSkuArgs(name="Premium_ZRS"),
        disk_size_gb=options.besu_disk_gb,
        creation_data=compute.CreationDataArgs(create_option="Empty"),
        public_network_access="Disabled",
        network_access_policy="DenyAll",
        opts=protected(),
    )
    lock_against_deletion(f"{name}-data", disk, holds=f"{name}'s chain data")
    vm = compute.VirtualMachine(
        name,
        resource_group_name=rg,
        vm_name=f"{options.site}-{name}",
        zones=[zone],
        hardware_profile=compute.HardwareProfileArgs(vm_size=options.besu_vm_size),
        security_profile=compute.SecurityProfileArgs(
            security_type="TrustedLaunch",
            uefi_settings=compute.UefiSettingsArgs(secure_boot_enabled=True, v_tpm_enabled=True),
        ),
        storage_profile=compute.StorageProfileArgs(
            image_reference=compute.ImageReferenceArgs(
                publisher="Canonical",
                offer="ubuntu-24_04-lts",
                sku="server",
                version="latest",
            ),
            os_disk=compute.OSDiskArgs(
                create_option="FromImage",
                caching=compute.CachingTypes.READ_WRITE,
                delete_option="Delete",
                managed_disk=compute.ManagedDiskParametersArgs(storage_account_type="Premium_LRS"),
            ),
            data_disks=[
                compute.DataDiskArgs(
                    lun=0,
                    create_option="Attach",
                    caching=compute.CachingTypes.NONE,
                    # The chain outlives the VM: deleting the VM leaves the disk.
                    delete_option="Detach",
                    managed_disk=compute.ManagedDiskParametersArgs(id=disk.id),
                )
            ],
        ),
        os_profile=compute.OSProfileArgs(
            computer_name=name,
            admin_username=ADMIN_USER,
            custom_data=base64.b64encode(CLOUD_INIT.encode()).decode(),
            linux_configuration=compute.LinuxConfigurationArgs(
                disable_password_authentication=True,
                ssh=compute.SshConfigurationArgs(
                    public_keys=[
                        compute.SshPublicKeyArgs(
                            path=f"/home/{ADMIN_USER}/.ssh/authorized_keys",
                            key_data=options.besu_ssh_public_key,
                        )
                    ]
                ),
            ),
        ),
        network_profile=compute.NetworkProfileArgs(
            network_interfaces=[compute.NetworkInterfaceReferenceArgs(id=nic.id, primary=True)]
        ),
        diagnostics_profile=compute.DiagnosticsProfileArgs(
            boot_diagnostics=compute.BootDiagnosticsArgs(enabled=True)
        ),
        opts=protected(),
    )
    lock_against_deletion(name, vm, holds=f"{name}: its node key and its place in the network")
    return BesuNode(name=name, role=role, address=address, vm=vm, disk=disk)


def besu_nodes_create(
    *, options: SiteOptions, resource_group: resources.ResourceGroup, net: SiteNetwork
) -> list[BesuNode]:
    return [
        besu_node_create(
            role,
            index,
            zone=str(n % 3 + 1),
            options=options,
            resource_group=resource_group,
            net=net,
        )
        for n, (role, index) in enumerate(besu_roles(options))
    ]


def rpc_url(nodes: list[BesuNode]) -> str:
    """The app's PROVENANT_RPC_URL: the first rpc node (validators answer on localhost only)."""
    first = next(node for node in nodes if node.role == "rpc")
    return f"http://{first.address}:{BESU_RPC_PORT}"
