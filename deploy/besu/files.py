"""Writing the network's files: TOML out (tomllib only reads), and writes that are recorded and
skipped when the content is already there, so running a command twice changes nothing the
second time and the operator sees exactly which files to copy to which node."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Scalar = str | int | bool


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(value, Sequence):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def toml_dumps(doc: Mapping[str, Any], comments: Mapping[str, str] | None = None) -> str:
    """TOML for a document of scalars and lists of scalars, one level of tables and arrays of
    tables: all the shapes Besu's config, the permissions file and the consortium file use.
    `comments` puts a `# ...` line above a top-level key."""
    comments = comments or {}
    lines: list[str] = []
    tables: list[tuple[str, Mapping[str, Any]]] = []
    arrays: list[tuple[str, Sequence[Mapping[str, Any]]]] = []
    for key, value in doc.items():
        if isinstance(value, Mapping):
            tables.append((key, value))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            arrays.append((key, value))
        else:
            if key in comments:
                lines.append(f"# {comments[key]}")
            lines.append(f"{key} = {_value(value)}")
    for key, table in tables:
        lines += ["", f"[{key}]"] + [f"{k} = {_value(v)}" for k, v in table.items()]
    for key, entries in arrays:
        for entry in entries:
            lines += ["", f"[[{key}]]"] + [f"{k} = {_value(v)}" for k, v in entry.items()]
    return "\n".join(lines) + "\n"


@dataclass
class FileChanges:
    """The files a command created, updated, moved or left as they were, under `root`."""

    root: Path
    entries: list[tuple[str, str]] = field(default_factory=list)

    def _note(self, path: Path, what: str) -> None:
        self.entries.append((what, str(path.relative_to(self.root))))

    def write(self, path: Path, text: str, *, private: bool = False) -> None:
        """Write `text` unless the file holds it already; `private` files are mode 0600 from
        the moment they exist (a node key must never be readable by others, even briefly)."""
        if path.exists() and path.read_text() == text:
            if private:
                path.chmod(0o600)
            self._note(path, "unchanged")
            return
        what = "updated" if path.exists() else "created"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
        self._note(path, what)

    def move(self, source: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        shutil.move(str(source), str(target))
        self.entries.append(
            ("moved", f"{source.relative_to(self.root)} -> {target.relative_to(self.root)}")
        )

    def remove(self, path: Path) -> None:
        if path.exists():
            path.unlink()
            self._note(path, "removed")

    def changed(self) -> list[tuple[str, str]]:
        return [(what, path) for what, path in self.entries if what != "unchanged"]

    def report(self) -> list[str]:
        changed = self.changed()
        if not changed:
            return ["Files: nothing changed."]
        width = max(len(what) for what, _ in changed)
        return ["Files:"] + [f"  {what:<{width}}  {path}" for what, path in changed]
