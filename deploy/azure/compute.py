"""The web app and the workers on Azure Container Apps: one environment in the app subnet,
sending its logs to the workspace, and one container app per process of
`deploy/production/processes.py` (the list the systemd units and the compose file are
generated from, so the three never drift apart).

Every app runs the same image with its process's command line. Only the processes that
serve HTTP (web, and streams for WebSocket and Server-Sent Events) have ingress; the
workers, beat and ingest have none. Each keeps the replica count processes.py gives it,
except the HTTP apps, which scale out with load up to `webMaxReplicas`: beat must be one
per site, and scaling a worker is a decision to take with its queue's depth in view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import app, resources

from deploy.azure.access import SiteIdentities
from deploy.azure.monitoring import SiteLogs
from deploy.azure.network import SiteNetwork
from deploy.azure.options import SiteOptions
from deploy.production.processes import PROCESSES, PRODUCTION_ENV, Process

#: Processes that serve HTTP, and their port (gunicorn.conf.py, processes.py).
HTTP_PORTS = {"web": 8000, "streams": 8001}
WORKLOAD_PROFILE = "Consumption"
#: Celery's warm shutdown finishes the running tasks (the systemd units allow 60 s too).
STOP_GRACE_SECONDS = 60
#: The web app's prometheus multiprocess directory (systemd's RuntimeDirectory).
METRICS_DIR = "/run/provenant-web"


@dataclass(frozen=True)
class SiteApps:
    environment: app.ManagedEnvironment
    apps: dict[str, app.ContainerApp]
    web_fqdn: pulumi.Output[str]


@dataclass(frozen=True)
class AppSettings:
    """What every process is given beside PRODUCTION_ENV; secrets go in as secret refs."""

    plain: dict[str, pulumi.Input[str]]
    secrets: dict[str, pulumi.Output[str]]


def container_argv(process: Process) -> list[str]:
    """The process's command line, listening on all interfaces where it serves HTTP: in a
    container the ingress proxy reaches the app over the pod's network, not over loopback."""
    argv = list(process.argv)
    if process.name in HTTP_PORTS and "--host" in argv:
        argv[argv.index("--host") + 1] = "0.0.0.0"  # the container's own network
    return argv


def _secret_name(variable: str) -> str:
    # Container Apps secret names: lowercase letters, digits and dashes.
    return variable.lower().replace("_", "-")


def _env(
    process: Process, settings: AppSettings, client_id: pulumi.Input[str]
) -> list[app.EnvironmentVarArgs]:
    plain: dict[str, pulumi.Input[str]] = {
        **PRODUCTION_ENV, **settings.plain, "AZURE_CLIENT_ID": client_id,
    }  # fmt: skip
    if process.name == "web":
        plain |= {
            "PROVENANT_BIND": f"0.0.0.0:{HTTP_PORTS['web']}",
            # The Container Apps ingress proxy is the only way in.
            "PROVENANT_FORWARDED_ALLOW_IPS": "*",
            "PROMETHEUS_MULTIPROC_DIR": METRICS_DIR,
        }
    return [app.EnvironmentVarArgs(name=k, value=v) for k, v in plain.items()] + [
        app.EnvironmentVarArgs(name=k, secret_ref=_secret_name(k)) for k in settings.secrets
    ]


def _probes(process: Process, host: pulumi.Input[str]) -> list[app.ContainerAppProbeArgs]:
    port = HTTP_PORTS.get(process.name)
    if port is None:
        return []
    if process.name != "web":
        return [
            app.ContainerAppProbeArgs(
                type="Liveness", tcp_socket=app.ContainerAppProbeTcpSocketArgs(port=port)
            )
        ]
    # Django answers only its ALLOWED_HOSTS, so the probes name the site's host; /health/
    # is exempt from the HTTPS redirect.
    headers = [app.ContainerAppProbeHttpHeadersArgs(name="Host", value=host)]
    return [
        app.ContainerAppProbeArgs(
            type=kind,
            http_get=app.ContainerAppProbeHttpGetArgs(path=path, port=port, http_headers=headers),
            period_seconds=10,
            failure_threshold=3,
        )
        for kind, path in (("Liveness", "/health/live"), ("Readiness", "/health/ready"))
    ]


def environment_create(
    *,
    options: SiteOptions,
    resource_group: resources.ResourceGroup,
    net: SiteNetwork,
    logs: SiteLogs,
    public_ingress: bool,
) -> app.ManagedEnvironment:
    return app.ManagedEnvironment(
        "apps-env",
        resource_group_name=resource_group.name,
        environment_name=f"{options.site}-apps",
        vnet_configuration=app.VnetConfigurationArgs(
            infrastructure_subnet_id=net.app_subnet.id,
            # Internal: the ingress gets a private address only (put Front Door or an
            # Application Gateway in front); external: web and streams get public FQDNs.
            internal=not public_ingress,
        ),
        zone_redundant=True,
        workload_profiles=[
            app.WorkloadProfileArgs(name=WORKLOAD_PROFILE, workload_profile_type=WORKLOAD_PROFILE)
        ],
        app_logs_configuration=app.AppLogsConfigurationArgs(
            destination="log-analytics",
            log_analytics_configuration=app.LogAnalyticsConfigurationArgs(
                customer_id=logs.customer_id, shared_key=logs.shared_key
            ),
        ),
    )


def container_app_create(
    process: Process,
    *,
    options: SiteOptions,
    resource_group: resources.ResourceGroup,
    environment: app.ManagedEnvironment,
    identities: SiteIdentities,
    settings: AppSettings,
    web_host: pulumi.Input[str],
    public_ingress: bool,
) -> app.ContainerApp:
    identity = identities.for_process(process.name)
    port = HTTP_PORTS.get(process.name)
    ingress = (
        app.IngressArgs(
            external=public_ingress,
            target_port=port,
            transport="auto",
            allow_insecure=False,
        )
        if port
        else None
    )
    argv = container_argv(process)
    replicas = process.replicas
    max_replicas = max(options.web_max_replicas, replicas) if port else replicas
    volumes: Sequence[app.VolumeArgs] = ()
    mounts: Sequence[app.VolumeMountArgs] = ()
    if process.name == "web":
        volumes = [app.VolumeArgs(name="metrics", storage_type="EmptyDir")]
        mounts = [app.VolumeMountArgs(volume_name="metrics", mount_path=METRICS_DIR)]
    return app.ContainerApp(
        f"app-{process.name}",
        resource_group_name=resource_group.name,
        container_app_name=f"{options.site}-{process.name}",
        environment_id=environment.id,
        workload_profile_name=WORKLOAD_PROFILE,
        identity=app.ManagedServiceIdentityArgs(
            type="UserAssigned", user_assigned_identities=[identity.id]
        ),
        configuration=app.ConfigurationArgs(
            active_revisions_mode="Single",
            ingress=ingress,
            secrets=[
                app.SecretArgs(name=_secret_name(k), value=v) for k, v in settings.secrets.items()
            ],
            registries=(
                [app.RegistryCredentialsArgs(server=options.registry_server, identity=identity.id)]
                if options.registry_server
                else None
            ),
        ),
        template=app.TemplateArgs(
            containers=[
                app.ContainerArgs(
                    name=process.name,
                    image=options.image,
                    command=argv[:1],
                    args=argv[1:],
                    env=_env(process, settings, identity.client_id),
                    resources=app.ContainerResourcesArgs(
                        cpu=1.0 if port else 0.5, memory="2Gi" if port else "1Gi"
                    ),
                    probes=_probes(process, web_host),
                    volume_mounts=list(mounts) or None,
                )
            ],
            volumes=list(volumes) or None,
            scale=app.ScaleArgs(min_replicas=replicas, max_replicas=max_replicas),
            termination_grace_period_seconds=STOP_GRACE_SECONDS,
        ),
        tags={"provenant-process": process.name},
    )


def container_apps_create(
    *,
    options: SiteOptions,
    resource_group: resources.ResourceGroup,
    net: SiteNetwork,
    logs: SiteLogs,
    identities: SiteIdentities,
    settings: AppSettings,
    public_ingress: bool,
) -> SiteApps:
    environment = environment_create(
        options=options, resource_group=resource_group, net=net, logs=logs,
        public_ingress=public_ingress,
    )  # fmt: skip
    # An app's FQDN is "<app name>.<environment's default domain>": known before the web app
    # exists, so its ALLOWED_HOSTS and probes can name it.
    web_fqdn = pulumi.Output.concat(f"{options.site}-web.", environment.default_domain)
    hosts = [options.hostname] if options.hostname else []
    allowed = web_fqdn.apply(lambda fqdn: ",".join([*hosts, fqdn]))
    settings = AppSettings(
        plain={**settings.plain, "DJANGO_ALLOWED_HOSTS": allowed}, secrets=settings.secrets
    )
    apps = {
        process.name: container_app_create(
            process,
            options=options,
            resource_group=resource_group,
            environment=environment,
            identities=identities,
            settings=settings,
            web_host=web_fqdn,
            public_ingress=public_ingress,
        )
        for process in PROCESSES
    }
    return SiteApps(environment=environment, apps=apps, web_fqdn=web_fqdn)
