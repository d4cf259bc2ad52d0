"""audit.json's format check (painxai.audit.store) and the dashboard's readers of format 3 (methods -> model)."""

from __future__ import annotations

import json

import pytest

from painxai.audit.store import AUDIT_FORMAT, AuditError, read_audit, write_audit
from painxai.audit.verdict import INFORMATIVE, NOT_AUDITED, NOT_INFORMATIVE
from painxai.dashboard import trust
from painxai.explain.methods import labels

ENTRY = {"verdict": NOT_INFORMATIVE, "reasons": ["fails: the share of empty maps"], "n_images": 8}


def _document(methods: dict) -> dict:
    return {"format": AUDIT_FORMAT, "run": "r", "methods": methods}


def test_a_run_without_an_audit_reads_as_none(tmp_path):
    assert read_audit(tmp_path) is None
    assert trust.audit_methods(tmp_path) == ({}, None)


def test_the_written_document_reads_back(tmp_path):
    document = _document({"gradcam": {"vgg16": ENTRY}, "rise": {"vgg16": {**ENTRY, "verdict": INFORMATIVE}}})
    write_audit(tmp_path, document)
    assert read_audit(tmp_path) == document
    assert trust.audit_entries(tmp_path) == ({"vgg16": ENTRY}, None)  # Grad-CAM's by default
    assert trust.audit_entries(tmp_path, "rise")[0]["vgg16"]["verdict"] == INFORMATIVE
    assert trust.audit_entries(tmp_path, "scorecam") == ({}, None)


def test_an_audit_of_the_previous_format_asks_for_a_new_audit(tmp_path):
    """Format 2 kept one entry per model under "models": it has no "methods", and its format is named."""
    (tmp_path / "audit.json").write_text(json.dumps({"format": 2, "run": "r", "models": {"vgg16": ENTRY}}))
    expected = rf"audit format 2, and this version reads format {AUDIT_FORMAT}.*painxai audit"
    with pytest.raises(AuditError, match=expected):
        read_audit(tmp_path)
    entries, problem = trust.audit_entries(tmp_path)  # the dashboard shows the message instead of failing
    assert entries == {} and "audit format 2" in problem


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", json.dumps({"format": AUDIT_FORMAT, "models": {}})])
def test_an_unreadable_audit_says_so(tmp_path, text):
    (tmp_path / "audit.json").write_text(text)
    with pytest.raises(AuditError, match="unreadable"):
        read_audit(tmp_path)


def test_the_verdict_table_has_every_method_of_the_registry_for_every_model():
    by_method = {"gradcam": {"vgg16": ENTRY}, "integrated_gradients": {"ncnn": {**ENTRY, "verdict": INFORMATIVE}}}
    table = trust.verdict_table(by_method, ["vgg16", "ncnn"])
    assert table.index.tolist() == ["vgg16", "ncnn"] and table.columns.tolist() == list(labels().values())
    assert table.loc["vgg16", labels()["gradcam"]] == NOT_INFORMATIVE
    assert table.loc["ncnn", labels()["integrated_gradients"]] == INFORMATIVE
    # Everything else was not audited, not silently taken from another method or model.
    assert (table == NOT_AUDITED).to_numpy().sum() == table.size - 2
