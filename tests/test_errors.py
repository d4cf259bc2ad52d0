"""One base error: every user-facing error is a PainxaiError and nothing else; the CLI shows it in one line.

A bug (any other exception) keeps its traceback: ``user_errors`` no longer catches ValueError.
"""

from __future__ import annotations

import ast
import builtins
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from painxai.cli import app

PACKAGE = Path(__file__).resolve().parent.parent / "painxai"
BUILTIN_EXCEPTIONS = {name for name in dir(builtins) if isinstance(getattr(builtins, name), type)
                      and issubclass(getattr(builtins, name), BaseException)}


def _error_classes() -> dict[str, list[str]]:
    """Every class of the package that derives (directly or not) from PainxaiError -> its base names."""
    bases: dict[str, list[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                names = [base.id if isinstance(base, ast.Name) else ast.unparse(base).rsplit(".", 1)[-1]
                         for base in node.bases]
                bases[f"{path.relative_to(PACKAGE)}:{node.name}"] = names
    ours = {"PainxaiError"}
    grew = True
    while grew:  # close over subclasses of subclasses
        found = {key.split(":")[1] for key, names in bases.items() if ours & set(names)}
        grew = not found <= ours
        ours |= found
    return {key: names for key, names in bases.items() if key.split(":")[1] in ours and key != "errors.py:PainxaiError"}


def test_every_painxai_error_has_one_base_and_no_builtin_one() -> None:
    classes = _error_classes()
    assert len(classes) >= 12, sorted(classes)  # manifest, images, folds, runs, training, models, faces ...
    mixed = {key: names for key, names in classes.items() if BUILTIN_EXCEPTIONS & set(names)}
    assert mixed == {}, "domain errors must not also be ValueError/RuntimeError: " + repr(mixed)


def _invoke(*arguments: str):
    return CliRunner().invoke(app, list(arguments))


def _one_line_error(result, *words: str) -> None:
    """Exit 2, a message holding ``words``, and no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output and not isinstance(result.exception, (ValueError, RuntimeError))
    message = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(message) == 1, result.output  # one line, however long
    for word in words:
        assert word in message[0], (word, result.output)


def test_truncated_jpeg_in_a_training_manifest_is_a_one_line_error(tiny_twin, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PAINXAI_HOME", str(tmp_path / "home"))
    manifest = pd.read_csv(tiny_twin["manifest"], dtype=str, keep_default_na=False)
    manifest["path"] = [str(tiny_twin["manifest"].parent / p) for p in manifest["path"]]
    photo = np.asarray(Image.open(manifest["path"].iloc[0]).convert("RGB"))
    encoded = io.BytesIO()
    Image.fromarray(photo).save(encoded, "JPEG", quality=90)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(encoded.getvalue()[: len(encoded.getvalue()) // 2])  # the header survives, the pixels do not
    manifest.loc[0, "path"] = str(broken)
    manifest_path = tmp_path / "manifest.csv"
    manifest.to_csv(manifest_path, index=False)
    out = tmp_path / "run"
    result = _invoke("train", "--manifest", str(manifest_path), "--folds", str(tiny_twin["folds"]),
                     "--models", "ncnn", "--profile", "smoke", "--weights", "none", "--out", str(out))
    _one_line_error(result, str(broken), "cut short")
    assert not (out / "ncnn" / "fold_0" / "DONE").exists()


def test_cli_requests_that_cannot_be_met_are_one_line_errors(tmp_path) -> None:
    _one_line_error(_invoke("models", "summary", "--model", "alexnet"), "unknown model", "alexnet")
    _one_line_error(_invoke("models", "summary", "--size", "huge"), "--size")
    weights = tmp_path / "w.h5"
    weights.write_bytes(b"\0")
    _one_line_error(_invoke("weights", "import", str(weights), "--model", "ncnn"), "trained from scratch")
    photo = tmp_path / "p.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(photo)
    _one_line_error(_invoke("faces", "detect", str(photo), "--method", "dlib"), "method")
    _one_line_error(_invoke("faces", "detect", str(photo), "--min-score", "2"), "min_score")
    run = tmp_path / "no_run"
    _one_line_error(_invoke("explain", "--run", str(run), "--image", str(photo), "--out", str(tmp_path / "o"),
                            "--box", "1,2,3"), "--box")


def test_a_bug_keeps_its_traceback(tmp_path, monkeypatch) -> None:
    """A ValueError from inside the library is a bug: the CLI must not turn it into a user message."""
    import painxai.cli.faces as faces_cli

    def broken(*_args, **_kwargs):
        raise ValueError("a programming error")

    monkeypatch.setattr(faces_cli, "detect_faces", broken)
    photo = tmp_path / "p.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(photo)
    result = _invoke("faces", "detect", str(photo))
    assert result.exit_code == 1 and isinstance(result.exception, ValueError)


@pytest.mark.parametrize("text", ["", "1,2,3", "a,b,c,d", "5,5,1,1"])
def test_explain_box_option_is_checked_before_anything_runs(text: str) -> None:
    from painxai.cli.explain import _parse_box
    from painxai.errors import RequestError

    with pytest.raises(RequestError, match="--box"):
        _parse_box(text)


def test_library_requests_that_cannot_be_met_raise_request_errors(tmp_path) -> None:
    from painxai.errors import RequestError
    from painxai.models import build, default_input_shape, get_spec

    with pytest.raises(RequestError, match="unknown model 'alexnet'"):
        get_spec("alexnet")
    with pytest.raises(RequestError, match="'paper' or 'demo'"):
        default_input_shape("vgg16", "huge")
    base = tmp_path / "base.h5"
    base.write_bytes(b"\0")
    with pytest.raises(RequestError, match="no pretrained base"):
        build("ncnn", weights=base)
