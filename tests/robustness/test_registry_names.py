"""The model registry under hostile names, umasks and crashes.

Any name or version either works or is a RegistryError, and nothing is ever written outside the
root; files land with the modes the umask gives new files; a writer that dies at any
``os.replace`` leaves the champion as it was, and the next write cleans up after it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.robustness.contracts import SETTINGS
from trademl.registry import ModelRegistry, RegistryError

VALID = re.compile(r"[a-z0-9_]{1,64}")

HOSTILE = st.sampled_from(
    [
        "..",
        ".",
        "../x",
        "../../x",
        "a/../b",
        "/tmp/trademl-escape",
        "a\\b",
        "a\x00b",
        ".hidden",
        ".tmp-x",
        "versions",
        "CLF",
        "é",
        "ｃｌｆ",  # fullwidth letters
        "clf\n",
        " clf",
        "x" * 64,
        "x" * 65,
        "~",
        "$HOME",
    ]
)
NAMES = st.one_of(
    HOSTILE,
    st.from_regex(VALID, fullmatch=True),
    st.text(alphabet=st.characters(codec=None), max_size=70),
    st.text(alphabet="abc_./\\-~09A", max_size=12),
)


def _files(base: Path) -> set[Path]:
    return {p for p in base.rglob("*")}


@contextlib.contextmanager
def _fresh():
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        source = base / "src"
        source.mkdir()
        (source / "weights.bin").write_bytes(b"w")
        yield base, ModelRegistry(base / "deep" / "models"), source


@settings(SETTINGS, max_examples=150)
@given(name=NAMES)
def test_any_name_is_an_error_or_works_and_stays_inside_the_root(name):
    with _fresh() as (base, registry, source):
        before = _files(base)
        calls = [
            ("register", lambda: registry.register(name, source)),
            ("list_versions", lambda: registry.list_versions(name)),
            ("champion", lambda: registry.champion(name)),
            ("history", lambda: registry.history(name)),
            ("get", lambda: registry.get(name, "20240101T000000000000Z-00000000")),
            ("promote", lambda: registry.promote(name, "20240101T000000000000Z-00000000")),
            ("rollback", lambda: registry.rollback(name)),
            ("deployed_path", lambda: registry.deployed_path(name)),
        ]
        for method, call in calls:
            try:
                call()
            except RegistryError as exc:
                if not VALID.fullmatch(name):
                    assert "model name" in str(exc), (method, exc)
            else:
                assert VALID.fullmatch(name), f"{method}({name!r}) was accepted"
        added = _files(base) - before
        # The root and its parents are made on the first write; nothing else outside it.
        outside = [p for p in added if registry.root not in (p, *p.parents)]
        outside = [p for p in outside if p not in registry.root.parents]
        assert not outside, f"{name!r} wrote outside the root: {outside}"
        if not VALID.fullmatch(name):
            assert not added, f"{name!r} was refused but wrote {added}"


@settings(SETTINGS, max_examples=100)
@given(version=st.one_of(HOSTILE, st.text(max_size=40)))
def test_any_version_is_an_error_or_a_registered_one(version):
    with _fresh() as (base, registry, source):
        real = registry.register("clf", source)
        before = {p: p.stat().st_mtime_ns for p in base.rglob("*")}
        for call in (registry.get, registry.promote):
            try:
                found = call("clf", version)
            except RegistryError:
                continue
            assert version == real and found.version == real
        if version != real:
            assert registry.champion("clf") is None
            assert {p: p.stat().st_mtime_ns for p in base.rglob("*")} == before


# --- permissions ----------------------------------------------------------------------------------


@settings(SETTINGS, max_examples=40)
@given(
    umask=st.sampled_from([0o002, 0o007, 0o022, 0o027, 0o077]),
    file_modes=st.lists(st.integers(0o400, 0o777).map(lambda m: m | 0o600), min_size=1, max_size=4),
    dir_mode=st.integers(0o700, 0o777),
)
def test_written_modes_follow_the_umask(umask, file_modes, dir_mode):
    with _fresh() as (base, registry, source):
        nested = source / "nested"
        nested.mkdir()
        for i, mode in enumerate(file_modes):
            (nested / f"f{i}").write_text(str(i))
            (nested / f"f{i}").chmod(mode)
        nested.chmod(dir_mode)
        old = os.umask(umask)
        try:
            version = registry.register("clf", source)
            registry.promote("clf", version)
        finally:
            os.umask(old)
        stored = registry.get("clf", version).path
        for folder in (stored, stored / "nested"):
            assert folder.stat().st_mode & 0o777 == 0o777 & ~umask, folder
        for i, mode in enumerate(file_modes):
            expected = (0o777 if mode & 0o111 else 0o666) & ~umask
            assert (stored / "nested" / f"f{i}").stat().st_mode & 0o777 == expected
        for written in (
            stored / "manifest.json",
            stored / "weights.bin",
            registry.root / "clf" / "champion.json",
            registry.root / "clf" / "history.jsonl",
        ):
            assert written.stat().st_mode & 0o777 == 0o666 & ~umask, written


# --- crashes --------------------------------------------------------------------------------------


class _Died(BaseException):
    """The process died here: nothing after this point runs, not even cleanup."""


@contextlib.contextmanager
def _dies_at_replace(monkeypatch: pytest.MonkeyPatch):
    """``os.replace`` kills the writer; its temporary files stay where a killed process leaves them.

    Yields a dict whose ``died`` says whether the writer got as far as an ``os.replace``.
    """
    outcome = {"died": False}
    with monkeypatch.context() as patch:

        def die(*args, **kwargs):
            raise _Died

        patch.setattr(os, "replace", die)
        patch.setattr(os, "unlink", lambda *a, **k: None)  # the dead process removes nothing
        patch.setattr(os, "rmdir", lambda *a, **k: None)
        patch.setattr(Path, "unlink", lambda self, missing_ok=False: None)
        try:
            yield outcome
        except _Died:
            outcome["died"] = True


def _leftovers(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*") if ".tmp" in p.name)


OPS = st.lists(
    st.tuples(
        st.sampled_from(["register", "promote", "rollback"]), st.integers(0, 5), st.booleans()
    ),
    min_size=1,
    max_size=10,
)


@pytest.fixture(scope="module")
def patcher():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@settings(SETTINGS, max_examples=100)
@given(ops=OPS)
def test_a_writer_killed_at_any_replace_leaves_the_champion_and_is_cleaned_up(ops, patcher):
    """ops: (operation, which version, does the writer die at os.replace)."""
    with _fresh() as (base, registry, source):
        versions: list[str] = []
        champion: str | None = None
        stack: list[str] = []
        events = 0
        for i, (op, pick, dies) in enumerate(ops):
            (source / "weights.bin").write_text(f"weights {i}")
            with contextlib.ExitStack() as stack_ctx:
                outcome = stack_ctx.enter_context(_dies_at_replace(patcher)) if dies else {}
                stack_ctx.enter_context(contextlib.suppress(RegistryError))
                _apply(registry, op, pick, versions, source)
            died = outcome.get("died", False)
            if not died:  # the reference model: what the operation did
                champion, stack, events = _expect(
                    registry, op, pick, versions, champion, stack, events
                )
            pointer = registry.champion("clf") if registry.names() else None
            assert (pointer.version if pointer else None) == champion, (i, op, died)
            assert registry.list_versions("clf") == versions
        registry.register("clf", source)  # the next write removes what dead writers left
        assert _leftovers(registry.root) == []
        if champion is not None:
            pointer = json.loads((registry.root / "clf" / "champion.json").read_text())
            assert pointer["previous"] == stack and "events" not in pointer
        assert len(registry.history("clf")) == events


def _apply(registry, op, pick, versions, source):
    if op == "register":
        versions.append(registry.register("clf", source))
        return
    if not versions:
        raise RegistryError("nothing registered yet")
    if op == "promote":
        registry.promote("clf", versions[pick % len(versions)])
    else:
        registry.rollback("clf")


def _expect(registry, op, pick, versions, champion, stack, events):
    if op == "promote" and versions:
        target = versions[pick % len(versions)]
        if target != champion:
            stack = [*stack, champion] if champion else stack
            return target, stack, events + 1
    if op == "rollback" and stack:
        return stack[-1], stack[:-1], events + 1
    return champion, stack, events
