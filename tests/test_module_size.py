"""No module of the library or the dashboard grows past MAX_LINES: a longer one holds two subjects."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 600


def long_modules(paths: list[Path], limit: int = MAX_LINES) -> dict[str, int]:
    """Relative path -> line count of each Python file in ``paths`` (folders searched recursively) over ``limit``."""
    files = [f for p in paths for f in ([p] if p.is_file() else sorted(p.rglob("*.py")))]
    counts = {str(f.relative_to(ROOT) if f.is_relative_to(ROOT) else f): len(f.read_text().splitlines()) for f in files}
    return {name: count for name, count in counts.items() if count > limit}


def test_no_module_is_over_600_lines() -> None:
    too_long = long_modules([ROOT / "painxai", ROOT / "app_pages", ROOT / "app.py"])
    assert not too_long, f"split these modules (over {MAX_LINES} lines): {too_long}"


def test_a_planted_long_module_is_found(tmp_path: Path) -> None:
    (tmp_path / "short.py").write_text("x = 1\n" * MAX_LINES)
    (tmp_path / "long.py").write_text("x = 1\n" * (MAX_LINES + 1))
    found = long_modules([tmp_path])
    assert list(found.values()) == [MAX_LINES + 1] and next(iter(found)).endswith("long.py")
