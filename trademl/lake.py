"""The lake: where every artifact lives, and atomic writes into it.

Layout under the root::

    raw/<asset>/date=YYYY-MM-DD.parquet        daily partitions (one file each: replaced atomically)
    quarantine/<asset>/date=YYYY-MM-DD.parquet rows that failed validation, with the reason
    exports/classification_data.csv            training files in the layouts desks already use
    exports/ner_data.jsonl
    models/<name>/...                          model registry
    reports/<name>/<version>.md                evaluation reports and their PNGs

Every write goes to a temporary sibling and is moved into place with ``os.replace``, so a reader
sees the old file or the new one, never half of either. The file that lands gets the mode a plain
``open(path, "w")`` would give it (``0o666 & ~umask``), not the private 0600 of the temporary
file, so a serving user in the training user's group can read what training wrote.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path


class Lake:
    """A local lake rooted at ``root`` (created on first write)."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    def partition_path(self, area: str, asset: str, partition: str) -> Path:
        return self.root / area / asset / f"date={partition}.parquet"

    def raw(self, asset: str, partition: str) -> Path:
        return self.partition_path("raw", asset, partition)

    def quarantine(self, asset: str, partition: str) -> Path:
        return self.partition_path("quarantine", asset, partition)

    def partitions(self, area: str, asset: str) -> list[str]:
        folder = self.root / area / asset
        if not folder.is_dir():
            return []
        return sorted(
            p.name[len("date=") : -len(".parquet")] for p in folder.glob("date=*.parquet")
        )

    def export(self, name: str) -> Path:
        return self.root / "exports" / name

    def models(self) -> Path:
        return self.root / "models"

    def reports(self, name: str) -> Path:
        return self.root / "reports" / name


_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows.

    ``os.umask`` can only be read by setting it, which is process-wide: a thread creating a file
    in between would get the wrong mode. Linux (4.7+) reports it in /proc/self/status; elsewhere
    the set-and-restore falls back to a lock, which at least serialises the callers in trademl.
    """
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def file_mode(executable: bool = False, umask: int | None = None) -> int:
    """The mode a new file gets under the umask: 0o666 (0o777 when ``executable``) & ~umask."""
    mask = current_umask() if umask is None else umask
    return (0o777 if executable else 0o666) & ~mask


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success move it onto ``target`` atomically.

    On an exception the temporary file is removed and ``target`` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp made the file 0600; the final file follows the umask like any new file.
        os.chmod(tmp_path, file_mode())
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_write_text(target: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``target`` atomically and durably (fsync before the rename)."""
    with atomic_path(target) as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    return Path(target)
