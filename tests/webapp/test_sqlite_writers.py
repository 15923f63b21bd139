"""On the embedded SQLite default, two processes that write at once (the worker's
consumers and the web app) wait for each other instead of failing with "database is
locked"."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SETUP = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import django
    django.setup()
    from django.db import connection, transaction
    marker = Path(sys.argv[1])
    """
)

#: Holds the write lock for a moment after telling the other process it has it.
HOLDER = SETUP + textwrap.dedent(
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO seen (who) VALUES ('holder')")
        marker.touch()
        time.sleep(1.5)
    print("holder done")
    """
)

#: Reads, then writes, in one transaction, while the holder has the lock: what a consumer
#: does (read its cursor and the events, write its effects).
READER_WRITER = SETUP + textwrap.dedent(
    """
    deadline = time.monotonic() + 60
    while not marker.exists():
        if time.monotonic() > deadline:
            sys.exit("the holder never took the lock")
        time.sleep(0.05)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM seen")
            cursor.execute("INSERT INTO seen (who) VALUES ('reader')")
    print("reader done")
    """
)


def test_concurrent_writers_on_sqlite_wait_instead_of_failing(tmp_path: Path) -> None:
    database = tmp_path / "provenant.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "DJANGO_SETTINGS_MODULE": "webapp.settings",
        "PROVENANT_DATA_DIR": str(tmp_path),
    }
    with contextlib.closing(sqlite3.connect(database)) as db, db:
        db.execute("CREATE TABLE seen (who text)")
    marker = tmp_path / "holding"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(marker)], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    reader = subprocess.run(
        [sys.executable, "-c", READER_WRITER, str(marker)], env=env, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    out, err = holder.communicate(timeout=120)

    assert "locked" not in reader.stderr, reader.stderr
    assert reader.returncode == 0, reader.stderr
    assert "reader done" in reader.stdout, reader.stderr
    assert holder.returncode == 0, err
    assert "holder done" in out, err
    with contextlib.closing(sqlite3.connect(database)) as db:
        rows = [who for (who,) in db.execute("SELECT who FROM seen ORDER BY rowid")]
    assert rows == ["holder", "reader"]
