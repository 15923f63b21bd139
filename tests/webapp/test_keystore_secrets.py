"""Each keystore file is encrypted under its own secret, derived from the master secret and
the file's name: one leaked per-file secret opens one key. Files made when the master
encrypted every file still open, and are re-encrypted under their own secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account

from contracts.custody.backends import KeystoreFileBackend
from contracts.custody.keystore import (
    KeystoreFile,
    KeyStoreUnavailable,
    WrappingKeyFile,
    derived_passphrase,
)

pytestmark = pytest.mark.unit

MASTER = "the-master-secret-of-this-deployment"
FAST_KDF = 2**4
DIGEST = b"\x07" * 32


def backend(directory: Path, master: str = MASTER) -> KeystoreFileBackend:
    return KeystoreFileBackend(directory, master, FAST_KDF)


def test_two_organisations_files_do_not_open_with_each_others_secret(tmp_path: Path) -> None:
    files = backend(tmp_path)
    mine_ref, mine = files.create(label="mine")
    refinery_ref, refinery = files.create(label="refinery")
    assert refinery.address != mine.address
    mine_secret, refinery_secret = files.secret(mine_ref), files.secret(refinery_ref)
    assert len({mine_secret, refinery_secret, MASTER}) == 3

    assert KeystoreFile(tmp_path / mine_ref, mine_secret).address == mine.address
    KeystoreFile(tmp_path / mine_ref, mine_secret).sign_digest(DIGEST)
    KeystoreFile(tmp_path / refinery_ref, refinery_secret).sign_digest(DIGEST)
    for path, wrong in (
        (tmp_path / mine_ref, refinery_secret),
        (tmp_path / refinery_ref, mine_secret),
        (tmp_path / mine_ref, MASTER),  # the master alone opens no file either
    ):
        with pytest.raises(KeyStoreUnavailable, match="does not open it"):
            KeystoreFile(path, wrong).sign_digest(DIGEST)

    kek_ref, wrapper = files.create_wrapping_key(label="personal-data")
    wrapped = wrapper.wrap(b"\x01" * 32)
    assert WrappingKeyFile(tmp_path / kek_ref, files.secret(kek_ref)).unwrap(wrapped)
    for wrong in (mine_secret, MASTER):
        with pytest.raises(KeyStoreUnavailable, match="does not open it"):
            WrappingKeyFile(tmp_path / kek_ref, wrong).unwrap(wrapped)


def test_the_derived_secret_depends_on_master_and_key_and_is_not_the_master() -> None:
    secret = derived_passphrase(MASTER, "mine.json")
    assert secret == derived_passphrase(MASTER, "mine.json")
    assert secret != derived_passphrase(MASTER, "refinery.json")
    assert secret != derived_passphrase(MASTER + "x", "mine.json")
    assert MASTER not in secret
    with pytest.raises(ValueError, match="master secret is empty"):
        derived_passphrase("", "mine.json")


def test_the_master_is_never_written_to_a_file(tmp_path: Path) -> None:
    files = backend(tmp_path)
    references = [files.create(label="mine")[0], files.create_wrapping_key(label="kek")[0]]
    key = Account.create().key
    references.append(files.import_key(label="imported", private_key=key)[0])
    files.open(references[0]).sign_digest(DIGEST)
    files.open_wrapper(references[1]).wrap(b"\x02" * 32)

    written = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(references)
    for secret in [MASTER, *(files.secret(r) for r in references)]:
        assert secret.encode() not in written
        assert secret.encode().hex().encode() not in written


def test_without_a_master_secret_no_file_is_made_or_opened(tmp_path: Path) -> None:
    with pytest.raises(KeyStoreUnavailable, match="PROVENANT_KEYSTORE_PASSPHRASE is not set"):
        backend(tmp_path, master="").create(label="mine")
    assert list(tmp_path.iterdir()) == []


def test_a_file_made_under_the_master_opens_and_is_re_encrypted_under_its_own_secret(
    tmp_path: Path,
) -> None:
    old = KeystoreFile.create(tmp_path / "mine.json", MASTER, kdf_iterations=FAST_KDF)
    old_kek = WrappingKeyFile.create(tmp_path / "kek.json", MASTER, kdf_iterations=FAST_KDF)
    wrapped = old_kek.wrap(b"\x03" * 32)
    files = backend(tmp_path)

    store = files.open("mine.json")
    store.sign_digest(DIGEST)
    assert store.address == old.address
    assert files.open_wrapper("kek.json").unwrap(wrapped) == b"\x03" * 32

    # Now only the file's own secret opens it; the master no longer does.
    KeystoreFile(tmp_path / "mine.json", files.secret("mine.json")).sign_digest(DIGEST)
    with pytest.raises(KeyStoreUnavailable, match="does not open it"):
        KeystoreFile(tmp_path / "mine.json", MASTER).sign_digest(DIGEST)
    own = WrappingKeyFile(tmp_path / "kek.json", files.secret("kek.json"))
    assert own.unwrap(wrapped) == b"\x03" * 32
    with pytest.raises(KeyStoreUnavailable, match="does not open it"):
        WrappingKeyFile(tmp_path / "kek.json", MASTER).unwrap(wrapped)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kek.json", "mine.json"]
    assert (tmp_path / "mine.json").stat().st_mode & 0o777 == 0o600
    assert files.open("mine.json").address == old.address  # and it keeps opening


def test_a_wrong_master_opens_neither_old_nor_new_files(tmp_path: Path) -> None:
    KeystoreFile.create(tmp_path / "old.json", MASTER, kdf_iterations=FAST_KDF)
    backend(tmp_path).create(label="new")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    wrong = backend(tmp_path, master="not-the-master-secret")
    for reference in ("old.json", "new.json"):
        with pytest.raises(KeyStoreUnavailable, match="does not open it"):
            wrong.open(reference).sign_digest(DIGEST)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # nothing rewritten
