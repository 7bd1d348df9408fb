"""The file-system model registry: versions, atomic promotion, rollback, comparison."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from trademl.errors import TradeMLError
from trademl.registry import ModelRegistry, RegistryError


def _model_dir(tmp_path, name: str, payload: str):
    folder = tmp_path / "src" / name
    folder.mkdir(parents=True)
    (folder / "weights.bin").write_text(payload)
    recorded = {"config": {"base_model": "/models/minilm"}}
    (folder / "trademl_ner.json").write_text(json.dumps(recorded))
    return folder


@pytest.fixture
def registry(tmp_path):
    return ModelRegistry(tmp_path / "lake" / "models")


def test_register_copies_and_writes_manifest(registry, tmp_path):
    source = _model_dir(tmp_path, "a", "v1")
    version = registry.register(
        "ner_extractor", source, {"metrics": {"entity_f1": 0.8}, "data_partitions": ["2024-01-01"]}
    )
    stored = registry.get("ner_extractor", version)
    assert stored.path == registry.root / "ner_extractor" / "versions" / version
    assert (stored.path / "weights.bin").read_text() == "v1"
    manifest = json.loads((stored.path / "manifest.json").read_text())
    assert manifest == stored.manifest
    assert manifest["metrics"] == {"entity_f1": 0.8}
    assert manifest["data_partitions"] == ["2024-01-01"]
    assert manifest["base_model"] == "/models/minilm"
    assert manifest["version"] == version and manifest["name"] == "ner_extractor"
    assert manifest["code_version"].startswith(("git:", "trademl=="))
    assert manifest["created_at"].endswith("+00:00")
    assert version.endswith(manifest["content_sha256"][:8])
    assert not [p for p in stored.path.parent.iterdir() if p.name.startswith(".")]


def test_versions_are_monotonic(registry, tmp_path):
    source = _model_dir(tmp_path, "a", "same bytes")
    versions = [registry.register("clf", source) for _ in range(5)]
    assert versions == sorted(versions) and len(set(versions)) == 5
    assert registry.list_versions("clf") == versions
    assert registry.list_versions("unknown") == []


def test_register_rejects_missing_source_and_bad_name(registry, tmp_path):
    with pytest.raises(RegistryError, match="clf.*not a directory"):
        registry.register("clf", tmp_path / "nope")
    with pytest.raises(RegistryError, match="plain folder name"):
        registry.register("../evil", tmp_path)


def test_promote_and_rollback(registry, tmp_path):
    v1 = registry.register("clf", _model_dir(tmp_path, "a", "v1"))
    v2 = registry.register("clf", _model_dir(tmp_path, "b", "v2"))
    assert registry.champion("clf") is None
    registry.promote("clf", v1)
    registry.promote("clf", v2, reason="better F1")
    assert registry.champion("clf").version == v2
    assert (registry.deployed_path("clf") / "weights.bin").read_text() == "v2"
    pointer = json.loads((registry.root / "clf" / "champion.json").read_text())
    assert pointer["version"] == v2 and pointer["previous"] == [v1]

    restored = registry.rollback("clf")
    assert restored.version == v1 and registry.champion("clf").version == v1
    assert [e["action"] for e in registry.history("clf")] == ["promote", "promote", "rollback"]
    with pytest.raises(RegistryError, match=r"'clf'.*no previous champion.*" + v1):
        registry.rollback("clf")


def test_promote_same_version_twice_keeps_history_clean(registry, tmp_path):
    v1 = registry.register("clf", _model_dir(tmp_path, "a", "v1"))
    registry.promote("clf", v1)
    registry.promote("clf", v1)
    assert len(registry.history("clf")) == 1
    with pytest.raises(RegistryError, match="no previous champion"):
        registry.rollback("clf")


def test_rollback_without_any_champion_names_the_model(registry):
    with pytest.raises(RegistryError, match=r"model 'ner_extractor': no previous champion.*none"):
        registry.rollback("ner_extractor")


def test_errors_name_model_and_version(registry, tmp_path):
    registry.register("clf", _model_dir(tmp_path, "a", "v1"))
    with pytest.raises(RegistryError, match=r"model 'clf': version '2020' is not registered"):
        registry.promote("clf", "2020")
    with pytest.raises(TradeMLError, match=r"model 'gate': no champion"):
        registry.deployed_path("gate")


def test_crash_during_promotion_leaves_champion_intact(registry, tmp_path, monkeypatch):
    v1 = registry.register("clf", _model_dir(tmp_path, "a", "v1"))
    v2 = registry.register("clf", _model_dir(tmp_path, "b", "v2"))
    registry.promote("clf", v1)
    before = (registry.root / "clf" / "champion.json").read_bytes()

    def crash(src, dst):
        raise OSError("disk vanished mid-promotion")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="mid-promotion"):
        registry.promote("clf", v2)
    monkeypatch.undo()

    assert (registry.root / "clf" / "champion.json").read_bytes() == before
    assert registry.champion("clf").version == v1
    assert not [p for p in (registry.root / "clf").iterdir() if p.name.endswith(".tmp")]
    registry.promote("clf", v2)  # the registry still works afterwards
    assert registry.champion("clf").version == v2


def test_killed_promotion_process_leaves_champion_readable(registry, tmp_path):
    """A process killed after writing the new pointer's temp file, before the switch."""
    v1 = registry.register("clf", _model_dir(tmp_path, "a", "v1"))
    v2 = registry.register("clf", _model_dir(tmp_path, "b", "v2"))
    registry.promote("clf", v1)
    script = textwrap.dedent(
        f"""
        import os, signal
        from trademl.registry import ModelRegistry
        os.replace = lambda src, dst: os.kill(os.getpid(), signal.SIGKILL)
        ModelRegistry({str(registry.root)!r}).promote("clf", {v2!r})
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, timeout=60)
    assert proc.returncode == -9
    # The half-finished promotion left at most a stray temp file; the pointer is the old one.
    assert registry.champion("clf").version == v1
    registry.promote("clf", v2)  # the lock died with the process
    assert registry.champion("clf").version == v2


def test_corrupt_pointer_is_reported(registry, tmp_path):
    v1 = registry.register("clf", _model_dir(tmp_path, "a", "v1"))
    registry.promote("clf", v1)
    (registry.root / "clf" / "champion.json").write_text("{not json")
    with pytest.raises(RegistryError, match=r"model 'clf': cannot read .*champion.json"):
        registry.champion("clf")


@pytest.mark.parametrize(
    ("challenger", "champion", "margin", "ok"),
    [
        ({"f1": 0.80}, {"f1": 0.80}, 0.0, True),
        ({"f1": 0.79}, {"f1": 0.80}, 0.02, True),
        ({"f1": 0.70}, {"f1": 0.80}, 0.02, False),
        ({"f1": 0.90}, None, 0.0, True),
        ({}, {"f1": 0.80}, 0.0, False),
    ],
)
def test_compare(challenger, champion, margin, ok):
    passed, deltas = ModelRegistry.compare(challenger, champion, ["f1"], margin)
    assert passed is ok
    if challenger and champion:
        assert deltas["f1"] == pytest.approx(challenger["f1"] - champion["f1"])


def test_compare_nested_keys_and_lower_is_better():
    new = {"micro": {"f1-score": 0.9}, "loss": 0.43}
    old = {"micro": {"f1-score": 0.85}, "loss": 0.4}
    ok, deltas = ModelRegistry.compare(new, old, ["micro.f1-score", "loss"], 0.05, ["loss"])
    assert ok and deltas == {"micro.f1-score": pytest.approx(0.05), "loss": pytest.approx(0.03)}
    ok, _ = ModelRegistry.compare(new, old, ["loss"], 0.01, lower_is_better=["loss"])
    assert not ok
