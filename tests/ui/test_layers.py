"""The UI shows and forwards; it never reaches around the engine to the adapters."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import b2tui.ui

UI = Path(b2tui.ui.__file__).parent
COMPOSITION_ROOTS = {"screenshots.py"}
"""Modules that wire adapters to the engine (like the CLI); declared in pyproject."""


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_ui_modules_import_nothing_from_adapters() -> None:
    offenders = {
        str(p.relative_to(UI)): sorted(m for m in _imports(p) if m.startswith("b2tui.adapters"))
        for p in UI.rglob("*.py")
        if p.name not in COMPOSITION_ROOTS
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    # The app really is one of the scanned files (the scan cannot pass vacuously).
    assert "b2tui.engine.api" in _imports(UI / "app.py")


def test_import_contracts_hold() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "lint-imports (import-linter) is missing from the venv"
    done = subprocess.run([exe], capture_output=True, text=True, cwd=UI.parent.parent)
    assert done.returncode == 0, done.stdout[-2000:]
