"""`--accounts-from-app` and `sync-accounts` allow-list the app's organisations' current and
pending signing keys (read through Django), and drop retired ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.besu_network import (
    DEPLOYER,
    consortium_doc,
    curl_calls,
    member,
    node_dirs,
    permissions,
    run,
    write_consortium,
)
from webapp.organisations.models import Organisation, OrganisationKey

CURRENT, PENDING, RETIRED, OTHER = ("0x" + b * 20 for b in ("c1", "c2", "c3", "c4"))


def _organisations() -> Organisation:
    acme = Organisation.objects.create(slug="acme", name="Acme", address=CURRENT)
    for address, status in ((CURRENT, "active"), (PENDING, "pending"), (RETIRED, "retired")):
        OrganisationKey.objects.create(
            organisation=acme, backend="keystore", reference=address, address=address,
            status=status,
        )  # fmt: skip
    return acme


def test_generate_allow_lists_the_apps_current_and_pending_keys(
    db: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _organisations()
    members = [member(s, n, accounts=[]) for n, s in enumerate(["a", "b", "c", "d"], 1)]
    source = write_consortium(
        tmp_path / "c.toml",
        consortium_doc(members=[*members, member("g", 5, role="rpc", accounts=[])]),
    )
    out = tmp_path / "net"
    code, _, err = run(
        capsys, "generate", "--accounts-from-app", "--consortium", str(source), "--out", str(out)
    )
    assert code == 0, err
    for node in node_dirs(out):
        assert permissions(node)["accounts-allowlist"] == sorted([CURRENT, PENDING, DEPLOYER])


def test_sync_accounts_adds_a_new_key_and_drops_a_retired_one(
    db: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    acme = _organisations()
    source = write_consortium(tmp_path / "c.toml", consortium_doc())
    out = tmp_path / "net"
    assert run(capsys, "generate", "--accounts-from-app", "--consortium", str(source),
               "--out", str(out))[0] == 0  # fmt: skip

    OrganisationKey.objects.filter(address=PENDING).update(status="active")
    OrganisationKey.objects.filter(address=CURRENT).update(status="retired")
    acme.address = PENDING
    acme.save()
    OrganisationKey.objects.create(
        organisation=acme, backend="keystore", reference="next", address=OTHER, status="pending"
    )
    code, said, err = run(capsys, "sync-accounts", "--out", str(out))
    assert code == 0, err

    calls = curl_calls(said)
    added = {c["params"][0][0] for c in calls if c["method"] == "perm_addAccountsToAllowlist"}
    removed = {
        c["params"][0][0] for c in calls if c["method"] == "perm_removeAccountsFromAllowlist"
    }
    assert (added, removed) == ({OTHER}, {CURRENT})
    for node in node_dirs(out):
        accounts = permissions(node)["accounts-allowlist"]
        assert PENDING in accounts
        assert OTHER in accounts
        assert CURRENT not in accounts
