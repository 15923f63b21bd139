"""Deletion protection for what holds the ledger, the keys or the history: the PostgreSQL
server, the Key Vault, the storage accounts and the Besu nodes' VMs and chain disks.

Two independent guards, because each covers what the other cannot:

- `protect=True` (Pulumi): `pulumi destroy`, or a change that would replace the resource,
  fails before calling Azure. It guards against this program and whoever runs it.
- a `CanNotDelete` management lock (Azure): a delete through the portal, the CLI, another
  IaC tool or a script fails. It guards against everything else. Removing it takes
  `Microsoft.Authorization/locks/delete` (Owner or User Access Administrator), a deliberate
  act that shows in the activity log.

Neither stops changes: settings can still be updated, data can still be written. Data-plane
deletes (a blob, a key version, a row) are covered by the services' own soft delete,
versioning, purge protection and point-in-time restore.
"""

from __future__ import annotations

import pulumi
from pulumi_azure_native import authorization

#: Options for a resource that must not be deleted by this program.
PROTECTED = pulumi.ResourceOptions(protect=True)


def protected(opts: pulumi.ResourceOptions | None = None) -> pulumi.ResourceOptions:
    """`opts` with `protect=True` added."""
    return pulumi.ResourceOptions.merge(opts, PROTECTED)


def lock_against_deletion(
    name: str, target: pulumi.CustomResource, *, holds: str
) -> authorization.ManagementLockByScope:
    """A CanNotDelete lock on `target`. The lock is the target's child, so it inherits the
    target's `protect` and `pulumi destroy` cannot lift it either; `holds` says what
    deleting the target would lose (the lock's notes, shown in the portal)."""
    return authorization.ManagementLockByScope(
        f"{name}-lock",
        scope=target.id,
        level=authorization.LockLevel.CAN_NOT_DELETE,
        notes=f"Holds {holds}. Provenant: remove this lock only to retire the site.",
        opts=pulumi.ResourceOptions(parent=target),
    )
