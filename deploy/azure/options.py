"""The stack's settings, read once from Pulumi's configuration and checked before anything
is declared: a bad value stops `pulumi up` with a message instead of half a site.

Plain settings live in `Pulumi.<stack>.yaml` (`Pulumi.prod.yaml` is the example). The two
secrets are set with `pulumi config set --secret` and read with `require_secret`, so they stay
encrypted in the stack file and in the state, and every input built from them stays secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi

#: Configuration keys read with `require_secret`; `Pulumi.<stack>.yaml` holds them only as
#: `secure:` ciphertext.
SECRET_KEYS = ("dbAdminPassword", "djangoSecretKey")

#: Prefix of the globally unique names (storage accounts take 3-24 lowercase letters and
#: digits; "<site>records" must fit, and "<site>-worker-submission" the 32 characters of a
#: container app's name).
SITE_NAME = re.compile(r"[a-z][a-z0-9]{2,13}")


@dataclass(frozen=True)
class SiteOptions:
    site: str
    location: str
    #: The application image (deploy/production/Dockerfile), e.g.
    #: "<registry>.azurecr.io/provenant:1.4.0".
    image: str
    #: A container registry the apps pull from with their managed identity (AcrPull is
    #: granted outside this program); None: a public image.
    registry_server: str | None
    #: The site's public host name (a custom domain), beside the web app's own FQDN.
    hostname: str | None
    chain_id: int
    besu_validators: int
    besu_rpc_nodes: int
    besu_vm_size: str
    besu_disk_gb: int
    besu_ssh_public_key: str
    #: Where SSH to the Besu VMs may come from (a Bastion or VPN range); None: nowhere.
    admin_source_prefix: str | None
    postgres_version: str
    postgres_sku: str
    postgres_tier: str
    postgres_storage_gb: int
    backup_retention_days: int
    history_retention_days: int
    log_retention_days: int
    mqtt_host: str
    web_max_replicas: int
    alert_email: str | None
    #: True: web and streams get public FQDNs; False: the apps environment is internal (put
    #: Front Door or an Application Gateway in front).
    public_ingress: bool


@dataclass(frozen=True)
class SiteSecrets:
    db_admin_password: pulumi.Output[str]
    django_secret_key: pulumi.Output[str]


def options_from_config(config: pulumi.Config | None = None) -> SiteOptions:
    """The stack's settings from its configuration; ValueError names the first bad one."""
    config = config or pulumi.Config()
    options = SiteOptions(
        site=config.require("site"),
        location=pulumi.Config("azure-native").require("location"),
        image=config.require("image"),
        registry_server=config.get("registryServer"),
        hostname=config.get("hostname"),
        chain_id=config.require_int("chainId"),
        besu_validators=config.get_int("besuValidators") or 4,
        besu_rpc_nodes=config.get_int("besuRpcNodes") or 1,
        besu_vm_size=config.get("besuVmSize") or "Standard_D4s_v5",
        besu_disk_gb=config.get_int("besuDiskGb") or 512,
        besu_ssh_public_key=config.require("besuSshPublicKey"),
        admin_source_prefix=config.get("adminSourcePrefix"),
        postgres_version=config.get("postgresVersion") or "16",
        postgres_sku=config.get("postgresSku") or "Standard_D4ds_v5",
        postgres_tier=config.get("postgresTier") or "GeneralPurpose",
        postgres_storage_gb=config.get_int("postgresStorageGb") or 256,
        backup_retention_days=config.get_int("backupRetentionDays") or 35,
        history_retention_days=config.get_int("historyRetentionDays") or 2555,
        log_retention_days=config.get_int("logRetentionDays") or 90,
        mqtt_host=config.require("mqttHost"),
        web_max_replicas=config.get_int("webMaxReplicas") or 4,
        alert_email=config.get("alertEmail"),
        public_ingress=config.get_bool("publicIngress") is not False,
    )
    options_check(options)
    return options


def options_check(options: SiteOptions) -> None:
    if not SITE_NAME.fullmatch(options.site):
        raise ValueError(
            f"site {options.site!r}: 3-14 lowercase letters and digits, starting with a letter"
        )
    if options.besu_validators < 1 or options.besu_rpc_nodes < 1:
        raise ValueError("besuValidators and besuRpcNodes: at least 1 each (4 validators for BFT)")
    if options.besu_validators + options.besu_rpc_nodes > 40:
        raise ValueError("at most 40 Besu nodes: their addresses are fixed in the besu subnet")
    # Azure's bounds for a flexible server's backups.
    if not 7 <= options.backup_retention_days <= 35:
        raise ValueError(f"backupRetentionDays {options.backup_retention_days}: 7 to 35")
    # Azure's bounds for a container's time-based retention.
    if not 1 <= options.history_retention_days <= 146_000:
        raise ValueError(f"historyRetentionDays {options.history_retention_days}: 1 to 146000")
    if not 30 <= options.log_retention_days <= 730:
        raise ValueError(f"logRetentionDays {options.log_retention_days}: 30 to 730")
    if options.chain_id < 1:
        raise ValueError(f"chainId {options.chain_id}: a positive integer")


def secrets_from_config(config: pulumi.Config | None = None) -> SiteSecrets:
    config = config or pulumi.Config()
    return SiteSecrets(
        db_admin_password=config.require_secret("dbAdminPassword"),
        django_secret_key=config.require_secret("djangoSecretKey"),
    )
