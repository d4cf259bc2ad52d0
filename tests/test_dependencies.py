"""Runtime dependencies are complete: what the library and the dashboard import is pinned in requirements.txt.

``make test`` installs the test packages on top of the runtime ones, so a runtime import of a test-only
package (scikit-image once was one) passes every other test and breaks ``make run`` on a new machine. These
tests read every import of ``painxai/``, ``app.py`` and ``app_pages/`` (lazy ones included) and check it against
``painxai.dependencies.RUNTIME_MODULES`` and ``requirements.txt``; the last ones check what a user sees when a
package is missing after all.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest

from painxai.dependencies import RUNTIME_MODULES

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = {"painxai", "app_pages"}


def runtime_files(root: Path) -> list[Path]:
    """The Python files that run in a user's environment: the package, app.py and the dashboard's pages."""
    return [*sorted((root / "painxai").rglob("*.py")), root / "app.py", *sorted((root / "app_pages").rglob("*.py"))]


def third_party_imports(root: Path, files: list[Path]) -> dict[str, list[str]]:
    """Top-level module -> ["file:line", ...] (relative to ``root``) of every absolute import of a module
    that is neither in the standard library nor first-party, at module level or inside functions."""
    found: dict[str, list[str]] = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in FIRST_PARTY:
                    found.setdefault(top, []).append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(requirements: Path) -> dict[str, str]:
    """Canonical distribution name -> version of every ``name==version`` line of a requirements file."""
    pins = {}
    for line in requirements.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"{requirements.name}: {line!r} is not pinned with =="
            pins[canonical(re.sub(r"\[.*\]", "", name))] = version
    return pins


def unlisted_imports(root: Path, table: dict[str, str]) -> list[str]:
    """Third-party imports of the runtime files that ``table`` (module -> distribution) does not name."""
    return [
        f"{module} ({', '.join(places[:3])})"
        for module, places in third_party_imports(root, runtime_files(root)).items()
        if module not in table
    ]


def test_every_runtime_import_is_a_known_runtime_module() -> None:
    missing = unlisted_imports(ROOT, RUNTIME_MODULES)
    assert missing == [], (
        "imported at run time but not in painxai.dependencies.RUNTIME_MODULES (add it there and pin its "
        f"distribution in requirements.txt; a test-only package belongs in tests/ or bench/): {missing}"
    )


def test_every_runtime_module_is_pinned_in_requirements() -> None:
    pins = pinned(ROOT / "requirements.txt")
    unpinned = sorted({dist for dist in RUNTIME_MODULES.values() if canonical(dist) not in pins})
    assert unpinned == [], f"not pinned in requirements.txt: {unpinned}"


def test_each_module_comes_from_its_listed_distribution() -> None:
    """The table is true of the installed packages: e.g. cv2 comes from opencv-contrib-python, not another
    OpenCV distribution, and the test packages provide none of the runtime modules."""
    providers = importlib.metadata.packages_distributions()
    wrong = {
        module: providers.get(module)
        for module, dist in RUNTIME_MODULES.items()
        if canonical(dist) not in {canonical(p) for p in providers.get(module, [])}
    }
    assert wrong == {}, f"module -> the distributions that really provide it: {wrong}"


def test_test_packages_are_not_runtime_packages() -> None:
    both = set(pinned(ROOT / "requirements.txt")) & set(pinned(ROOT / "requirements-test.txt"))
    assert both == set(), f"in both requirements files: {sorted(both)}"


def test_the_gpu_requirements_pin_the_same_tensorflow() -> None:
    cpu = pinned(ROOT / "requirements.txt")["tensorflow-cpu"]
    gpu = pinned(ROOT / "requirements-gpu.txt")
    assert gpu == {"tensorflow": cpu}, f"requirements-gpu.txt must pin tensorflow[and-cuda]=={cpu} only: {gpu}"


def test_the_check_finds_a_test_package_imported_inside_a_function(tmp_path: Path) -> None:
    """A test of the test: the old bug (scikit-image imported lazily by the audit) and one in a page."""
    (tmp_path / "painxai" / "explain").mkdir(parents=True)
    (tmp_path / "painxai" / "explain" / "sanity.py").write_text(
        "import numpy as np\nfrom painxai.errors import PainxaiError\n\n\ndef ssim():\n"
        "    from skimage.metrics import structural_similarity\n    return structural_similarity\n"
    )
    (tmp_path / "app_pages").mkdir()
    (tmp_path / "app_pages" / "page.py").write_text("import os\nimport pytest\n")
    (tmp_path / "app.py").write_text("import streamlit as st\n")
    missing = unlisted_imports(tmp_path, {"numpy": "numpy", "streamlit": "streamlit"})
    assert missing == ["skimage (painxai/explain/sanity.py:6)", "pytest (app_pages/page.py:2)"]


def _run_without_site_packages(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a new interpreter in the checkout, after numpy is imported, with site-packages then
    taken off ``sys.path``: every package not imported yet is 'not installed'."""
    prelude = (
        "import sys, importlib\nimport numpy\n"
        "sys.path[:] = [p for p in sys.path if 'site-packages' not in p]\nimportlib.invalidate_caches()\n"
    )
    return subprocess.run(
        [sys.executable, "-c", prelude + code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_a_missing_runtime_package_is_a_painxai_error_naming_what_to_install() -> None:
    result = _run_without_site_packages(
        "import painxai\nfrom painxai.errors import PainxaiError\nfrom painxai.faces.crop import square_box\n"
        "from painxai.faces.crop import crop_face\n"
        "try:\n    crop_face(numpy.zeros((8, 8, 3), numpy.uint8), (0, 0, 8, 8), 4)\n"
        "except PainxaiError as error:\n    print('caught:', error)\n"
    )
    assert result.returncode == 0, result.stderr
    assert "caught: painxai needs the package opencv-contrib-python (module cv2)" in result.stdout
    assert "pip install -r requirements.txt" in result.stdout


def test_other_packages_probing_for_a_missing_module_get_the_usual_error() -> None:
    result = _run_without_site_packages(
        "import painxai\ntry:\n    import cv2\nexcept ModuleNotFoundError as error:\n"
        "    print(type(error).__name__)\n"
    )
    assert result.stdout.strip() == "ModuleNotFoundError", result.stderr


@pytest.mark.parametrize("module", ["typer", "cv2"])
def test_an_uncaught_missing_package_is_one_line_not_a_traceback(module: str) -> None:
    # The command line's own module-level imports (typer) fail before any handler of ours can run.
    code = "import painxai.cli\n" if module == "typer" else "import painxai.faces.crop as c\nc.crop_face(None, 0, 0)\n"
    result = _run_without_site_packages(code)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: painxai needs the package {RUNTIME_MODULES[module]} (module {module})")
