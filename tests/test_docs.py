"""Citations of the docs (``docs/PROTOCOL.md#augmentation``) point at headings that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CITATION = re.compile(r"\b([A-Z]+\.md)#([a-z0-9-]+)")
SOURCES = ("painxai", "tests", "bench", "app_pages", "docs")


def anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of ``markdown``: lower case, punctuation dropped, spaces -> '-'."""
    found = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


def citations() -> list[tuple[Path, str, str]]:
    """(citing file, cited markdown file name, anchor) for every citation in the repository's text files."""
    files = [ROOT / "app.py", ROOT / "README.md"]
    for folder in SOURCES:
        files += [path for path in (ROOT / folder).rglob("*") if path.suffix in (".py", ".md")]
    return [(path, name, anchor) for path in files if path.is_file()
            for name, anchor in CITATION.findall(path.read_text(encoding="utf-8"))]


def test_every_docs_citation_names_an_existing_heading() -> None:
    found = citations()
    assert any(name == "PROTOCOL.md" for _, name, _ in found)  # the code does cite the protocol
    broken = []
    for path, name, anchor in found:
        target = ROOT / name if name == "README.md" else ROOT / "docs" / name
        if not target.is_file() or anchor not in anchors(target.read_text(encoding="utf-8")):
            broken.append(f"{path.relative_to(ROOT)} cites {name}#{anchor}")
    assert broken == [], "\n".join(broken)


def test_anchor_rule_matches_github() -> None:
    assert anchors("# Title\n## Grad-CAM\n## Statistical tests\ntext # not a heading\n### Face cropping (ours)") == {
        "title", "grad-cam", "statistical-tests", "face-cropping-ours"}
