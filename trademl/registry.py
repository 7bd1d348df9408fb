"""A file-system model registry: immutable versions, and an atomic champion pointer.

Layout under the root (the lake's ``models/``)::

    <name>/versions/<version>/      a copy of the model directory + manifest.json
    <name>/champion.json            {"version", "promoted_at", "previous": [...], "events": [...]}

A version directory appears whole (copied to a hidden temporary sibling, then renamed). The
champion pointer is replaced with ``os.replace`` of a fully written, fsynced temporary file, so a
reader sees the old champion or the new one, never a half-written file, even if the promoting
process dies. ``previous`` is the stack of earlier champions that
:meth:`ModelRegistry.rollback` pops.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from trademl.errors import TradeMLError
from trademl.lake import atomic_write_text

MANIFEST = "manifest.json"
CHAMPION = "champion.json"
_TIME_FORMAT = "%Y%m%dT%H%M%S%fZ"


class RegistryError(TradeMLError):
    """A registry operation named a model or version that cannot serve the request."""


@dataclass(frozen=True)
class ModelVersion:
    """One registered version: where its files are and what its manifest says."""

    name: str
    version: str
    path: Path
    manifest: dict[str, Any]


class ModelRegistry:
    """Versions, champion, promotion and rollback of named models under ``root``."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    # --- versions --------------------------------------------------------------------------------

    def register(
        self,
        name: str,
        source_dir: str | os.PathLike[str],
        manifest: Mapping[str, Any] | None = None,
    ) -> str:
        """Copy ``source_dir`` in as a new version of ``name``; return the version id.

        The stored ``manifest.json`` holds name, version, created_at, code_version, base_model,
        metrics, data_partitions and content_sha256, then whatever ``manifest`` adds.
        """
        _check_name(name)
        source = Path(source_dir)
        if not source.is_dir():
            raise RegistryError(f"model {name!r}: cannot register {source}: not a directory")
        versions = self._model_dir(name) / "versions"
        versions.mkdir(parents=True, exist_ok=True)
        digest = _tree_digest(source)
        with self._lock(name):
            version = _next_version(self.list_versions(name), digest)
            tmp = versions / f".tmp-{uuid.uuid4().hex}"
            try:
                shutil.copytree(source, tmp)
                created_at = _parse_version_time(version).isoformat(timespec="microseconds")
                record = {
                    "name": name,
                    "version": version,
                    "created_at": created_at,
                    "code_version": code_version(),
                    "base_model": _detect_base_model(source),
                    "metrics": {},
                    "data_partitions": [],
                    "content_sha256": digest,
                    "source": str(source),
                    **dict(manifest or {}),
                }
                record.update(name=name, version=version, created_at=created_at)
                (tmp / MANIFEST).write_text(json.dumps(record, indent=2, default=str))
                os.replace(tmp, versions / version)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        return version

    def list_versions(self, name: str) -> list[str]:
        """Version ids of ``name``, oldest first (empty if the model is unknown)."""
        versions = self._model_dir(name) / "versions"
        if not versions.is_dir():
            return []
        return sorted(
            p.name
            for p in versions.iterdir()
            if not p.name.startswith(".") and (p / MANIFEST).is_file()
        )

    def get(self, name: str, version: str) -> ModelVersion:
        """The registered ``version`` of ``name``; RegistryError if it does not exist."""
        path = self._model_dir(name) / "versions" / version
        manifest_path = path / MANIFEST
        if not manifest_path.is_file():
            known = ", ".join(self.list_versions(name)[-5:]) or "none"
            raise RegistryError(
                f"model {name!r}: version {version!r} is not registered under {self.root} "
                f"(latest versions: {known})"
            )
        return ModelVersion(name, version, path, _read_json(manifest_path, name))

    # --- champion --------------------------------------------------------------------------------

    def champion(self, name: str) -> ModelVersion | None:
        """The serving version of ``name``, or None before the first promotion."""
        pointer = self._pointer(name)
        return None if pointer is None else self.get(name, pointer["version"])

    def deployed_path(self, name: str) -> Path:
        """Directory of the champion of ``name``, for serving; RegistryError when none."""
        champion = self.champion(name)
        if champion is None:
            raise RegistryError(
                f"model {name!r}: no champion under {self.root} (register a version and promote it)"
            )
        return champion.path

    def promote(self, name: str, version: str, reason: str | None = None) -> ModelVersion:
        """Make ``version`` the champion of ``name``; the old champion goes onto the history."""
        target = self.get(name, version)
        with self._lock(name):
            pointer = self._pointer(name) or {"version": None, "previous": [], "events": []}
            if pointer["version"] == version:
                return target
            previous = list(pointer["previous"])
            if pointer["version"] is not None:
                previous.append(pointer["version"])
            self._write_pointer(name, pointer, version, previous, "promote", reason)
        return target

    def rollback(self, name: str, reason: str | None = None) -> ModelVersion:
        """Restore the previous champion of ``name``; RegistryError when there is none."""
        with self._lock(name):
            pointer = self._pointer(name)
            if pointer is None or not pointer["previous"]:
                current = pointer["version"] if pointer else "none"
                raise RegistryError(
                    f"model {name!r}: no previous champion to roll back to "
                    f"(current champion: {current}); promote a version instead"
                )
            previous = list(pointer["previous"])
            version = previous.pop()
            restored = self.get(name, version)
            self._write_pointer(name, pointer, version, previous, "rollback", reason)
        return restored

    def history(self, name: str) -> list[dict[str, Any]]:
        """Promotion and rollback events of ``name``, oldest first."""
        pointer = self._pointer(name)
        return [] if pointer is None else list(pointer["events"])

    # --- comparison ------------------------------------------------------------------------------

    @staticmethod
    def compare(
        challenger_metrics: Mapping[str, Any],
        champion_metrics: Mapping[str, Any] | None,
        metric_keys: Iterable[str],
        margin: float = 0.0,
        lower_is_better: Iterable[str] = (),
    ) -> tuple[bool, dict[str, float | None]]:
        """Whether the challenger is, on every key, no worse than the champion by over ``margin``.

        Keys may be dotted paths into nested metrics (``"micro.f1-score"``). Deltas are
        challenger − champion; a key the challenger lacks fails, one the champion lacks passes,
        and no champion at all passes.
        """
        lower = set(lower_is_better)
        deltas: dict[str, float | None] = {}
        ok = True
        for key in metric_keys:
            new = _lookup(challenger_metrics, key)
            old = _lookup(champion_metrics or {}, key)
            if new is None:
                deltas[key] = None
                ok = False
                continue
            if old is None:
                deltas[key] = None
                continue
            delta = float(new) - float(old)
            deltas[key] = delta
            worse_by = delta if key in lower else -delta
            if worse_by > margin:
                ok = False
        return ok, deltas

    # --- internals -------------------------------------------------------------------------------

    def _model_dir(self, name: str) -> Path:
        return self.root / name

    def _pointer(self, name: str) -> dict[str, Any] | None:
        path = self._model_dir(name) / CHAMPION
        if not path.is_file():
            return None
        pointer = _read_json(path, name)
        if not isinstance(pointer.get("version"), str):
            raise RegistryError(f"model {name!r}: {path} has no champion version; restore it")
        pointer.setdefault("previous", [])
        pointer.setdefault("events", [])
        return pointer

    def _write_pointer(self, name, old, version, previous, action, reason) -> None:
        now = datetime.now(UTC).isoformat(timespec="microseconds")
        event = {"action": action, "version": version, "from": old["version"], "at": now}
        if reason:
            event["reason"] = reason
        pointer = {
            "name": name,
            "version": version,
            "promoted_at": now,
            "previous": previous,
            "events": [*old["events"], event],
        }
        _atomic_write_json(self._model_dir(name) / CHAMPION, pointer)

    @contextlib.contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        """Serialise writers of one model; the OS drops the lock if the process dies."""
        folder = self._model_dir(name)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def code_version() -> str:
    """``git:<sha>`` of the checkout trademl runs from, else ``trademl==<version>``."""
    import trademl

    for folder in Path(trademl.__file__).resolve().parents:
        head = folder / ".git" / "HEAD"
        if head.is_file():
            sha = _resolve_git_head(folder / ".git", head.read_text().strip())
            if sha:
                return f"git:{sha}"
            break
    return f"trademl=={trademl.__version__}"


def _resolve_git_head(git_dir: Path, head: str) -> str | None:
    # Read refs directly: no git binary needed at serving or training time.
    if not head.startswith("ref: "):
        return head or None
    ref = head[len("ref: ") :]
    loose = git_dir / ref
    if loose.is_file():
        return loose.read_text().strip() or None
    packed = git_dir / "packed-refs"
    if packed.is_file():
        for line in packed.read_text().splitlines():
            sha, _, name = line.partition(" ")
            if name == ref:
                return sha
    return None


def _check_name(name: str) -> None:
    if not name or name.startswith(".") or "/" in name or "\\" in name:
        raise RegistryError(f"model name {name!r} is not a plain folder name")


def _lookup(metrics: Mapping[str, Any], key: str) -> Any:
    if key in metrics:
        return metrics[key]
    value: Any = metrics
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _next_version(existing: list[str], digest: str) -> str:
    """``<UTC time to the µs>Z-<content hash>``, strictly after every existing version."""
    now = datetime.now(UTC)
    if existing:
        latest = _parse_version_time(existing[-1])
        now = max(now, latest + timedelta(microseconds=1))
    return f"{now.strftime(_TIME_FORMAT)}-{digest[:8]}"


def _parse_version_time(version: str) -> datetime:
    return datetime.strptime(version.split("-")[0], _TIME_FORMAT).replace(tzinfo=UTC)


def _tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode())
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _detect_base_model(folder: Path) -> str | None:
    """The base model a trademl training run recorded next to its weights, if any."""
    for manifest in sorted(folder.glob("trademl_*.json")):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            base = json.loads(manifest.read_text()).get("config", {}).get("base_model")
            if base:
                return str(base)
    return None


def _read_json(path: Path, name: str) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RegistryError(f"model {name!r}: cannot read {path}: {exc}") from exc
    if not isinstance(value, dict):
        raise RegistryError(f"model {name!r}: {path} is not a JSON object")
    return value


def _atomic_write_json(target: Path, value: Any) -> None:
    atomic_write_text(target, json.dumps(value, indent=2))
