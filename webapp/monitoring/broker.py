"""The MQTT broker's view of the device registry: Mosquitto's password file and ACL written
from the `Device` table, and the broker told to re-read them (SIGHUP).

Each active device may write its own topic only
(`provenant/<organisation slug>/devices/<device id>/readings`); the ingest user may read
every device's topic. A revoked device has no password line, so the broker refuses it.

Where: `settings.MQTT_BROKER_DIR` (unset: the registry does not manage a broker), with the
ingest user's name and password in `MQTT_INGEST_USERNAME` / `MQTT_INGEST_PASSWORD`; the
broker's pid is read from `<dir>/mosquitto.pid` (the config template writes it there).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
import signal
from pathlib import Path

from django.conf import settings

from webapp.monitoring.models import Device

READINGS_TOPIC = "provenant/{organisation}/devices/{device}/readings"
INGEST_TOPIC = "provenant/+/devices/+/readings"
PASSWORD_FILE = "passwords"
ACL_FILE = "acl"
PID_FILE = "mosquitto.pid"


def mosquitto_password_hash(password: str, *, iterations: int = 101) -> str:
    """Mosquitto's own `$7$` form (PBKDF2-SHA512), as `mosquitto_passwd` writes it."""
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    encoded = (base64.b64encode(part).decode() for part in (salt, digest))
    return f"$7${iterations}${next(encoded)}${next(encoded)}"


def _write(path: Path, text: str) -> None:
    """Replace `path` whole, so the broker never reads half a file."""
    partial = path.with_name(f".{path.name}.tmp")
    partial.write_text(text)
    os.chmod(partial, 0o600)
    os.replace(partial, path)


def broker_files_write(
    *, directory: Path, ingest_username: str, ingest_password_hash: str
) -> tuple[Path, Path]:
    """Write the password file and the ACL for every active device into `directory`."""
    devices = (
        Device.objects.filter(state=Device.State.ACTIVE)
        .exclude(mqtt_password_hash="")
        .select_related("organisation")
        .order_by("organisation__slug", "device_id")
    )
    passwords = [f"{ingest_username}:{ingest_password_hash}"]
    acl = [f"user {ingest_username}", f"topic read {INGEST_TOPIC}", ""]
    for device in devices:
        user = f"{device.organisation.slug}/{device.device_id}"
        topic = READINGS_TOPIC.format(
            organisation=device.organisation.slug, device=device.device_id
        )
        passwords.append(f"{user}:{device.mqtt_password_hash}")
        acl += [f"user {user}", f"topic write {topic}", ""]
    directory.mkdir(parents=True, exist_ok=True)
    password_path, acl_path = directory / PASSWORD_FILE, directory / ACL_FILE
    _write(password_path, "\n".join(passwords) + "\n")
    _write(acl_path, "\n".join(acl) + "\n")
    return password_path, acl_path


def broker_reload(*, directory: Path) -> bool:
    """Tell the broker whose pid file is in `directory` to re-read its files; False when no
    broker runs there."""
    try:
        pid = int((directory / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        return False
    return True


def broker_sync() -> None:
    """Bring the managed broker (if any) in line with the registry."""
    directory = getattr(settings, "MQTT_BROKER_DIR", "")
    if not directory:
        return
    password = getattr(settings, "MQTT_INGEST_PASSWORD", "")
    broker_files_write(
        directory=Path(directory),
        ingest_username=getattr(settings, "MQTT_INGEST_USERNAME", "provenant-ingest"),
        ingest_password_hash=mosquitto_password_hash(password) if password else "!",
    )
    with contextlib.suppress(PermissionError):
        broker_reload(directory=Path(directory))
