"""A file-system model registry: immutable versions, and an atomic champion pointer.

Layout under the root (the lake's ``models/``)::

    <name>/versions/<version>/      a copy of the model directory + manifest.json
    <name>/champion.json            {"name", "version", "promoted_at", "previous": [...], "event"}
    <name>/history.jsonl            every promotion and rollback, one JSON event a line

Names are 1-64 characters of ``[a-z0-9_]`` and versions plain folder names, so no argument can
reach outside the root. A version directory appears whole (copied to a hidden temporary sibling,
then renamed). The champion pointer is replaced with ``os.replace`` of a fully written, fsynced
temporary file, so a reader sees the old champion or the new one, never a half-written file, even
if the promoting process dies.

The pointer stays small, since every serving process reads it: ``previous`` is the stack of earlier
champions that :meth:`ModelRegistry.rollback` pops, bounded to :data:`MAX_ROLLBACK_DEPTH` (older
versions stay registered and can be promoted by name), and ``event`` is the one event that set it.
The full history is the append-only ``history.jsonl`` (fsynced appends). The pointer is switched
first and the event appended after, so a crash in between loses no event: :meth:`history` adds the
pointer's ``event`` when the log lacks it, and the next write appends it. Pointers written before
the log existed (with an ``events`` list) are read as they are and migrated on the next write.

Writers of one model are serialised by a ``flock`` on ``<name>/.lock``; every write starts by
removing what a crashed writer left (``versions/.tmp-*``, ``.champion.json.*.tmp``), which is safe
because the lock means no live writer owns them. Files and folders get the modes the umask gives
new ones (0o666 / 0o777 & ~umask), whatever the modes of the copied source.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from trademl.errors import TradeMLError
from trademl.lake import atomic_write_text, current_umask, file_mode, local_path

MANIFEST = "manifest.json"
CHAMPION = "champion.json"
HISTORY = "history.jsonl"
MAX_ROLLBACK_DEPTH = 20
_TIME_FORMAT = "%Y%m%dT%H%M%S%fZ"
_NAME = re.compile(r"[a-z0-9_]{1,64}")
_TMP_VERSION_PREFIX = ".tmp-"

log = logging.getLogger(__name__)


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
        path = local_path(root)
        if path is None:
            raise RegistryError(
                f"model registry root {os.fspath(root)!r}: the registry needs a POSIX file system (flock, "
                "atomic rename), not an object store; set TRADEML_MODELS (or --models) to a local "
                "folder or a shared mount (NFS, EFS, a ReadWriteMany volume) that every worker "
                "and server sees; the lake itself can stay on the object store"
            )
        self.root = path

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
        folder = self._model_dir(name)
        source = Path(source_dir)
        if not source.is_dir():
            raise RegistryError(f"model {name!r}: cannot register {source}: not a directory")
        versions = folder / "versions"
        digest = _tree_digest(source)
        with self._lock(name):
            versions.mkdir(exist_ok=True)
            version = _next_version(self.list_versions(name), digest)
            tmp = versions / f"{_TMP_VERSION_PREFIX}{uuid.uuid4().hex}"
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
                _apply_umask(tmp)
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
        folder = self._model_dir(name)
        _check_version(name, version)
        path = folder / "versions" / version
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
            pointer = self._pointer(name) or {"version": None, "previous": []}
            if pointer["version"] == version:
                return target
            previous = list(pointer["previous"])
            if pointer["version"] is not None:
                previous.append(pointer["version"])
            self._write_pointer(name, pointer, version, previous, "promote", reason)
        return target

    def rollback(self, name: str, reason: str | None = None) -> ModelVersion:
        """Restore the previous champion of ``name``; RegistryError when there is none."""
        self.require_known(name)
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
        """Promotion and rollback events of ``name``, oldest first (from ``history.jsonl``)."""
        pointer = self._pointer(name)
        return self._history(name, pointer)

    # --- names -----------------------------------------------------------------------------------

    def names(self) -> list[str]:
        """The models under the root: valid names with versions or a champion, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if _NAME.fullmatch(p.name)
            and p.is_dir()
            and ((p / "versions").is_dir() or (p / CHAMPION).is_file())
        )

    def require_known(self, name: str) -> None:
        """RegistryError naming the root and the known models unless ``name`` is one of them."""
        self._model_dir(name)
        known = self.names()
        if name not in known:
            raise RegistryError(
                f"no model named {name!r} under {self.root}; known: {', '.join(known) or 'none'}"
            )

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
        """The folder of ``name``; every public method goes through here, so every one checks."""
        _check_name(name)
        return self.root / name

    def _pointer(self, name: str) -> dict[str, Any] | None:
        path = self._model_dir(name) / CHAMPION
        if not path.is_file():
            return None
        pointer = _read_json(path, name)
        if not isinstance(pointer.get("version"), str):
            raise RegistryError(f"model {name!r}: {path} has no champion version; restore it")
        previous = pointer.setdefault("previous", [])
        if not isinstance(previous, list) or not all(isinstance(v, str) for v in previous):
            raise RegistryError(f"model {name!r}: {path}: previous is not a list of versions")
        return pointer

    def _history(self, name: str, pointer: dict[str, Any] | None) -> list[dict[str, Any]]:
        log_path = self._model_dir(name) / HISTORY
        if log_path.is_file():
            events = _read_events(log_path)
        else:  # a pointer from before the log: its events are the history until the next write
            legacy = pointer.get("events") if pointer else None
            events = [e for e in legacy if isinstance(e, dict)] if isinstance(legacy, list) else []
        last = pointer.get("event") if pointer else None
        if isinstance(last, dict) and last not in events[-1:]:
            events.append(last)  # the pointer switched, the append did not happen
        return events

    def _write_pointer(self, name, old, version, previous, action, reason) -> None:
        folder = self._model_dir(name)
        log_path = folder / HISTORY
        legacy = old.get("events")
        if not log_path.is_file() and isinstance(legacy, list) and legacy:
            # Migrate a pointer from before the log: its events become the log, written whole.
            atomic_write_text(
                log_path, "".join(_event_line(e) for e in legacy if isinstance(e, dict))
            )
        if isinstance(old.get("event"), dict) and old["event"] not in _read_events(log_path)[-1:]:
            _append_event(log_path, old["event"])  # repair an append a crash skipped
        now = datetime.now(UTC).isoformat(timespec="microseconds")
        event = {"action": action, "version": version, "from": old["version"], "at": now}
        if reason:
            event["reason"] = reason
        pointer = {
            "name": name,
            "version": version,
            "promoted_at": now,
            "previous": previous[-MAX_ROLLBACK_DEPTH:],
            "event": event,
        }
        _atomic_write_json(folder / CHAMPION, pointer)
        _append_event(log_path, event)

    @contextlib.contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        """Serialise writers of one model; the OS drops the lock if the process dies.

        Holding the lock, no other writer is alive inside the model's folder, so whatever
        temporary files are there were left by a crash and are removed.
        """
        folder = self._model_dir(name)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                _remove_leftovers(folder)
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def default_models_root() -> Path:
    """``$TRADEML_MODELS``, else ``$TRADEML_HOME/lake/models`` (``var/lake/models``)."""
    return resolve_models_root(None)[0]


def resolve_models_root(given: str | os.PathLike | None) -> tuple[Path, bool]:
    """The registry root to use and whether the user named it (``--models`` or
    ``$TRADEML_MODELS``) rather than it being the default under ``$TRADEML_HOME``."""
    if given:
        return Path(given), True
    if os.environ.get("TRADEML_MODELS"):
        return Path(os.environ["TRADEML_MODELS"]), True
    return Path(os.environ.get("TRADEML_HOME", "var")) / "lake" / "models", False


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
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise RegistryError(
            f"model name {name!r} is not a plain folder name: use 1-64 lowercase letters, "
            "digits and _ (e.g. signal_classifier)"
        )


def _check_version(name: str, version: str) -> None:
    if (
        not isinstance(version, str)
        or not version
        or version.startswith(".")
        or len(version) > 200
        or any(c in version for c in "/\\\0")
    ):
        raise RegistryError(
            f"model {name!r}: {version!r} is not a valid version (a folder name under versions/, "
            "e.g. 20240101T000000000000Z-1a2b3c4d)"
        )


def _apply_umask(tree: Path) -> None:
    """Give a copied tree the modes of new files: copytree kept the source's (often 0700/0600)."""
    mask = current_umask()
    for folder, _dirs, files in os.walk(tree):
        os.chmod(folder, 0o777 & ~mask)
        for entry in files:
            path = os.path.join(folder, entry)
            mode = os.lstat(path).st_mode
            if stat.S_ISREG(mode):
                os.chmod(path, file_mode(executable=bool(mode & 0o111), umask=mask))


def _remove_leftovers(folder: Path) -> None:
    """Temporary files and folders of crashed writers (call only holding the model's lock)."""
    leftovers = [
        *folder.glob(f".{CHAMPION}.*.tmp"),
        *folder.glob(f".{HISTORY}.*.tmp"),
        *(folder / "versions").glob(f"{_TMP_VERSION_PREFIX}*"),
    ]
    for path in leftovers:
        log.info("removing %s, left by a crashed registry write", path)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _event_line(event: Mapping[str, Any]) -> str:
    return json.dumps(event, sort_keys=True) + "\n"


def _append_event(path: Path, event: Mapping[str, Any]) -> None:
    """Append one event to the log and fsync it; a torn last line from a crash is ended first."""
    line = _event_line(event).encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        size = os.fstat(fd).st_size
        if size:
            with open(path, "rb") as handle:
                handle.seek(size - 1)
                if handle.read(1) != b"\n":
                    line = b"\n" + line
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_events(path: Path) -> list[dict[str, Any]]:
    """The events of a history log; a line that is not a JSON object (a torn append) is skipped."""
    if not path.is_file():
        return []
    events = []
    with open(path, "rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                event = json.loads(raw)
            except (ValueError, RecursionError):
                event = None
            if isinstance(event, dict):
                events.append(event)
            else:
                log.warning("%s:%d: not a JSON event, skipped", path, line_no)
    return events


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
