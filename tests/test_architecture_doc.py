"""docs/ARCHITECTURE.md stays true to the tree: every module it names exists, and every module of ``painxai/``
is named in its Modules table.

The Modules table names modules by file name within a package: a row whose first cell is a package
(``**data/**``, or ``**leaves**`` for the modules directly under ``painxai/``) sets the package of the rows
below it, and names its modules itself in its second cell when it has no rows of its own
(``**evaluation/** | `metrics.py` (...), `stats.py` ...``). Anywhere else in the doc a file name with a folder
(``painxai/runs/layout.py``, ``audit/store.py``, ``app_pages/_shared.py``) must exist as written (from the
repository root, else from ``painxai/``); a bare one (``native_logs.py``) must exist somewhere under
``painxai/``. ``__init__.py`` files are the packages themselves and need no row.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "ARCHITECTURE.md"
PY_FILE = re.compile(r"(?<![\w./-])((?:[\w-]+/)*[\w-]+\.py)\b")
PACKAGE_CELL = re.compile(r"^\*\*(?:(leaves)|([\w/]+)/)\*\*")  # a note may follow: **runs/** (...)


def _modules_table(text: str) -> list[list[str]]:
    """The cells of each row of the doc's Modules table (the header and its rule left out)."""
    section = text.split("## Modules", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip().strip("|").split("|") for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row] for row in rows[2:]]


def table_modules(text: str) -> dict[Path, str]:
    """Each module path (relative to the repository root) the Modules table names -> the row naming it."""
    named: dict[Path, str] = {}
    package = ""
    for cells in _modules_table(text):
        header = PACKAGE_CELL.match(cells[0])
        if header:
            package = "" if header.group(1) else header.group(2)
            listed = cells[1] if len(cells) > 1 else ""  # a package row with no rows below names its modules here
        else:
            listed = cells[0]
        for name in re.findall(r"`([\w/]+\.py)`", listed):
            named[Path("painxai", package, name)] = cells[0]
    return named


def missing_paths(text: str) -> list[str]:
    """The file names of ``text`` that name no file: table rows resolved in their package, the rest as the
    module docstring says."""
    missing = [f"{path} (row {row})" for path, row in table_modules(text).items() if not (ROOT / path).is_file()]
    outside_table = text.replace(text.split("## Modules", 1)[1].split("\n## ", 1)[0], "")
    for name in sorted(set(PY_FILE.findall(outside_table))):
        if "/" in name:
            found = (ROOT / name).is_file() or (ROOT / "painxai" / name).is_file()
        else:
            found = (ROOT / name).is_file() or any((ROOT / "painxai").rglob(name))
        if not found:
            missing.append(name)
    return missing


def unnamed_modules(text: str) -> list[Path]:
    """The modules under ``painxai/`` (``__init__.py`` aside) that the Modules table does not name."""
    named = set(table_modules(text))
    return sorted(
        path.relative_to(ROOT) for path in (ROOT / "painxai").rglob("*.py")
        if path.name != "__init__.py" and path.relative_to(ROOT) not in named
    )


def test_every_module_the_doc_names_exists() -> None:
    assert missing_paths(DOC.read_text(encoding="utf-8")) == []


def test_every_module_is_named_in_the_doc() -> None:
    assert unnamed_modules(DOC.read_text(encoding="utf-8")) == []


def test_the_checks_catch_a_missing_and_an_unnamed_module() -> None:
    text = DOC.read_text(encoding="utf-8")
    ghost = text.replace("| `upgrade.py` |", "| `upgrade.py`, `ghost.py` |", 1)
    assert ghost != text, "the doc no longer has the upgrade.py row this test edits"
    assert missing_paths(ghost) == ["painxai/runs/ghost.py (row `upgrade.py`, `ghost.py`)"]
    assert missing_paths(text + "\nSee `painxai/runs/ghost.py`.\n") == ["painxai/runs/ghost.py"]
    assert unnamed_modules(text.replace("| `upgrade.py` |", "| `upgraded.py` |", 1)) == [
        Path("painxai/runs/upgrade.py")
    ]
