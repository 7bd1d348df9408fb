"""Serving memes: the deployed LLaVA adapter's reading of image + caption, fused with the
deployed text sentiment model, without Dagster.

>>> memes = DeployedMeme()  # doctest: +SKIP
>>> memes.predict(["var/demo_data/memes/bullish_001.png"], ["to the moon"])  # doctest: +SKIP
[{'label': 'bearish', 'score': -0.41, 'confidence': 0.62, 'sarcasm_probability': 0.91,
  'sarcastic': True, 'image': {...}, 'text': {...}, 'model': 'llava_meme_adapter:2026...', ...}]

The adapter loads on first use (torch, transformers and peft import then, not before) and says
which base it runs on (``base``: a local LLaVA directory, or ``tiny:<hash>`` for the tiny base
rebuilt from its stored spec). With no champion of :data:`MODEL_NAME`, or an adapter that will not
load, each answer is the text model's alone and says so (``model: "text-only"`` and
:attr:`DeployedMeme.fallback_reason`). An image that fails the dataset's checks (missing,
corrupt, truncated, a decompression bomb...) never reaches the model: that post is answered from
its text with ``image_error`` set, so a batch never loses its other answers.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from trademl.vision.dataset import ImageRejected, check_image
from trademl.vision.fusion import FusionConfig, caption_scores, context_scores, fuse_arrays

log = logging.getLogger(__name__)

#: Registry name of the meme adapter; in a version directory, the adapter and the fusion settings.
MODEL_NAME = "llava_meme_adapter"
ADAPTER_DIR, FUSION_FILE = "adapter", "fusion.json"
TEXT_ONLY = "text-only"


def fusion_config_from(path: Path) -> FusionConfig:
    """The FusionConfig stored at ``path`` (its fields as JSON); defaults when there is none."""
    if not path.is_file():
        return FusionConfig()
    return FusionConfig(**json.loads(path.read_text()))


def fuse_posts(
    posts: pd.DataFrame,
    text_answers: Sequence[dict[str, Any]],
    image_answers: Sequence[dict[str, Any] | None],
    cfg: FusionConfig | None = None,
    *,
    context_window: str | None = "24h",
) -> pd.DataFrame:
    """One fused row per post (in ``posts`` order).

    ``posts``: ``post_id``, ``ts`` and ``text`` (the caption); ``text_answers``: the text model's
    answer per post (``score``, ``label``); ``image_answers``: the adapter's answer per post
    (``score``, ``label``, ``sarcasm_probability``) or None for a post without a usable image.
    Context is the mean text score of the earlier posts (within ``context_window``) naming the
    same instrument (no context part with ``context_window=None``: posts that are not a thread),
    the caption score VADER's reading of the words."""
    n = len(posts)
    if len(text_answers) != n or len(image_answers) != n:
        raise ValueError(
            f"fuse_posts: {n} posts, {len(text_answers)} text and {len(image_answers)} image answers"
        )
    text = [float(a["score"]) for a in text_answers]
    image = [None if a is None else float(a["score"]) for a in image_answers]
    sarcasm = [None if a is None else float(a["sarcasm_probability"]) for a in image_answers]
    context = (
        [None] * n
        if context_window is None
        else context_scores(posts.reset_index(drop=True), text, context_window)
    )
    caption = caption_scores(posts["text"].tolist()) if n else np.array([])
    out = fuse_arrays(text, image, context, caption, sarcasm, cfg)
    return pd.DataFrame(
        {
            "post_id": posts["post_id"].astype(str).tolist(),
            "score": np.round(out["score"], 4),
            "label": out["label"],
            "confidence": np.round(out["confidence"], 4),
            "sarcasm_probability": [
                None if np.isnan(v) else round(float(v), 4) for v in out["sarcasm_probability"]
            ],
            "sarcastic": out["sarcastic"],
            "inverted_text": out["inverted_text"],
            "inverted_caption": out["inverted_caption"],
            "disagreement": [
                None if np.isnan(v) else round(float(v), 4) for v in out["disagreement"]
            ],
            "text_score": text,
            "text_label": [a["label"] for a in text_answers],
            "image_score": image,
            "image_label": [None if a is None else a["label"] for a in image_answers],
            "adapter_sarcasm_probability": sarcasm,
            "context_score": context,
            "caption_score": [round(float(v), 4) for v in caption],
            "used": [",".join(u) for u in out["used"]],
            "note": out["note"],
        }
    )


class DeployedMeme:
    """What a bot calls: the champion adapter of :data:`MODEL_NAME` on its base, fused with the
    deployed text sentiment model (:class:`trademl.sentiment.DeployedSentiment`, VADER when none).

    ``base``: a local LLaVA directory to run the adapter on instead of the one it recorded (e.g.
    the same llava-1.5-7b-hf on another box); ``work_dir``: where a tiny base is rebuilt when its
    recorded copy is gone (default: a temporary directory)."""

    def __init__(
        self,
        root: str | Path | None = None,
        *,
        base: str | Path | None = None,
        work_dir: str | Path | None = None,
        sentiment=None,
        quantization: str = "auto",
    ) -> None:
        if root is None:
            from trademl.registry import default_models_root

            root = default_models_root()
        self.root = Path(root)
        self.base = base
        self.work_dir = work_dir
        self.quantization = quantization
        self._sentiment = sentiment
        self.adapter = None
        self.version: str | None = None
        self.fusion = FusionConfig()
        self._fallback_reason: str | None = None
        self._loaded = False
        self._lock = threading.Lock()

    @property
    def sentiment(self):
        if self._sentiment is None:
            from trademl.sentiment.runtime import DeployedSentiment

            self._sentiment = DeployedSentiment(self.root)
        return self._sentiment

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if not self._loaded:
                self._fallback_reason = self._load()
                if self._fallback_reason:
                    log.info("meme: answering from the text alone: %s", self._fallback_reason)
                self._loaded = True

    def _load(self) -> str | None:
        from trademl.registry import ModelRegistry

        try:
            champion = ModelRegistry(self.root).champion(MODEL_NAME)
        except Exception as exc:  # a damaged registry must not stop the bot answering
            return f"cannot read the registry at {self.root}: {exc}"
        if champion is None:
            return f"no champion of {MODEL_NAME!r} under {self.root}"
        adapter_dir = champion.path / ADAPTER_DIR
        try:
            self.fusion = fusion_config_from(champion.path / FUSION_FILE)
        except (OSError, ValueError, TypeError) as exc:
            return f"{champion.path / FUSION_FILE}: {exc}"
        try:
            from trademl.vision.llava import load_adapter

            self.adapter = load_adapter(
                adapter_dir, self.base, quantization=self.quantization, work_dir=self.work_dir
            )
        except Exception as exc:
            return f"cannot load the adapter {adapter_dir}: {exc}"
        self.version = champion.version
        return None

    @property
    def fallback_reason(self) -> str | None:
        """Why the text answers alone (no champion, a load error), or None. Reading it loads."""
        self._ensure_loaded()
        return self._fallback_reason

    @property
    def name(self) -> str:
        """``llava_meme_adapter:<version>`` when the adapter serves, else ``text-only``."""
        self._ensure_loaded()
        return TEXT_ONLY if self.adapter is None else f"{MODEL_NAME}:{self.version}"

    @property
    def base_name(self) -> str | None:
        """The base the adapter runs on (a local path or ``tiny:<hash>``), None without one."""
        self._ensure_loaded()
        return None if self.adapter is None else self.adapter.info["base"]

    def check(self, image: Any) -> tuple[Path | None, str | None]:
        """(path, None) for a usable image, (None, None) for no image, (None, problem) else."""
        if image is None or (isinstance(image, str) and image == ""):
            return None, None
        if not isinstance(image, str | Path):
            return None, f"image must be a path string or null, not {type(image).__name__}"
        try:
            path = Path(image)
            check_image(path)
        except ImageRejected as exc:
            return None, f"{exc.reason}: {exc.detail}"
        except (OSError, ValueError) as exc:  # a NUL byte, a name the file system refuses
            return None, f"unusable path: {image!r}: {exc}"
        return path, None

    def predict(
        self,
        images: Sequence[Any],
        captions: Sequence[str],
        batch_size: int = 8,
        ts: Sequence[Any] | None = None,
    ) -> list[dict[str, Any]]:
        """One answer per (image, caption), in order: ``label``, ``score`` in [-1, 1],
        ``confidence``, ``sarcasm_probability``, ``sarcastic``, ``image`` (the adapter's own
        reading, or None), ``text`` (the text model's), ``model``, ``base``, ``used``, ``note``
        and, where an image could not be used, ``image_error``. ``images[k]`` may be None (a
        post without an image); ``ts`` (optional) gives the posts' times for the context score
        (captions of one call naming the same coin within 24 hours)."""
        from trademl.sentiment.vader import safe_text

        if isinstance(captions, str):
            images, captions = [images], [captions]
        if len(images) != len(captions):
            raise ValueError(f"{len(images)} images for {len(captions)} captions")
        captions = [safe_text(c) for c in captions]
        if not captions:
            return []
        self._ensure_loaded()
        checked = [self.check(img) for img in images]
        text_answers = self.sentiment.predict(captions)
        image_answers: list[dict[str, Any] | None] = [None] * len(captions)
        usable = [k for k, (path, _) in enumerate(checked) if path is not None]
        adapter_error = None
        if self.adapter is not None and usable:
            try:
                got = self.adapter.predict(
                    [{"image_path": str(checked[k][0]), "caption": captions[k]} for k in usable],
                    batch_size=batch_size,
                )
                for k, answer in zip(usable, got, strict=True):
                    image_answers[k] = answer
            except Exception as exc:  # one bad batch must not cost the bot its answers
                adapter_error = f"the adapter failed on this batch ({exc!r}); text answers"
                log.error("meme: %s", adapter_error)
        posts = pd.DataFrame(
            {
                "post_id": [str(k) for k in range(len(captions))],
                "ts": pd.to_datetime(list(ts) if ts is not None else [0] * len(captions), utc=True),
                "text": captions,
            }
        )
        fused = fuse_posts(
            posts,
            text_answers,
            image_answers,
            self.fusion,
            context_window="24h" if ts is not None else None,
        )
        return [
            self._answer(row, text_answers[k], image_answers[k], checked[k][1], adapter_error)
            for k, row in enumerate(fused.to_dict("records"))
        ]

    def _answer(self, row, text, image, image_error, adapter_error) -> dict[str, Any]:
        out = {
            "label": row["label"],
            "score": row["score"],
            "confidence": row["confidence"],
            "sarcasm_probability": row["sarcasm_probability"],
            "sarcastic": bool(row["sarcastic"]),
            "image": None
            if image is None
            else {
                "label": image["label"],
                "score": round(float(image["score"]), 4),
                "probabilities": {k: round(float(v), 4) for k, v in image["probabilities"].items()},
                "sarcasm_probability": round(float(image["sarcasm_probability"]), 4),
            },
            "text": {"label": text["label"], "score": text["score"], "model": text["model"]},
            "model": self.name,
            "base": self.base_name,
            "used": row["used"],
            "note": row["note"],
        }
        if image_error is not None:
            out["image_error"] = image_error
            out["note"] = f"image not used ({image_error}); {out['note']}"
        elif adapter_error is not None and image is None:
            out["note"] = f"{adapter_error}; {out['note']}"
        elif self.adapter is None:
            out["note"] = f"{self._fallback_reason}: the text alone answers"
        out["note"] = out["note"].rstrip("; ")
        return out

    def __repr__(self) -> str:
        return f"<DeployedMeme {self.name}>"


def image_problem(row: dict[str, Any]) -> str | None:
    """What is wrong with the ``image`` field of a JSON Lines row (absent or null is fine)."""
    image = row.get("image")
    if image is None or isinstance(image, str):
        return None
    return f'field "image" must be a path string or null, not {type(image).__name__}'


def answer_meme_jsonl(
    meme: DeployedMeme, handle: BinaryIO | Iterable[bytes], batch_size: int = 64
) -> Iterator[list[tuple[int, dict[str, Any], str | None]]]:
    """The answers to a JSON Lines stream of ``{"image": path or null, "text": caption}``, one
    batch at a time: ``(line_no, answer, problem)`` for every input line, in order. A bad line
    (not UTF-8, not an object, no string ``text``, an ``image`` that is not a path, or an image
    file that fails its checks) is ``{"line": N, "error": problem}``; only one batch is held."""
    from trademl.serving import servable_text
    from trademl.signals.evaluation import iter_jsonl, text_problem

    if batch_size < 1:
        raise ValueError(f"answer_meme_jsonl: batch_size must be at least 1, not {batch_size}")
    pending: list[tuple[int, Any, str | None, str | None]] = []

    def answers():
        good = [(image, text) for _, image, text, problem in pending if problem is None]
        got = iter(meme.predict([g[0] for g in good], [g[1] for g in good]) if good else ())
        out = []
        for line_no, _image, _text, problem in pending:
            if problem is None:
                answer = next(got)
                problem = answer.get("image_error")
                if problem is not None:
                    problem = f"image {_image!r}: {problem}"
            if problem is not None:
                out.append((line_no, {"line": line_no, "error": problem}, problem))
            else:
                out.append((line_no, answer, None))
        pending.clear()
        return out

    for line_no, row, problem in iter_jsonl(handle):
        problem = problem or text_problem(row) or image_problem(row)
        if problem:
            pending.append((line_no, None, None, problem))
        else:
            pending.append((line_no, row.get("image") or None, servable_text(row["text"]), None))
        if len(pending) >= batch_size:
            yield answers()
    if pending:
        yield answers()
