"""Logs and alerts: one Log Analytics workspace for the container apps' output (the apps log
JSON, PROVENANT_LOG_FORMAT=json) and for the audit trails of the key vault and the database;
and, when an address is configured, a few alerts on what stops the site quietly.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import dbforpostgresql, keyvault, monitor, operationalinsights, redis
from pulumi_azure_native import resources as azure_resources

from deploy.azure.options import SiteOptions


@dataclass(frozen=True)
class SiteLogs:
    workspace: operationalinsights.Workspace
    #: What the Container Apps environment needs to write to the workspace.
    customer_id: pulumi.Output[str]
    shared_key: pulumi.Output[str]


def workspace_create(
    *, options: SiteOptions, resource_group: azure_resources.ResourceGroup
) -> SiteLogs:
    workspace = operationalinsights.Workspace(
        "logs",
        resource_group_name=resource_group.name,
        workspace_name=f"{options.site}-logs",
        sku=operationalinsights.WorkspaceSkuArgs(name="PerGB2018"),
        retention_in_days=options.log_retention_days,
    )
    keys = operationalinsights.get_shared_keys_output(
        resource_group_name=resource_group.name, workspace_name=workspace.name
    )
    shared_key = keys.primary_shared_key.apply(lambda key: key or "")
    return SiteLogs(
        workspace=workspace,
        customer_id=workspace.customer_id,
        shared_key=pulumi.Output.secret(shared_key),
    )


def _audit_logs(name: str, *, target: pulumi.CustomResource, logs: SiteLogs) -> None:
    monitor.DiagnosticSetting(
        f"{name}-diagnostics",
        resource_uri=target.id,
        workspace_id=logs.workspace.id,
        log_analytics_destination_type="Dedicated",
        logs=[monitor.DiagnosticsLogSettingsArgs(category_group="allLogs", enabled=True)],
    )


def _alert(
    name: str,
    *,
    resource_group: azure_resources.ResourceGroup,
    target: pulumi.CustomResource,
    metric: str,
    threshold: float,
    description: str,
    action_group: monitor.ActionGroup,
) -> monitor.MetricAlert:
    return monitor.MetricAlert(
        f"alert-{name}",
        resource_group_name=resource_group.name,
        location="global",
        description=description,
        severity=2,
        enabled=True,
        scopes=[target.id],
        evaluation_frequency="PT5M",
        window_size="PT15M",
        criteria=monitor.MetricAlertSingleResourceMultipleMetricCriteriaArgs(
            odata_type="Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
            all_of=[
                monitor.MetricCriteriaArgs(
                    criterion_type="StaticThresholdCriterion",
                    name=metric,
                    metric_name=metric,
                    operator="GreaterThan",
                    threshold=threshold,
                    time_aggregation="Average",
                )
            ],
        ),
        actions=[monitor.MetricAlertActionArgs(action_group_id=action_group.id)],
    )


def diagnostics_create(
    *,
    options: SiteOptions,
    resource_group: azure_resources.ResourceGroup,
    logs: SiteLogs,
    vault: keyvault.Vault,
    server: dbforpostgresql.Server,
    cache: redis.Redis,
) -> list[monitor.MetricAlert]:
    """Audit logs of the vault (every key operation: who signed with which key) and the
    database into the workspace; alerts when an address is configured."""
    _audit_logs("vault", target=vault, logs=logs)
    _audit_logs("postgres", target=server, logs=logs)
    if not options.alert_email:
        return []
    group = monitor.ActionGroup(
        "alerts",
        resource_group_name=resource_group.name,
        location="global",
        group_short_name="provenant",
        enabled=True,
        email_receivers=[
            monitor.MicrosoftCommonEmailReceiverArgs(
                name="operators", email_address=options.alert_email, use_common_alert_schema=True
            )
        ],
    )
    return [
        _alert("postgres-cpu", resource_group=resource_group, target=server,
               metric="cpu_percent", threshold=80, action_group=group,
               description="PostgreSQL CPU above 80% for 15 minutes"),
        _alert("postgres-storage", resource_group=resource_group, target=server,
               metric="storage_percent", threshold=85, action_group=group,
               description="PostgreSQL storage above 85% (auto-grow is on; check the bill)"),
        # Redis is Celery's broker with noeviction: when full, enqueueing fails.
        _alert("redis-memory", resource_group=resource_group, target=cache,
               metric="usedmemorypercentage", threshold=80, action_group=group,
               description="Redis memory above 80%: the task queues are backing up"),
    ]  # fmt: skip
