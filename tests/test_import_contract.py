"""The import contract of the package layout (docs/ARCHITECTURE.md), checked on the source's AST.

Every import counts, also those inside functions and ``if TYPE_CHECKING:`` blocks: a lazy import is still
a dependency. The rules:

- streamlit, typer and rich are imported only in ``painxai/cli/`` (the library serves the CLI and the
  dashboard alike);
- ``painxai.data`` and ``painxai.faces`` never import ``painxai.models`` or anything above it;
- ``painxai.models`` imports nothing of painxai but the leaf modules (errors, paths, atomic, labels) and
  itself;
- ``painxai.runs`` never imports ``painxai.training``;
- ``painxai.training`` never imports ``painxai.inference`` or ``painxai.explain``;
- and, more generally, a package imports only packages of its own layer or below (``LAYERS``, the
  diagram of docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent / "painxai"

UI_LIBRARIES = ("streamlit", "typer", "rich")
ABOVE_DATA = ("models", "runs", "training", "explain", "evaluation", "inference", "monitor", "dashboard", "cli")
MODELS_MAY_IMPORT = ("errors", "paths", "atomic", "labels", "models")
#: (importing subpackage, subpackages it must not import)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "data": ABOVE_DATA,
    "faces": ABOVE_DATA,
    "runs": ("training",),
    "training": ("inference", "explain"),
}


def imported_modules(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file ``path`` of module ``module``.

    ``from painxai import atomic`` counts as ``painxai.atomic``; relative imports are resolved.
    """
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def contract_violations(root: Path) -> list[str]:
    """Every broken rule in the package whose folder is ``root`` (its name is the top-level package)."""
    top = root.name
    problems = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root.parent).with_suffix("")
        module = ".".join(relative.parts[:-1] if path.name == "__init__.py" else relative.parts)
        parts = module.split(".")
        area = parts[1] if len(parts) > 1 else ""
        for line, name in imported_modules(path, module):
            where = f"{path.relative_to(root.parent)}:{line} imports {name}"
            first = name.split(".")[0]
            if first in UI_LIBRARIES and area != "cli":
                problems.append(f"{where}: {first} belongs to {top}/cli/ only")
            if first != top:
                continue
            target = name.split(".")[1] if "." in name else ""
            if area == "models" and target not in MODELS_MAY_IMPORT:
                problems.append(f"{where}: models may import only {', '.join(MODELS_MAY_IMPORT)}")
            if target in FORBIDDEN.get(area, ()):
                problems.append(f"{where}: {area} must not import {target}")
    return problems


#: The layers of docs/ARCHITECTURE.md, top to bottom: a package imports only packages of its own layer or below.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli", "dashboard"),
    ("monitor", "audit"),
    ("training",),
    ("inference",),
    ("explain",),
    ("evaluation",),
    ("runs",),
    ("models",),
    ("synth",),
    ("faces",),
    ("data",),
    ("errors", "paths", "atomic", "labels", "hashing", "dependencies", "native_logs"),
)


def layer_violations(root: Path) -> list[str]:
    """Imports of a package from a higher layer of ``LAYERS`` (the diagram of docs/ARCHITECTURE.md)."""
    level = {name: index for index, names in enumerate(LAYERS) for name in names}
    problems = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root.parent).with_suffix("")
        module = ".".join(relative.parts[:-1] if path.name == "__init__.py" else relative.parts)
        area = module.split(".")[1] if "." in module else ""
        for line, name in imported_modules(path, module):
            parts = name.split(".")
            target = parts[1] if parts[0] == root.name and len(parts) > 1 else ""
            if area in level and target in level and level[target] < level[area]:
                problems.append(f"{path.relative_to(root.parent)}:{line} imports {name}: {target} is above {area}")
    return problems


def test_packages_import_only_their_own_layer_or_below() -> None:
    problems = layer_violations(PACKAGE_ROOT)
    assert problems == [], "\n".join(problems)


def test_the_package_keeps_its_import_contract() -> None:
    problems = contract_violations(PACKAGE_ROOT)
    assert problems == [], "\n".join(problems)


def test_the_checker_sees_every_kind_of_import(tmp_path: Path) -> None:
    """A test of the test: a small package tree with one bad import per rule, each found."""
    root = tmp_path / "painxai"
    files = {
        "__init__.py": "",
        "errors.py": "",
        "data/__init__.py": "",
        "data/ok.py": "from painxai.errors import PainxaiError\nfrom . import ok\n",
        "data/bad.py": "def load():\n    from painxai.models import build\n    return build\n",
        "faces/relative.py": "from ..training import pool\n",
        "models/__init__.py": "from painxai.models.specs import SPECS\nfrom painxai import atomic\n",
        "models/bad.py": "import painxai.data.manifest\n",
        "runs/bad.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from painxai.training import fit\n",
        "training/bad.py": "import painxai.explain.cam as cam\n",
        "dashboard/ui.py": "import streamlit as st\n",
        "explain/cli_bits.py": "from rich.table import Table\n",
        "cli/fine.py": "import typer\nfrom painxai.training import fit\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    problems = contract_violations(root)
    expected = {
        "painxai/data/bad.py:2 imports painxai.models.build: data must not import models",
        "painxai/faces/relative.py:1 imports painxai.training.pool: faces must not import training",
        "painxai/models/bad.py:1 imports painxai.data.manifest: models may import only errors, paths, atomic, "
        "labels, models",
        "painxai/runs/bad.py:3 imports painxai.training.fit: runs must not import training",
        "painxai/training/bad.py:1 imports painxai.explain.cam: training must not import explain",
        "painxai/dashboard/ui.py:1 imports streamlit: streamlit belongs to painxai/cli/ only",
        "painxai/explain/cli_bits.py:1 imports rich.table.Table: rich belongs to painxai/cli/ only",
    }
    assert set(problems) == expected, "\n".join(problems)
    layered = layer_violations(root)
    assert "painxai/faces/relative.py:1 imports painxai.training.pool: training is above faces" in layered
    assert not any(line.startswith("painxai/cli/") for line in layered)  # the UI layer imports anything
