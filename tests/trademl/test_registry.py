"""The file-system model registry: versions, atomic promotion, rollback, comparison."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

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


def test_rollback_without_any_champion_names_the_model(registry, tmp_path):
    registry.register("ner_extractor", _model_dir(tmp_path, "a", "v1"))
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


# --- names, permissions, history, temp files (issue 7, part 3) -----------------------------------

BAD_NAMES = [
    "../evil",
    "../../x",
    "a/b",
    "a\\b",
    "",
    ".",
    "..",
    ".hidden",
    "Clf",
    "clf\n",
    "x" * 65,
]


def _calls(registry, name, source):
    return {
        "register": lambda: registry.register(name, source),
        "list_versions": lambda: registry.list_versions(name),
        "get": lambda: registry.get(name, "v"),
        "champion": lambda: registry.champion(name),
        "deployed_path": lambda: registry.deployed_path(name),
        "promote": lambda: registry.promote(name, "v"),
        "rollback": lambda: registry.rollback(name),
        "history": lambda: registry.history(name),
    }


@pytest.mark.parametrize("name", BAD_NAMES)
def test_every_method_refuses_an_invalid_name(registry, tmp_path, name):
    source = _model_dir(tmp_path, "a", "v1")
    before = sorted(tmp_path.rglob("*"))
    for method, call in _calls(registry, name, source).items():
        with pytest.raises(RegistryError, match="model name"):
            call()
        assert sorted(tmp_path.rglob("*")) == before, method


@pytest.mark.parametrize("version", ["../x", "a/b", "..", ".", ".tmp-1", "", "a\\b", "a\x00b"])
def test_versions_with_separators_are_refused(registry, tmp_path, version):
    registry.register("clf", _model_dir(tmp_path, "a", "v1"))
    with pytest.raises(RegistryError, match="is not a valid version"):
        registry.get("clf", version)
    with pytest.raises(RegistryError, match="is not a valid version"):
        registry.promote("clf", version)


def test_a_version_cannot_name_another_models_folder(registry, tmp_path):
    other = registry.register("other", _model_dir(tmp_path, "a", "v1"))
    registry.register("clf", _model_dir(tmp_path, "b", "v2"))
    with pytest.raises(RegistryError, match="is not a valid version"):
        registry.promote("clf", f"../../other/versions/{other}")
    assert registry.champion("clf") is None


def test_a_tampered_pointer_cannot_reach_outside_the_registry(registry, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "manifest.json").write_text("{}")
    (registry.root / "clf").mkdir(parents=True)
    (registry.root / "clf" / "champion.json").write_text(
        json.dumps({"version": "../../../../outside"})
    )
    with pytest.raises(RegistryError, match="is not a valid version"):
        registry.champion("clf")


def test_rollback_of_an_unknown_model_names_the_known_ones(registry, tmp_path):
    registry.register("ner_extractor", _model_dir(tmp_path, "a", "v1"))
    with pytest.raises(RegistryError, match=r"no model named 'clf' under .*; known: ner_extractor"):
        registry.rollback("clf")
    assert registry.names() == ["ner_extractor"]
    assert not (registry.root / "clf").exists()


def _mode(path) -> int:
    return path.stat().st_mode & 0o777


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_written_files_follow_the_umask(registry, tmp_path, umask):
    import tempfile

    from trademl.lake import atomic_write_text

    source = Path(tempfile.mkdtemp(dir=tmp_path))  # 0700, as training writes it
    fd, weights = tempfile.mkstemp(dir=source)  # 0600
    os.write(fd, b"w")
    os.close(fd)
    (source / "sub").mkdir(mode=0o700)
    (source / "sub" / "run.sh").write_text("#!/bin/sh\n")
    (source / "sub" / "run.sh").chmod(0o700)
    old = os.umask(umask)
    try:
        version = registry.register("clf", source)
        registry.promote("clf", version)
        export = atomic_write_text(tmp_path / "exports" / "data.csv", "a,b\n")
    finally:
        os.umask(old)
    stored = registry.get("clf", version).path
    file_mode, dir_mode, exec_mode = 0o666 & ~umask, 0o777 & ~umask, 0o777 & ~umask
    assert _mode(stored) == dir_mode and _mode(stored / "sub") == dir_mode
    assert _mode(stored / Path(weights).name) == file_mode
    assert _mode(stored / "manifest.json") == file_mode
    assert _mode(stored / "sub" / "run.sh") == exec_mode
    assert _mode(registry.root / "clf" / "champion.json") == file_mode
    assert _mode(registry.root / "clf" / "history.jsonl") == file_mode
    assert _mode(export) == file_mode


def test_umask_is_read_without_changing_it():
    import threading

    from trademl.lake import current_umask

    old = os.umask(0o027)
    try:
        seen = []
        thread = threading.Thread(target=lambda: seen.append(current_umask()))
        thread.start()
        thread.join()
        assert seen == [0o027] and current_umask() == 0o027
    finally:
        os.umask(old)


def test_pointer_stays_small_and_history_is_a_log(registry, tmp_path):
    from trademl.registry import MAX_ROLLBACK_DEPTH

    v1 = registry.register("clf", _model_dir(tmp_path, "a", "v1"))
    v2 = registry.register("clf", _model_dir(tmp_path, "b", "v2"))
    for i in range(MAX_ROLLBACK_DEPTH + 10):
        registry.promote("clf", v2 if i % 2 else v1, reason=f"round {i}")
    pointer_file = registry.root / "clf" / "champion.json"
    pointer = json.loads(pointer_file.read_text())
    assert "events" not in pointer
    assert len(pointer["previous"]) == MAX_ROLLBACK_DEPTH
    history = registry.history("clf")
    assert [e["reason"] for e in history] == [f"round {i}" for i in range(MAX_ROLLBACK_DEPTH + 10)]
    log = (registry.root / "clf" / "history.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in log] == history
    registry.rollback("clf")
    assert registry.history("clf")[-1]["action"] == "rollback"
    assert len(registry.history("clf")) == MAX_ROLLBACK_DEPTH + 11


def test_old_pointer_with_events_is_read_and_migrated(registry, tmp_path):
    v1 = registry.register("clf", _model_dir(tmp_path, "a", "v1"))
    v2 = registry.register("clf", _model_dir(tmp_path, "b", "v2"))
    old_events = [{"action": "promote", "version": v1, "from": None, "at": "2024-01-01T00:00:00"}]
    legacy = {"name": "clf", "version": v1, "previous": [], "events": old_events}
    (registry.root / "clf" / "champion.json").write_text(json.dumps(legacy))
    assert registry.champion("clf").version == v1
    assert registry.history("clf") == old_events
    registry.promote("clf", v2)
    pointer = json.loads((registry.root / "clf" / "champion.json").read_text())
    assert "events" not in pointer and pointer["previous"] == [v1]
    assert [e["version"] for e in registry.history("clf")] == [v1, v2]
    assert registry.rollback("clf").version == v1


def test_an_event_whose_log_append_failed_is_still_in_the_history(registry, tmp_path, monkeypatch):
    import trademl.registry as registry_module

    v1 = registry.register("clf", _model_dir(tmp_path, "a", "v1"))
    v2 = registry.register("clf", _model_dir(tmp_path, "b", "v2"))
    registry.promote("clf", v1)

    def full_disk(path, event):
        raise OSError("no space left on device")

    monkeypatch.setattr(registry_module, "_append_event", full_disk)
    with pytest.raises(OSError, match="no space"):
        registry.promote("clf", v2)
    monkeypatch.undo()
    assert registry.champion("clf").version == v2  # the pointer was switched first
    assert [e["version"] for e in registry.history("clf")] == [v1, v2]
    registry.rollback("clf")  # the next write repairs the log
    log = (registry.root / "clf" / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["version"] for line in log] == [v1, v2, v1]


def test_crash_leftovers_are_cleaned_on_the_next_write(registry, tmp_path):
    v1 = registry.register("clf", _model_dir(tmp_path, "a", "v1"))
    folder = registry.root / "clf"
    (folder / "versions" / ".tmp-deadbeef").mkdir()
    (folder / "versions" / ".tmp-deadbeef" / "weights.bin").write_text("half")
    (folder / ".champion.json.abc123.tmp").write_text("{")
    registry.promote("clf", v1)
    assert sorted(p.name for p in folder.iterdir()) == [
        ".lock",
        "champion.json",
        "history.jsonl",
        "versions",
    ]
    assert [p.name for p in (folder / "versions").iterdir()] == [v1]
