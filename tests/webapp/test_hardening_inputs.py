"""Input hardening at the edge: deeply nested JSON, NUL characters, Unicode digits, numbers
past what the contracts hold, oversized lists and uploads. Each is refused with a 4xx and
changes nothing; none takes the process down."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from contracts.domain import Role
from webapp.organisations.services import api_token_create, organisation_create

ROOT = Path(__file__).resolve().parents[2]
PROBLEM = "application/problem+json"

#: 80,000 levels in 160 KB: enough to overflow the C stack under py_ecc's recursion limit.
NESTED = '{"a": ' + "[" * 80_000 + "]" * 80_000 + "}"

# Runs in a fresh interpreter, through the WSGI entry point, as the web server does.
CHILD = textwrap.dedent(
    """
    import io, json, sys
    from webapp.wsgi import application  # the entry point: settings, apps, recursion limit
    from django.test import Client

    nested = open(sys.argv[1], "rb").read()
    token = sys.argv[2]
    answers = {}
    proof = io.BytesIO(nested)
    proof.name = "nested.json"
    answers["verify"] = Client().post("/verify", {"proof": proof}).status_code
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_IDEMPOTENCY_KEY="nested-1")
    for path in ("/api/v1/lots/register", "/api/v1/transformations", "/api/v1/bundles"):
        response = api.post(path, nested, content_type="application/json")
        answers[path] = [response.status_code, response["Content-Type"]]
    print(json.dumps(answers))
    """
)


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_deeply_nested_json_is_refused_and_the_process_lives(tmp_path: Path) -> None:
    organisation = organisation_create(name="Nested Test Org", roles=Role.MINER)
    token, _ = api_token_create(organisation=organisation, name="fuzz")
    payload = tmp_path / "nested.json"
    payload.write_text(NESTED)
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": "webapp.settings",
        "PROVENANT_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(ROOT),
    }
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(payload), token],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, f"the process died ({child.returncode}): {child.stderr[-2000:]}"
    answers: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    assert answers.pop("verify") == 400
    for path, (status, content_type) in answers.items():
        assert status == 400, path
        assert content_type == PROBLEM, path
