"""The meme domain under the hostile-input contracts: `trademl meme --jsonl` (one answer per
line, in order), `trademl meme IMAGE` on files that are not images, DeployedMeme on any image
bytes (an answer from the text with the reason, never a crash), and the meme dataset's reader."""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from tests.robustness.contracts import SETTINGS, LineContract, line_contract_tests
from trademl.cli import main
from trademl.errors import InputError
from trademl.sentiment.labels import SENTIMENT_LABELS
from trademl.vision.dataset import read_meme_dataset
from trademl.vision.runtime import DeployedMeme


def _run_meme(data: bytes, batch_size: int):
    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp) / "models"  # exists and is empty: the text alone answers
        models.mkdir()
        path = Path(tmp) / "in.jsonl"
        path.write_bytes(data)
        argv = ["meme", "--models", str(models), "--batch-size", str(batch_size)]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main([*argv, "--jsonl", str(path)])
    assert "Traceback" not in err.getvalue()
    lines = out.getvalue().split("\n")[:-1]
    for line in lines:
        answer = json.loads(line)
        if "error" not in answer:
            assert answer["label"] in SENTIMENT_LABELS and -1.0 <= answer["score"] <= 1.0
            assert answer["model"] == "text-only"
    return lines, status


CONTRACTS = [
    LineContract("meme-text-only-batch-1", lambda data: _run_meme(data, 1)),
    LineContract("meme-text-only-batch-64", lambda data: _run_meme(data, 64)),
]
test_meme_one_answer_per_line = line_contract_tests(CONTRACTS, max_examples=30)


def _good_png(path: Path) -> Path:
    Image.new("RGB", (32, 32), "green").save(path)
    return path


def _hostile_images(root: Path) -> dict[str, Path]:
    good = _good_png(root / "good.png").read_bytes()
    files = {
        "empty": b"",
        "random": bytes(range(256)) * 3,
        "truncated": good[: len(good) // 2],
        "png header only": good[:16],
        "text": b"not an image at all\n",
    }
    paths = {}
    for name, data in files.items():
        path = root / f"{name.replace(' ', '_')}.png"
        path.write_bytes(data)
        paths[name] = path
    (root / "folder.png").mkdir()
    paths["a directory"] = root / "folder.png"
    paths["missing"] = root / "missing.png"
    return paths


def test_deployed_meme_answers_every_post_whatever_its_image(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    bad = _hostile_images(tmp_path)
    good = tmp_path / "good.png"
    images = [str(good), None, *map(str, bad.values())]
    captions = ["to the moon 🚀"] * len(images)
    answers = DeployedMeme(models).predict(images, captions)
    assert len(answers) == len(images)
    assert "image_error" not in answers[0] and "image_error" not in answers[1]
    for name, answer in zip(bad, answers[2:], strict=True):
        assert answer["label"] in SENTIMENT_LABELS, name
        assert answer["image_error"], name  # the reason is given, the text still answers


@given(data=st.binary(max_size=600))
@SETTINGS
def test_any_image_bytes_are_checked_never_crash(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.png"
        path.write_bytes(data)
        checked, problem = DeployedMeme(Path(tmp)).check(str(path))
    assert (checked is None) != (problem is None)  # usable, or a stated problem


@pytest.mark.parametrize("name", ["empty", "random", "truncated", "text", "a directory", "missing"])
def test_meme_cli_refuses_a_bad_image_naming_it(name, tmp_path, capsys):
    models = tmp_path / "models"
    models.mkdir()
    path = _hostile_images(tmp_path)[name]
    assert main(["meme", str(path), "--text", "moon", "--models", str(models)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "Traceback" not in err


def test_meme_cli_usage_and_files(tmp_path, capsys):
    models = tmp_path / "models"
    models.mkdir()
    assert main(["meme", "--models", str(models)]) == 2
    assert "give either IMAGE" in capsys.readouterr().err
    good = _good_png(tmp_path / "good.png")
    assert main(["meme", str(good), "--models", str(models)]) == 2
    assert "--text" in capsys.readouterr().err
    assert main(["meme", "--jsonl", str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl" in capsys.readouterr().err
    assert main(["meme", str(good), "--text", "", "--models", str(models)]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["model"] == "text-only" and answer["image"] is None
    assert "no champion" in answer["note"]
    mixed = tmp_path / "mixed.jsonl"
    rows = [
        {"text": "great day", "image": str(good)},
        {"text": "no picture"},
        {"text": "bad picture", "image": str(tmp_path / "missing.png")},
        {"image": str(good)},
    ]
    mixed.write_bytes(b"\n".join(json.dumps(r).encode() for r in rows) + b"\n\xff\n")
    assert main(["meme", "--models", str(models), "--jsonl", str(mixed)]) == 1
    captured = capsys.readouterr()
    out = [json.loads(line) for line in captured.out.splitlines()]
    assert len(out) == 5 and "label" in out[0] and "label" in out[1]
    assert [o.get("line") for o in out[2:]] == [3, 4, 5]
    assert "missing file" in out[2]["error"]
    assert all(f"{mixed}:{n}:" in captured.err for n in (3, 4, 5))


@given(data=st.binary(max_size=300))
@SETTINGS
def test_meme_dataset_reader_any_bytes(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "meme_data.parquet"
        path.write_bytes(data)
        try:
            read_meme_dataset(path)
        except InputError as exc:
            assert str(path) in str(exc)
