"""The Azure program (deploy/azure) run under Pulumi's mocks: no cloud, no CLI, no state.

What the program declares is recorded at the boundary where the Pulumi engine would take
over: `Mocks.new_resource` sees each resource's type, name and inputs (secrets still wrapped
as secrets), and a `MockMonitor` subclass sees each `RegisterResource` request, which carries
the `protect` flag the engine would enforce. Reading `protect` there, rather than from
`opts` or the private `resource._protect`, checks what actually leaves the program, after
options are merged and inherited from parents.

Isolation: Pulumi's runtime keeps its settings and configuration in context variables and
pumps an event loop of the current thread. Each program run happens in a thread of its own
(a new thread starts with an empty context) with an event loop closed at the end. One more
step is needed: a Pulumi setting first set in a context where it was unset also becomes the
setting's default for every later context (`pulumi._utils.ContextProperty.fset`), so after
each run another fresh thread sets the import-time values back. Tests running in this
process afterwards see no Pulumi settings, mocks or loop
(`test_running_the_program_leaves_no_pulumi_runtime_behind`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from kombu.utils.url import url_to_parts
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.settings import Settings
from redis import ConnectionPool

from deploy.azure.compute import HTTP_PORTS, container_argv
from deploy.azure.network import APP_PREFIX, BESU_PREFIX, besu_address
from deploy.azure.options import SECRET_KEYS, options_from_config, secrets_from_config
from deploy.azure.stack import build_site
from deploy.production.processes import PROCESSES
from webapp.env import database_from_url

pytestmark = pytest.mark.unit

AZURE = Path(__file__).resolve().parents[2] / "deploy" / "azure"
SITE = "provtest"
DB_PASSWORD = "correct/horse+battery=staple"
SECRET_KEY = "s" * 60
REDIS_KEY = "redis/key+1="
#: A stack's configuration as Pulumi hands it to the program ("<namespace>:<key>": text).
CONFIG = {
    "azure-native:location": "westeurope",
    "provenant:site": SITE,
    "provenant:image": "provtest.azurecr.io/provenant:1.0.0",
    "provenant:registryServer": "provtest.azurecr.io",
    "provenant:hostname": "provenant.example.com",
    "provenant:chainId": "1337",
    "provenant:besuValidators": "4",
    "provenant:besuRpcNodes": "1",
    "provenant:besuSshPublicKey": "ssh-ed25519 AAAAC3Nz operator@example",
    "provenant:mqttHost": "mqtt.example.com",
    "provenant:historyRetentionDays": "2555",
    "provenant:alertEmail": "ops@example.com",
    "provenant:dbAdminPassword": DB_PASSWORD,
    "provenant:djangoSecretKey": SECRET_KEY,
}
SECRET_CONFIG_KEYS = [f"provenant:{key}" for key in SECRET_KEYS]

#: The input that carries each type's Azure name (what a real deployment returns as `name`).
NAME_INPUTS = {
    "azure-native:resources:ResourceGroup": "resourceGroupName",
    "azure-native:storage:StorageAccount": "accountName",
    "azure-native:storage:BlobContainer": "containerName",
    "azure-native:dbforpostgresql:Server": "serverName",
    "azure-native:keyvault:Vault": "vaultName",
    "azure-native:redis:Redis": "name",
    "azure-native:app:ManagedEnvironment": "environmentName",
    "azure-native:app:ContainerApp": "containerAppName",
    "azure-native:operationalinsights:Workspace": "workspaceName",
    "azure-native:privatedns:PrivateZone": "privateZoneName",
}
ENV_DOMAIN = "mock-env.westeurope.azurecontainerapps.io"
WORKSPACE_ID = "11111111-2222-3333-4444-555555555555"


@dataclass(frozen=True)
class Declared:
    typ: str
    name: str
    inputs: dict[str, Any]
    id: str
    protect: bool


@dataclass
class Program:
    declared: list[Declared] = field(default_factory=list)
    #: Values read through the program's own Outputs (secrecy, computed URLs).
    facts: dict[str, Any] = field(default_factory=dict)

    def of_type(self, kind: str) -> list[Declared]:
        return [d for d in self.declared if d.typ == f"azure-native:{kind}"]

    def one(self, kind: str, name: str) -> Declared:
        (found,) = [d for d in self.of_type(kind) if d.name == name]
        return found

    def by_id(self, resource_id: str) -> Declared:
        (found,) = [d for d in self.declared if d.id == resource_id]
        return found


class AzureLikeMocks(pulumi.runtime.Mocks):
    """Echoes the inputs as outputs and adds what Azure computes and the program reads back:
    names, host names, ids, the identities' client ids."""

    def __init__(self) -> None:
        self.registered: list[tuple[str, str, dict[str, Any], str]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        resource_id = f"/mock/{args.typ.rsplit(':', 1)[-1]}/{args.name}"
        self.registered.append((args.typ, args.name, args.inputs, resource_id))
        outputs = dict(args.inputs)
        name_input = NAME_INPUTS.get(args.typ)
        outputs["name"] = args.inputs.get(name_input, args.name) if name_input else args.name
        identity = outputs.get("identity")
        if isinstance(identity, dict) and isinstance(identity.get("userAssignedIdentities"), list):
            # Azure answers the list of identity ids with a map keyed by id.
            assigned: dict[str, Any] = {i: {} for i in identity["userAssignedIdentities"]}
            outputs["identity"] = {**identity, "userAssignedIdentities": assigned}
        short = args.typ.rsplit(":", 1)[-1]
        if short == "Server":
            outputs["fullyQualifiedDomainName"] = f"{outputs['name']}.postgres.database.azure.com"
        elif short == "Redis":
            outputs["hostName"] = f"{outputs['name']}.redis.cache.windows.net"
        elif short == "Vault":
            outputs["properties"] = {
                **rpc.unwrap_rpc_secret(args.inputs["properties"]),
                "vaultUri": f"https://{outputs['name']}.vault.azure.net/",
            }
        elif short == "Workspace":
            outputs["customerId"] = WORKSPACE_ID
        elif short == "ManagedEnvironment":
            outputs["defaultDomain"] = ENV_DOMAIN
        elif short == "UserAssignedIdentity":
            outputs |= {"principalId": f"{args.name}-principal", "clientId": f"{args.name}-client"}
        return resource_id, outputs

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        answers = {
            "azure-native:authorization:getClientConfig": {
                "tenantId": "tenant", "subscriptionId": "sub", "clientId": "deployer",
                "objectId": "deployer-object",
            },
            "azure-native:operationalinsights:getSharedKeys": {"primarySharedKey": "workspace-key"},
            "azure-native:redis:listRedisKeys": {"primaryKey": REDIS_KEY, "secondaryKey": "k2"},
        }  # fmt: skip
        return answers[args.token], []


class ProtectRecordingMonitor(MockMonitor):
    """The mock engine, noting the `protect` flag of every registration."""

    def __init__(self, mocks: AzureLikeMocks) -> None:
        super().__init__(mocks)
        self.protect: dict[tuple[str, str], bool] = {}

    def RegisterResource(self, request: Any) -> Any:  # the gRPC method's name
        self.protect[(request.type, request.name)] = bool(request.protect)
        return super().RegisterResource(request)  # type: ignore[no-untyped-call]


def in_own_thread(fn: Callable[[], None]) -> None:
    """Run `fn` in a new thread (an empty context) with an event loop of its own, closed
    afterwards; re-raise what `fn` raised."""
    errors: list[BaseException] = []

    def target() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            fn()
        except BaseException as error:  # handed to the calling thread
            errors.append(error)
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    for work in (target, _restore_default_settings):
        thread = threading.Thread(target=work, name="pulumi-mocks")
        thread.start()
        thread.join(timeout=120)
        assert not thread.is_alive(), "the program did not finish"
    if errors:
        raise errors[0]


def _restore_default_settings() -> None:
    # In a fresh context every setting is unset, so these values become the defaults again:
    # the ones pulumi.runtime.settings gives SETTINGS at import.
    Settings(
        project="project", stack="stack", root_directory="root_directory",
        organization="organization",
    )  # fmt: skip


def run_program(
    config: dict[str, str], secret_keys: list[str], mocks: AzureLikeMocks | None = None
) -> Program:
    """Declare the whole site under mocks with `config`; what it declared, protect flags
    included."""
    mocks = mocks or AzureLikeMocks()
    monitor = ProtectRecordingMonitor(mocks)
    program = Program()

    def declare() -> None:
        pulumi.runtime.set_mocks(mocks, project="provenant", stack="test", preview=False,
                                 monitor=monitor)  # fmt: skip
        pulumi.runtime.set_all_config(config, secret_keys)

        @pulumi.runtime.test  # type: ignore[untyped-decorator]
        def build() -> pulumi.Output[None]:
            site = build_site(options_from_config(), secrets_from_config())

            async def facts() -> None:
                program.facts.update(
                    database_url_is_secret=await site.database.url.is_secret(),
                    redis_url_is_secret=await site.cache.url.is_secret(),
                    lake_url=await site.storage.lake_url.future(),
                )

            return pulumi.Output.from_input(facts())

        build()

    in_own_thread(declare)
    program.declared = [
        Declared(typ, name, inputs, resource_id, monitor.protect[(typ, name)])
        for typ, name, inputs, resource_id in mocks.registered
    ]
    return program


def plain(value: Any) -> Any:
    """`value` with every secret wrapper removed (to read the settings inside)."""
    value = rpc.unwrap_rpc_secret(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


@pytest.fixture(scope="module")
def program() -> Program:
    return run_program(CONFIG, SECRET_CONFIG_KEYS)


@pytest.fixture(scope="module")
def internal_program() -> Program:
    """A variant: internal apps environment, no alert address, and the secrets given as
    plain configuration values (the program must still treat them as secrets)."""
    config = {k: v for k, v in CONFIG.items() if k != "provenant:alertEmail"}
    return run_program({**config, "provenant:publicIngress": "false"}, secret_keys=[])


# --- deletion protection


def _locks_by_scope(program: Program) -> dict[str, Declared]:
    return {
        plain(d.inputs["scope"]): d for d in program.of_type("authorization:ManagementLockByScope")
    }


def test_the_ledger_keys_and_history_are_protected_by_pulumi_and_by_azure_locks(
    program: Program,
) -> None:
    guarded = [
        *program.of_type("dbforpostgresql:Server"),
        *program.of_type("keyvault:Vault"),
        *program.of_type("storage:StorageAccount"),
        *program.of_type("compute:VirtualMachine"),
        *program.of_type("compute:Disk"),
    ]
    assert len(program.of_type("storage:StorageAccount")) == 2
    assert len(program.of_type("compute:VirtualMachine")) == 5  # 4 validators, 1 rpc node
    assert len(program.of_type("compute:Disk")) == 5
    locks = _locks_by_scope(program)
    for resource in guarded:
        assert resource.protect, f"{resource.typ} {resource.name} is not protect=True"
        lock = locks.get(resource.id)
        assert lock is not None, f"{resource.typ} {resource.name} has no management lock"
        assert lock.inputs["level"] == "CanNotDelete"
        # The lock inherits protect from its target: `pulumi destroy` cannot lift it either.
        assert lock.protect
    # Locks go only where deleting loses data: the apps and the network stay replaceable.
    assert set(locks) == {resource.id for resource in guarded}
    assert not any(d.protect for d in program.of_type("app:ContainerApp"))


def test_the_history_container_its_policy_and_the_database_inherit_protection(
    program: Program,
) -> None:
    assert program.one("storage:BlobContainer", "records-history").protect
    assert program.one("storage:BlobContainerImmutabilityPolicy", "records-history-worm").protect
    assert program.one("dbforpostgresql:Database", "postgres-db").protect


# --- the services' own guards


def test_the_vault_keeps_deleted_keys_90_days_and_nobody_can_purge_them(
    program: Program,
) -> None:
    (vault,) = program.of_type("keyvault:Vault")
    properties = plain(vault.inputs["properties"])
    assert properties["enableSoftDelete"] is True
    assert properties["softDeleteRetentionInDays"] == 90
    assert properties["enablePurgeProtection"] is True
    assert properties["enableRbacAuthorization"] is True
    assert properties["publicNetworkAccess"] == "Disabled"
    assert properties["networkAcls"]["defaultAction"] == "Deny"


def test_postgres_survives_a_zone_and_keeps_geo_redundant_backups_for_35_days(
    program: Program,
) -> None:
    (server,) = program.of_type("dbforpostgresql:Server")
    ha = server.inputs["highAvailability"]
    assert ha["mode"] == "ZoneRedundant"
    assert ha["standbyAvailabilityZone"] != server.inputs["availabilityZone"]
    assert server.inputs["backup"] == {"backupRetentionDays": 35, "geoRedundantBackup": "Enabled"}


def test_documents_are_versioned_and_the_history_is_write_once(program: Program) -> None:
    records = program.one("storage:StorageAccount", "records")
    lake = program.one("storage:StorageAccount", "lake")
    services = {
        plain(d.inputs["accountName"]): d.inputs
        for d in program.of_type("storage:BlobServiceProperties")
    }
    records_service = services[records.inputs["accountName"]]
    assert records_service["isVersioningEnabled"] is True
    assert records_service["deleteRetentionPolicy"]["enabled"] is True
    assert records_service["deleteRetentionPolicy"]["days"] >= 7
    assert records_service["containerDeleteRetentionPolicy"]["enabled"] is True
    # The lake has directories (hierarchical namespace), where Azure offers soft delete but
    # not versioning; no account may ask for both.
    assert lake.inputs["isHnsEnabled"] is True
    assert records.inputs["isHnsEnabled"] is False
    assert services[lake.inputs["accountName"]]["deleteRetentionPolicy"]["enabled"] is True
    for account in (records, lake):
        service = services[account.inputs["accountName"]]
        assert not (account.inputs["isHnsEnabled"] and service.get("isVersioningEnabled"))
    (policy,) = program.of_type("storage:BlobContainerImmutabilityPolicy")
    assert policy.inputs["containerName"] == "history"
    assert policy.inputs["accountName"] == records.inputs["accountName"]
    assert policy.inputs["immutabilityPeriodSinceCreationInDays"] == 2555
    assert program.facts["lake_url"] == f"abfs://lake@{SITE}lake.dfs.core.windows.net/provenant"


# --- the network


def _endpoint_targets(program: Program) -> set[tuple[str, str]]:
    targets = set()
    for endpoint in program.of_type("network:PrivateEndpoint"):
        (connection,) = endpoint.inputs["privateLinkServiceConnections"]
        (group,) = connection["groupIds"]
        targets.add((program.by_id(connection["privateLinkServiceId"]).name, group))
    return targets


def test_no_data_service_is_reachable_from_the_internet(program: Program) -> None:
    (server,) = program.of_type("dbforpostgresql:Server")
    assert server.inputs["network"]["publicNetworkAccess"] == "Disabled"
    subnet = program.by_id(server.inputs["network"]["delegatedSubnetResourceId"])
    assert (
        subnet.inputs["delegations"][0]["serviceName"]
        == "Microsoft.DBforPostgreSQL/flexibleServers"
    )
    (cache,) = program.of_type("redis:Redis")
    assert cache.inputs["publicNetworkAccess"] == "Disabled"
    assert cache.inputs["enableNonSslPort"] is False
    assert cache.inputs["minimumTlsVersion"] == "1.2"
    for account in program.of_type("storage:StorageAccount"):
        assert account.inputs["publicNetworkAccess"] == "Disabled"
        assert account.inputs["allowBlobPublicAccess"] is False
        assert account.inputs["allowSharedKeyAccess"] is False
        assert account.inputs["enableHttpsTrafficOnly"] is True
        assert account.inputs["minimumTlsVersion"] == "TLS1_2"
    assert _endpoint_targets(program) == {
        ("redis", "redisCache"), ("vault", "vault"), ("records", "blob"), ("lake", "blob"),
        ("lake", "dfs"),
    }  # fmt: skip
    endpoint_ids = {d.id for d in program.of_type("network:PrivateEndpoint")}
    zone_groups = program.of_type("network:PrivateDnsZoneGroup")
    assert len(zone_groups) == len(endpoint_ids)
    for nic in program.of_type("network:NetworkInterface"):
        assert all("publicIPAddress" not in ip for ip in nic.inputs["ipConfigurations"])


def test_besu_nodes_sit_at_fixed_private_addresses_and_keep_their_chain_disk(
    program: Program,
) -> None:
    addresses = {}
    for vm in program.of_type("compute:VirtualMachine"):
        (nic_ref,) = vm.inputs["networkProfile"]["networkInterfaces"]
        (ip,) = program.by_id(nic_ref["id"]).inputs["ipConfigurations"]
        assert ip["privateIPAllocationMethod"] == "Static"
        assert program.by_id(ip["subnet"]["id"]).inputs["addressPrefix"] == BESU_PREFIX
        addresses[vm.name] = ip["privateIPAddress"]
        (data_disk,) = vm.inputs["storageProfile"]["dataDisks"]
        assert data_disk["deleteOption"] == "Detach"
        assert program.by_id(data_disk["managedDisk"]["id"]).typ == "azure-native:compute:Disk"
        assert vm.inputs["osProfile"]["linuxConfiguration"]["disablePasswordAuthentication"]
    assert addresses == {
        **{f"besu-validator-{i}": besu_address("validator", i) for i in range(4)},
        "besu-rpc-0": besu_address("rpc", 0),
    }
    zones = [vm.inputs["zones"][0] for vm in program.of_type("compute:VirtualMachine")]
    assert set(zones) == {"1", "2", "3"}


# --- the apps


def _apps(program: Program) -> dict[str, Declared]:
    return {d.inputs["tags"]["provenant-process"]: d for d in program.of_type("app:ContainerApp")}


def test_one_container_app_runs_each_process_of_the_process_list(program: Program) -> None:
    apps = _apps(program)
    # Registration order follows when inputs resolve, not the list: compare as sets.
    assert len(program.of_type("app:ContainerApp")) == len(PROCESSES)
    assert set(apps) == {process.name for process in PROCESSES}
    for process in PROCESSES:
        declared = apps[process.name]
        assert declared.inputs["containerAppName"] == f"{SITE}-{process.name}"
        (container,) = declared.inputs["template"]["containers"]
        assert [*container["command"], *container["args"]] == container_argv(process)
        if process.name not in HTTP_PORTS:
            assert container_argv(process) == list(process.argv)
        ingress = plain(declared.inputs["configuration"]).get("ingress")
        assert (ingress is not None) == (process.name in HTTP_PORTS)
        if ingress:
            assert ingress["targetPort"] == HTTP_PORTS[process.name]
            assert ingress["allowInsecure"] is False
        scale = declared.inputs["template"]["scale"]
        assert scale["minReplicas"] == process.replicas
        if process.name not in HTTP_PORTS:
            assert scale["maxReplicas"] == process.replicas
    # One schedule per site: two beats would enqueue every periodic task twice.
    assert apps["beat"].inputs["template"]["scale"] == {"minReplicas": 1, "maxReplicas": 1}
    streams_argv = container_argv(next(p for p in PROCESSES if p.name == "streams"))
    assert streams_argv[streams_argv.index("--host") + 1] == "0.0.0.0"


def test_the_apps_environment_sits_in_the_app_subnet_and_logs_to_the_workspace(
    program: Program,
) -> None:
    (environment,) = program.of_type("app:ManagedEnvironment")
    subnet = program.by_id(environment.inputs["vnetConfiguration"]["infrastructureSubnetId"])
    assert subnet.inputs["addressPrefix"] == APP_PREFIX
    assert environment.inputs["vnetConfiguration"]["internal"] is False
    logs = plain(environment.inputs["appLogsConfiguration"])
    assert logs["destination"] == "log-analytics"
    assert logs["logAnalyticsConfiguration"]["customerId"] == WORKSPACE_ID
    for app in program.of_type("app:ContainerApp"):
        assert app.inputs["environmentId"] == environment.id
    assert {d.inputs["resourceUri"] for d in program.of_type("monitor:DiagnosticSetting")} == {
        program.one("keyvault:Vault", "vault").id,
        program.one("dbforpostgresql:Server", "postgres").id,
    }
    assert len(program.of_type("monitor:MetricAlert")) == 3


def test_an_internal_environment_publishes_nothing(internal_program: Program) -> None:
    (environment,) = internal_program.of_type("app:ManagedEnvironment")
    assert environment.inputs["vnetConfiguration"]["internal"] is True
    for app in internal_program.of_type("app:ContainerApp"):
        ingress = plain(app.inputs["configuration"]).get("ingress")
        assert ingress is None or ingress["external"] is False
    rules = [
        rule for nsg in internal_program.of_type("network:NetworkSecurityGroup")
        for rule in nsg.inputs.get("securityRules", [])
    ]  # fmt: skip
    assert all(rule["sourceAddressPrefix"] != "Internet" for rule in rules)
    assert internal_program.of_type("monitor:MetricAlert") == []


# --- secrets


def _env(app: Declared) -> dict[str, dict[str, Any]]:
    (container,) = plain(app.inputs["template"])["containers"]
    return {variable["name"]: variable for variable in container["env"]}


@pytest.mark.parametrize("variant", ["program", "internal_program"])
def test_secrets_reach_azure_only_as_secrets(variant: str, request: pytest.FixtureRequest) -> None:
    # internal_program passes the secrets as plain config values: `require_secret` must
    # still make them secrets.
    program: Program = request.getfixturevalue(variant)
    (server,) = program.of_type("dbforpostgresql:Server")
    assert rpc.is_rpc_secret(server.inputs["administratorLoginPassword"])
    assert rpc.unwrap_rpc_secret(server.inputs["administratorLoginPassword"]) == DB_PASSWORD
    assert program.facts["database_url_is_secret"] is True
    assert program.facts["redis_url_is_secret"] is True
    for app in program.of_type("app:ContainerApp"):
        # The secrets sit in the app's configuration, which travels as a secret...
        assert rpc.is_rpc_secret(app.inputs["configuration"])
        secrets = {s["name"]: s["value"] for s in plain(app.inputs["configuration"])["secrets"]}
        assert secrets["django-secret-key"] == SECRET_KEY
        # The URLs carry the credentials escaped, and the app's own parsers get them back.
        assert database_from_url(secrets["database-url"])["PASSWORD"] == DB_PASSWORD
        assert url_to_parts(secrets["redis-url"]).password == REDIS_KEY
        assert (
            ConnectionPool.from_url(secrets["redis-url"]).connection_kwargs["password"] == REDIS_KEY
        )
        # ...and the environment refers to them by name, never by value.
        env = _env(app)
        for variable in ("DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY"):
            assert env[variable] == {
                "name": variable,
                "secretRef": variable.lower().replace("_", "-"),
            }
        values = " ".join(str(v.get("value", "")) for v in env.values())
        assert DB_PASSWORD not in values
        assert SECRET_KEY not in values


def test_the_example_stack_file_holds_no_secret_in_plain_text() -> None:
    config = yaml.safe_load((AZURE / "Pulumi.prod.yaml").read_text())["config"]
    for key in SECRET_KEYS:
        value = config.get(f"provenant:{key}")
        assert value is None or (isinstance(value, dict) and set(value) == {"secure"}), key
    for key, value in config.items():
        if any(word in key.lower() for word in ("password", "secret", "token", "credential")):
            assert isinstance(value, dict), f"{key} in plain text"
            assert set(value) == {"secure"}, f"{key} in plain text"


def test_the_example_stack_file_configures_everything_the_program_requires() -> None:
    config = yaml.safe_load((AZURE / "Pulumi.prod.yaml").read_text())["config"]
    secrets = {f"provenant:{key}": "set-with-pulumi-config-set-secret" for key in SECRET_KEYS}
    read: list[Any] = []

    def read_options() -> None:
        pulumi.runtime.set_all_config({k: str(v) for k, v in config.items()} | secrets, [])
        read.append(options_from_config(pulumi.Config("provenant")))

    in_own_thread(read_options)
    (options,) = read
    assert options.site == "provenantprod"
    assert options.backup_retention_days == 35


# --- bad input


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("provenant:site", "Provenant_Prod", "lowercase letters and digits"),
        ("provenant:backupRetentionDays", "60", "backupRetentionDays 60"),
        ("provenant:besuRpcNodes", "-1", "at least 1"),
    ],
)
def test_a_bad_setting_stops_the_program_before_anything_is_declared(
    key: str, value: str, message: str
) -> None:
    mocks = AzureLikeMocks()
    with pytest.raises(ValueError, match=message):
        run_program({**CONFIG, key: value}, SECRET_CONFIG_KEYS, mocks)
    assert mocks.registered == []


def test_a_missing_secret_stops_the_program_before_anything_is_declared() -> None:
    mocks = AzureLikeMocks()
    config = {k: v for k, v in CONFIG.items() if k != "provenant:dbAdminPassword"}
    with pytest.raises(pulumi.ConfigMissingError, match="dbAdminPassword"):
        run_program(config, SECRET_CONFIG_KEYS, mocks)
    assert mocks.registered == []


# --- isolation


def _pulumi_runtime_seen_here() -> tuple[Any, ...]:
    return (
        pulumi.runtime.settings.get_monitor(),
        pulumi.runtime.settings.get_root_resource(),
        pulumi.runtime.settings.get_project(),
        pulumi.runtime.config.get_config("provenant:site"),
    )


def test_running_the_program_leaves_no_pulumi_runtime_behind(
    program: Program, internal_program: Program
) -> None:
    assert program.declared
    assert internal_program.declared
    untouched = (None, None, "project", None)
    assert _pulumi_runtime_seen_here() == untouched
    # ...nor in a thread started afterwards (the defaults were put back).
    seen: list[tuple[Any, ...]] = []
    later = threading.Thread(target=lambda: seen.append(_pulumi_runtime_seen_here()))
    later.start()
    later.join()
    assert seen == [untouched]
    assert not [t for t in threading.enumerate() if t.name == "pulumi-mocks"]
