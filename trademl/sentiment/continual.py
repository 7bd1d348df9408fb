"""Continual learning: a replay buffer, the new/replay training mix, and pseudo-labels.

A model retrained only on the newest labels forgets what the older ones taught it (a market
regime, a slang that went quiet). The :class:`ReplayBuffer` keeps a uniform random sample of
every labelled post it was ever offered (reservoir sampling, Vitter's Algorithm R), persisted
beside the model so that it survives restarts and continues the same random stream; each
retrain mixes all the new labels with a replay sample from it (:func:`training_mix`).

Pseudo-labels (:func:`pseudo_labels`) are the model's own predictions kept only where it is
very sure (FixMatch-style confidence threshold), never for a post that a person or a rating
labelled: a pseudo-label is the weakest label source and never overrides a stronger one.
:func:`pseudo_label_accuracy` measures how often that threshold is right on labelled posts.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trademl.errors import InputError
from trademl.lake import atomic_write_text, lake_path
from trademl.sentiment.labels import PSEUDO, SENTIMENT_LABELS, check_label

__all__ = ["ReplayBuffer", "pseudo_label_accuracy", "pseudo_labels", "training_mix"]

_FORMAT = "trademl.sentiment.replay_buffer"
_VERSION = 1
_REQUIRED = ("post_id", "text", "label", "ts")


def _iso_utc(ts: Any) -> str | None:
    """``ts`` as ISO 8601 UTC (a naive time is taken as UTC), or None when missing."""
    if ts is None or (isinstance(ts, float) and np.isnan(ts)):
        return None
    try:
        stamp = pd.Timestamp(ts)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"replay item time {ts!r} is not a timestamp ({exc})") from None
    if pd.isna(stamp):
        return None
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.isoformat()


class ReplayBuffer:
    """A uniform sample of at most ``capacity`` labelled posts out of all those offered.

    Items are dicts with at least ``post_id``, ``text``, ``label`` and ``ts``. On :meth:`add`
    each item is normalised the way the file stores it (``ts`` as ISO 8601 UTC, values through
    JSON), so a buffer in memory and the same buffer reloaded are equal. The file at ``path`` is
    one JSON document (items, ``seen``, watermark and the random generator's state) replaced
    atomically by :meth:`save`: a crash mid-save leaves the previous file whole.
    """

    def __init__(self, path: str | Path | None = None, capacity: int = 2000, seed: int = 0):
        if int(capacity) < 1:
            raise ValueError(f"ReplayBuffer: capacity must be >= 1 (got {capacity})")
        self.path = None if path is None else lake_path(path, "replay buffer")
        self.capacity = int(capacity)
        self.seed = int(seed)
        self._rng = random.Random(self.seed)
        self._items: list[dict[str, Any]] = []
        self._ids: set[str] = set()
        self._seen = 0
        self._watermark: str | None = None

    @property
    def items(self) -> list[dict[str, Any]]:
        """The buffered items (a copy of the list; slot order, not time order)."""
        return list(self._items)

    @property
    def seen(self) -> int:
        """How many items were ever offered to the reservoir (repeats of buffered ids excluded)."""
        return self._seen

    @property
    def watermark(self) -> str | None:
        """The latest ``ts`` offered (ISO 8601 UTC), or None before any item with a time."""
        return self._watermark

    def __len__(self) -> int:
        return len(self._items)

    def add(self, items: Iterable[dict[str, Any]]) -> int:
        """Offer ``items`` to the reservoir; the number offered.

        An item whose ``post_id`` is already in the buffer (or earlier in the same call) is
        skipped and not counted: retraining on the same labels must not tilt the sample
        towards them. Every other item takes part in Algorithm R: the first ``capacity`` fill
        the buffer, then item number ``t`` (0-based over all ever offered) replaces a random
        slot with probability ``capacity / (t + 1)``.
        """
        offered = 0
        batch_ids: set[str] = set()
        for raw in items:
            missing = [k for k in _REQUIRED if k not in raw]
            if missing:
                raise ValueError(
                    f"ReplayBuffer.add: item {raw.get('post_id', '?')!r} lacks {missing} "
                    f"(every item needs {list(_REQUIRED)})"
                )
            key = str(raw["post_id"])
            if key in self._ids or key in batch_ids:
                continue
            batch_ids.add(key)
            item = json.loads(json.dumps({**raw, "ts": _iso_utc(raw["ts"])}, default=str))
            if item["ts"] is not None and (self._watermark is None or item["ts"] > self._watermark):
                self._watermark = item["ts"]
            if len(self._items) < self.capacity:
                self._items.append(item)
                self._ids.add(key)
            else:
                slot = self._rng.randrange(self._seen + 1)
                if slot < self.capacity:
                    self._ids.discard(str(self._items[slot]["post_id"]))
                    self._items[slot] = item
                    self._ids.add(key)
            self._seen += 1
            offered += 1
        return offered

    def sample(self, n: int, seed: int = 0) -> list[dict[str, Any]]:
        """``min(n, len(self))`` buffered items drawn without replacement (the buffer's own
        random stream is not touched)."""
        return random.Random(seed).sample(self._items, max(0, min(int(n), len(self._items))))

    def save(self) -> Path:
        """Write the buffer to its path atomically; the path."""
        if self.path is None:
            raise ValueError(
                "ReplayBuffer.save: this buffer has no path (give one to the constructor)"
            )
        version, internal, gauss = self._rng.getstate()
        state = {
            "format": _FORMAT,
            "version": _VERSION,
            "capacity": self.capacity,
            "seed": self.seed,
            "seen": self._seen,
            "watermark": self._watermark,
            "rng_state": [version, list(internal), gauss],
            "items": self._items,
        }
        return atomic_write_text(self.path, json.dumps(state, ensure_ascii=False))

    @classmethod
    def load(cls, path: str | Path, capacity: int = 2000, seed: int = 0) -> ReplayBuffer:
        """The buffer saved at ``path``, or an empty one (``capacity``, ``seed``) when no file.

        A saved buffer keeps its own seed and random state, so it continues the stream it was
        on. A smaller ``capacity`` than the file's keeps a random subset (still uniform); a
        larger one is refused (the buffer would fill with new items only and stop being
        uniform). A file that cannot be read as a buffer is an :class:`InputError`, never an
        empty buffer: losing the replay history silently is worse than stopping.
        """
        path = lake_path(path, "replay buffer")
        buf = cls(path, capacity=capacity, seed=seed)
        if not path.exists():
            return buf
        hint = "restore it from a backup, or delete it to start an empty buffer"
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(state, dict) or state.get("format") != _FORMAT:
                raise InputError(str(path), "not a replay buffer file", hint)
            if state.get("version") != _VERSION:
                raise InputError(
                    str(path),
                    f"replay buffer format version {state.get('version')!r} is not {_VERSION}",
                )
            stored_capacity = int(state["capacity"])
            items = state["items"]
            if not isinstance(items, list) or len(items) > stored_capacity:
                raise InputError(
                    str(path), "replay buffer items are not a list within capacity", hint
                )
            ids = {str(i["post_id"]) for i in items}
            version, internal, gauss = state["rng_state"]
            buf._rng.setstate((version, tuple(internal), gauss))
            buf.seed = int(state["seed"])
            buf._seen = int(state["seen"])
            buf._watermark = state["watermark"]
        except InputError:
            raise
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(str(path), f"cannot read the replay buffer: {exc}", hint) from None
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(str(path), f"replay buffer file is malformed: {exc!r}", hint) from None
        if buf.capacity > stored_capacity:
            raise InputError(
                str(path),
                f"replay buffer was saved with capacity {stored_capacity}; cannot grow it to "
                f"{buf.capacity} and keep it uniform",
                "load it with its capacity, or start a new buffer",
            )
        if len(items) > buf.capacity:
            items = buf._rng.sample(items, buf.capacity)
            ids = {str(i["post_id"]) for i in items}
        buf._items = items
        buf._ids = ids
        return buf


def _coerce_like(values: pd.Series, like: pd.Series) -> pd.Series:
    """Replay values in the dtype of the new rows' column where that is a datetime."""
    if isinstance(like.dtype, pd.DatetimeTZDtype):
        return pd.to_datetime(values, utc=True).dt.tz_convert(like.dt.tz)
    if pd.api.types.is_datetime64_dtype(like.dtype):
        return pd.to_datetime(values, utc=True).dt.tz_convert(None)
    return values


def training_mix(
    new: pd.DataFrame, buffer: ReplayBuffer, new_share: float = 0.7, seed: int = 0
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """All of ``new`` plus a replay sample from ``buffer``, with an ``origin`` column.

    ``new`` needs ``post_id``, ``text`` and ``label`` columns. The replay sample has
    ``round(n_new * (1 - new_share) / new_share)`` rows, capped by the buffered items whose
    ``post_id`` is not in ``new`` (a post is never in the mix twice); it takes ``new``'s columns
    (missing values NaN, other keys dropped). Stats: ``n_new``, ``n_replay``, ``n_replay_wanted``,
    ``replay_share`` (actual share of the mix; None when empty), ``buffer_size``,
    ``buffer_seen``, ``empty_new``.

    With no new rows the mix is empty and ``empty_new`` is True: retraining on replay alone
    would only relearn the past, so whether to retrain at all is the caller's decision.
    """
    if not 0.0 < new_share <= 1.0:
        raise ValueError(f"training_mix: new_share must be in (0, 1] (got {new_share})")
    missing = [c for c in ("post_id", "text", "label") if c not in new.columns]
    if missing:
        raise ValueError(f"training_mix: new rows lack columns {missing}")
    n_new = len(new)
    wanted = round(n_new * (1.0 - new_share) / new_share) if n_new else 0
    new_ids = {str(p) for p in new["post_id"]}
    eligible = [i for i in buffer.items if str(i["post_id"]) not in new_ids]
    replay = random.Random(seed).sample(eligible, min(wanted, len(eligible)))
    mix = new.copy()
    mix["origin"] = "new"
    if replay:
        rep = pd.DataFrame(
            [{c: r.get(c) for c in new.columns} for r in replay], columns=new.columns
        )
        for col in new.columns:
            rep[col] = _coerce_like(rep[col], new[col])
        rep["origin"] = "replay"
        mix = pd.concat([mix, rep], ignore_index=True)
    else:
        mix = mix.reset_index(drop=True)
    total = n_new + len(replay)
    stats = {
        "n_new": n_new,
        "n_replay": len(replay),
        "n_replay_wanted": wanted,
        "replay_share": round(len(replay) / total, 4) if total else None,
        "buffer_size": len(buffer),
        "buffer_seen": buffer.seen,
        "empty_new": n_new == 0,
    }
    return mix, stats


def _probability_rows(probs: Any, n: int, where: str) -> np.ndarray:
    p = np.asarray(probs, dtype=float)
    if n == 0 and p.size == 0:
        return np.zeros((0, len(SENTIMENT_LABELS)))
    if p.ndim != 2 or p.shape != (n, len(SENTIMENT_LABELS)):
        raise ValueError(
            f"{where}: probabilities have shape {p.shape} for {n} posts; expected "
            f"({n}, {len(SENTIMENT_LABELS)}) in {SENTIMENT_LABELS} order"
        )
    return p


def pseudo_labels(
    post_ids: Sequence[Any],
    texts: Sequence[str],
    probs: np.ndarray,
    threshold: float = 0.95,
    exclude_ids: Iterable[Any] = (),
) -> pd.DataFrame:
    """Posts the model is at least ``threshold`` sure of, as pseudo-labels.

    Columns: ``post_id``, ``text``, ``label`` (argmax in :data:`SENTIMENT_LABELS` order),
    ``confidence`` (that probability) and ``label_source`` ("pseudo"). Posts in ``exclude_ids``
    (those with a human or rating label) are never pseudo-labelled, and a repeated post id is
    kept once (its first row).
    """
    if len(post_ids) != len(texts):
        raise ValueError(f"pseudo_labels: {len(post_ids)} post ids for {len(texts)} texts")
    p = _probability_rows(probs, len(post_ids), "pseudo_labels")
    excluded = {str(x) for x in exclude_ids}
    conf = p.max(axis=1)
    arg = p.argmax(axis=1)
    rows = []
    for i, pid in enumerate(post_ids):
        key = str(pid)
        if conf[i] >= threshold and key not in excluded:
            excluded.add(key)
            rows.append(
                {
                    "post_id": pid,
                    "text": texts[i],
                    "label": SENTIMENT_LABELS[int(arg[i])],
                    "confidence": float(conf[i]),
                    "label_source": PSEUDO,
                }
            )
    return pd.DataFrame(rows, columns=["post_id", "text", "label", "confidence", "label_source"])


def pseudo_label_accuracy(
    probs: np.ndarray, true_labels: Sequence[str], threshold: float = 0.95
) -> dict[str, Any]:
    """How the pseudo-label threshold does on labelled posts.

    ``n_confident``: posts at or above ``threshold``; ``accuracy``: share of those whose argmax
    is the true label (None when there are none); ``coverage``: ``n_confident / n`` (None when
    there are no posts); also ``n`` and ``threshold``.
    """
    truth = [check_label(t) for t in true_labels]
    p = _probability_rows(probs, len(truth), "pseudo_label_accuracy")
    if not truth:
        return {
            "n": 0,
            "threshold": threshold,
            "n_confident": 0,
            "accuracy": None,
            "coverage": None,
        }
    confident = p.max(axis=1) >= threshold
    predicted = np.asarray(SENTIMENT_LABELS)[p.argmax(axis=1)]
    n_confident = int(confident.sum())
    correct = int((predicted[confident] == np.asarray(truth)[confident]).sum())
    return {
        "n": len(truth),
        "threshold": threshold,
        "n_confident": n_confident,
        "accuracy": round(correct / n_confident, 4) if n_confident else None,
        "coverage": round(n_confident / len(truth), 4),
    }
