"""A content-addressed cache of LLM answers, so a re-run pays only for messages it has not seen.

Keyed by (endpoint base URL, model, prompt version, sha256 of the message text): another endpoint
serving the same model name (a local vLLM and a provider, a fine-tune behind a proxy), a new model
or a new prompt is a new cache, an edited message is a new entry. Entries written before the base
URL was part of the key carry none and are not reused. Stored as JSON Lines shards under one directory;
each :meth:`LabelCache.put_many` writes one new shard atomically (temp file + ``os.replace``), so
concurrent runs and crashes never leave a half-written file, and shards are merged once they pile
up. Only answers are cached, never failures: a failed message is asked again next run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from trademl.lake import atomic_write_text, lake_path

log = logging.getLogger(__name__)

_SHARD_GLOB = "answers-*.jsonl"


def text_sha256(text: str) -> str:
    """Hex sha256 of ``text`` (UTF-8): the message's identity in the cache."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class LabelCache:
    """LLM answers for one (endpoint, model, prompt version), persisted under ``directory``.

    Args:
        directory: folder for the shards; created if missing. Several endpoints, models and
            prompt versions may share it: each record carries its own key.
        model: the model whose answers are read and written.
        prompt_version: the prompt whose answers are read and written.
        base_url: the endpoint's API root (a trailing ``/`` is ignored).
        compact_after: merge all shards into one when more than this many exist.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        model: str,
        prompt_version: str,
        compact_after: int = 32,
        *,
        base_url: str,
    ):
        self.directory = lake_path(directory, "LLM cache folder")
        self.base_url = normalize_base_url(base_url)
        self.model = model
        self.prompt_version = prompt_version
        self.compact_after = compact_after
        self.directory.mkdir(parents=True, exist_ok=True)
        self._entries: dict[str, dict[str, Any]] = {}
        self._load()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, text: str) -> dict[str, Any] | None:
        """The cached record for ``text`` (keys ``answer``, ``tokens_in``, ``tokens_out``)."""
        return self._entries.get(text_sha256(text))

    def put_many(self, items: Iterable[tuple[str, dict[str, Any], int, int]]) -> int:
        """Store ``(text, answer, tokens_in, tokens_out)`` items in one new shard; return count."""
        now = time.time()
        records = [
            {
                "base_url": self.base_url,
                "model": self.model,
                "prompt_version": self.prompt_version,
                "text_sha256": text_sha256(text),
                "answer": answer,
                "tokens_in": tokens_in,
                "tokens_out": tokens_out,
                "created_at": now,
            }
            for text, answer, tokens_in, tokens_out in items
        ]
        if not records:
            return 0
        _write_atomic(self.directory / _shard_name(), records)
        for record in records:
            self._entries[record["text_sha256"]] = record
        if len(list(self.directory.glob(_SHARD_GLOB))) > self.compact_after:
            self.compact()
        return len(records)

    def compact(self) -> None:
        """Merge every shard (all models and prompt versions) into one, atomically."""
        shards = sorted(self.directory.glob(_SHARD_GLOB))
        merged: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        for shard in shards:
            for record in _read_shard(shard):
                key = (
                    record.get("base_url"),
                    record.get("model"),
                    record.get("prompt_version"),
                    record.get("text_sha256"),
                )
                merged[key] = record
        target = self.directory / _shard_name("merged-")
        _write_atomic(target, merged.values())
        for shard in shards:  # only shards we read: a shard written meanwhile survives
            if shard != target:
                shard.unlink(missing_ok=True)

    def _load(self) -> None:
        for shard in sorted(self.directory.glob(_SHARD_GLOB)):
            for record in _read_shard(shard):
                if (
                    record.get("base_url") == self.base_url
                    and record.get("model") == self.model
                    and record.get("prompt_version") == self.prompt_version
                    and isinstance(record.get("answer"), dict)
                ):
                    self._entries[record["text_sha256"]] = record


def normalize_base_url(base_url: str) -> str:
    """The endpoint's identity in the cache: ``http://host:8000/v1/`` -> ``http://host:8000/v1``."""
    return base_url.strip().rstrip("/")


def _shard_name(tag: str = "") -> str:
    return f"answers-{time.strftime('%Y%m%dT%H%M%S')}-{tag}{uuid.uuid4().hex[:12]}.jsonl"


def _read_shard(path: Path) -> Iterable[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:  # merged away by a concurrent compaction
        return []
    records = []
    for number, line in enumerate(lines, 1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            log.warning("LLM cache %s line %d is not JSON; skipped", path, number)
    return records


def _write_atomic(path: Path, records: Iterable[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
