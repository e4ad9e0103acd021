"""The rooms' import direction (docs/architecture.md) holds: no import-linter contract broken."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept() -> None:
    exe = Path(sys.executable).parent / "lint-imports"
    proc = subprocess.run(
        [str(exe), "--config", str(ROOT / ".importlinter")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_core_and_accounting_do_no_io_imports() -> None:
    # Maths does no I/O: the core and accounting rooms never import sqlite3, socket or ssl.
    import ast

    for room in ("core", "accounting"):
        for path in (ROOT / "src" / "privet" / room).glob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                for name in names:
                    assert name.split(".")[0] not in {"sqlite3", "socket", "ssl", "pickle"}, (
                        f"{path.name} imports {name}"
                    )
