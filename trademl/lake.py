"""The lake: where every artifact lives, and atomic writes into it.

Layout under the root::

    raw/<asset>/date=YYYY-MM-DD.parquet        daily partitions (one file each: replaced atomically)
    quarantine/<asset>/date=YYYY-MM-DD.parquet rows that failed validation, with the reason
    exports/classification_data.csv            training files in the layouts desks already use
    exports/ner_data.jsonl
    models/<name>/...                          model registry
    reports/<name>/<version>.md                evaluation reports and their PNGs

The root is a local folder, a ``file://`` URL (both plain :class:`pathlib.Path`), or any fsspec
URL that universal_pathlib knows (``s3://bucket/lake``, ``gs://``, ``abfs://``, ``memory://``):
those roots are :class:`upath.UPath` objects, which have the same ``/``, ``exists``, ``glob``,
``open`` and ``read_text`` as a Path. Credentials and endpoints come from the store's own
environment (``AWS_ACCESS_KEY_ID`` / ``AWS_ENDPOINT_URL`` for s3fs, ``GOOGLE_APPLICATION_CREDENTIALS``
for gcsfs, ``AZURE_STORAGE_*`` for adlfs) or fsspec's config files, as with any fsspec tool.

Every write goes to a temporary file and lands in one step, so a reader sees the old file or the
new one, never half of either. On a local root the temporary file is a sibling and lands with
``os.replace``; it gets the mode a plain ``open(path, "w")`` would give it (``0o666 & ~umask``), not
the private 0600 of the temporary file, so a serving user in the training user's group can read
what training wrote. An object store has no rename, so the temporary file is written on local disk
and lands with one upload (``fs.put_file``): S3, GCS and Azure publish an object only when its
upload completes, so readers never see a partial file there either, and a failed step leaves
nothing half-written in the store. Readers go through :func:`read_parquet`, :func:`read_csv`,
:func:`parquet_file` and ``path.open()``, which take either kind of path (pandas and pyarrow want a
file object for a UPath). Work that needs a real folder (model staging, caches) uses
:meth:`Lake.scratch`, which is under the root when it is local and on local disk otherwise.

The model registry is not in this module: it relies on ``flock`` and atomic renames, so it needs
a POSIX file system (local disk or a shared mount); see :mod:`trademl.registry`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trademl.errors import InputError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

#: A path in the lake: a local Path, or a UPath on an fsspec store.
LakePath = Any

_LOCAL_PROTOCOLS = {"file", "local"}


def is_remote(path: object) -> bool:
    """True for a path on an fsspec store (a UPath that is not a local :class:`pathlib.Path`)."""
    return not isinstance(path, (str, os.PathLike)) and hasattr(path, "fs")


def local_path(root: str | os.PathLike[str]) -> Path | None:
    """``root`` as a local Path (a folder, or a ``file://`` / ``local://`` URL); None for any
    other URL."""
    text = os.fspath(root)
    if "://" not in text:
        return Path(text)
    if text.split("://", 1)[0].lower() in _LOCAL_PROTOCOLS:
        from upath import UPath

        return Path(UPath(text).path)
    return None


def lake_path(root: str | os.PathLike[str] | Any, what: str = "lake root") -> LakePath:
    """``root`` as a Path (local folder or ``file://`` URL) or a UPath (any other fsspec URL).

    An unknown protocol, or a store whose fsspec package is not installed, raises an
    :class:`~trademl.errors.InputError` that names ``root`` and the package to install.
    """
    if is_remote(root):
        return root
    text = os.fspath(root) if isinstance(root, os.PathLike) else str(root)
    local = local_path(text)
    if local is not None:
        return local
    protocol = text.split("://", 1)[0].lower()
    from upath import UPath

    try:
        path = UPath(text)
    except ValueError as exc:
        raise InputError(
            f"{what} {text!r}",
            f"unknown storage protocol {protocol!r}",
            "use a local folder or an fsspec URL such as s3://bucket/lake, gs://, abfs://",
        ) from exc
    try:
        path.fs  # noqa: B018 - builds the filesystem, which imports its package
    except ImportError as exc:
        raise InputError(
            f"{what} {text!r}", str(exc), "pip install the store's fsspec package"
        ) from exc
    return path


def _scratch_base() -> Path:
    return Path(os.environ.get("TRADEML_SCRATCH") or Path(tempfile.gettempdir()) / "trademl")


class Lake:
    """A lake rooted at ``root``: a local folder or an fsspec URL (created on first write)."""

    def __init__(self, root: str | os.PathLike[str] | Any):
        self.root = lake_path(root)

    @property
    def remote(self) -> bool:
        """True when the root is on an object store (or any non-local fsspec filesystem)."""
        return is_remote(self.root)

    def scratch(self, *parts: str) -> Path:
        """A local folder for work that needs real files (model staging, caches).

        Under the root for a local lake (as before); for a remote lake under ``$TRADEML_SCRATCH``
        (default: the system temp folder), in a folder named after the root's URL.
        """
        if not self.remote:
            return self.root.joinpath(*parts)
        base = _scratch_base()
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:12]
        return base.joinpath(f"lake-{digest}", *parts)

    def partition_path(self, area: str, asset: str, partition: str) -> LakePath:
        return self.root / area / asset / f"date={partition}.parquet"

    def raw(self, asset: str, partition: str) -> LakePath:
        return self.partition_path("raw", asset, partition)

    def quarantine(self, asset: str, partition: str) -> LakePath:
        return self.partition_path("quarantine", asset, partition)

    def partitions(self, area: str, asset: str) -> list[str]:
        folder = self.root / area / asset
        if not folder.is_dir():
            return []
        return sorted(
            p.name[len("date=") : -len(".parquet")] for p in folder.glob("date=*.parquet")
        )

    def export(self, name: str) -> LakePath:
        return self.root / "exports" / name

    def models(self) -> LakePath:
        return self.root / "models"

    def reports(self, name: str) -> LakePath:
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


def staging_file(target: LakePath) -> Path:
    """A new, empty local temporary file from which :func:`publish_file` lands ``target``.

    Beside ``target`` on a local lake (so the move is a rename); in the local scratch area for a
    remote one. The parent of a local ``target`` is created.
    """
    if is_remote(target):
        folder = _scratch_base() / "staging"
        folder.mkdir(parents=True, exist_ok=True)
    else:
        target = Path(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        folder = target.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    return Path(tmp)


def publish_file(tmp: Path, target: LakePath) -> None:
    """Land the finished local file ``tmp`` on ``target`` in one step (and remove ``tmp``).

    Local: chmod to the umask's mode, then ``os.replace``. Remote: one ``put_file`` upload
    (an object appears only when its upload completes), then ``tmp`` is removed.
    """
    if is_remote(target):
        try:
            target.fs.put_file(str(tmp), target.path)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return
    # mkstemp made the file 0600; the final file follows the umask like any new file.
    os.chmod(tmp, file_mode())
    os.replace(tmp, target)


@contextlib.contextmanager
def atomic_path(target: LakePath) -> Iterator[Path]:
    """Yield a local temporary path; on success land it on ``target`` in one step.

    On an exception the temporary file is removed and ``target`` is left as it was.
    """
    tmp_path = staging_file(target)
    try:
        yield tmp_path
        publish_file(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_write_text(target: LakePath, text: str) -> LakePath:
    """Write ``text`` to ``target`` atomically and durably (fsync before it lands)."""
    with atomic_path(target) as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    return target if is_remote(target) else Path(target)


def read_parquet(path: LakePath, **kwargs: Any) -> pd.DataFrame:
    """``pandas.read_parquet`` of a local or remote lake file."""
    import pandas as pd

    if not is_remote(path):
        return pd.read_parquet(path, **kwargs)
    with path.open("rb") as handle:
        return pd.read_parquet(handle, **kwargs)


def read_table(path: LakePath, **kwargs: Any) -> pa.Table:
    """``pyarrow.parquet.read_table`` of a local or remote lake file."""
    import pyarrow.parquet as pq

    if not is_remote(path):
        return pq.read_table(path, **kwargs)
    with path.open("rb") as handle:
        return pq.read_table(handle, **kwargs)


def read_csv(path: LakePath, **kwargs: Any) -> pd.DataFrame:
    """``pandas.read_csv`` of a local or remote lake file."""
    import pandas as pd

    if not is_remote(path):
        return pd.read_csv(path, **kwargs)
    with path.open("rb") as handle:
        return pd.read_csv(handle, **kwargs)


@contextlib.contextmanager
def parquet_file(path: LakePath) -> Iterator[pq.ParquetFile]:
    """A ``pyarrow.parquet.ParquetFile`` over a local or remote lake file, closed on exit."""
    import pyarrow.parquet as pq

    with contextlib.ExitStack() as stack:
        source = stack.enter_context(path.open("rb")) if is_remote(path) else path
        pf = pq.ParquetFile(source)
        stack.callback(pf.close)
        yield pf
