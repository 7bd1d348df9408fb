"""The lake: where every artifact lives, and atomic writes into it.

Layout under the root::

    raw/<asset>/date=YYYY-MM-DD.parquet        daily partitions (one file each: replaced atomically)
    quarantine/<asset>/date=YYYY-MM-DD.parquet rows that failed validation, with the reason
    exports/classification_data.csv            training files in the layouts desks already use
    exports/ner_data.jsonl
    models/<name>/...                          model registry
    reports/<name>/<version>.md                evaluation reports and their PNGs

Every write goes to a temporary sibling and is moved into place with ``os.replace``, so a reader
sees the old file or the new one, never half of either.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
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
