"""Serving the deployed signal models, without Dagster: label + confidence + entities per message.

Modes (``trademl predict --mode``, :meth:`DeployedSignalModels.predict`):

- ``auto`` (the default): where the rule parser reads a direction for a named pair (stated, or
  implied by the levels), its class and fields stand and no model runs; everywhere else the
  classifier decides the class and the NER extractor fills the fields the parser left empty;
- ``model``: what the models alone say (the class from the classifier, the fields from the NER
  extractor, the parser filling only what it leaves empty);
- ``rules``: the rule parser alone; no model file is read.

Precedence for the class: the fine-tuned transformer through onnxruntime INT8, then fp32, then
torch, then the TF-IDF baseline, then the rule parser. For the entities: the NER extractor
through onnxruntime INT8, then fp32 (see :mod:`trademl.models.ner_onnx`), then torch, then the
rule parser; ``$TRADEML_NER_BACKEND`` (``onnx-int8``, ``onnx-fp32`` or ``torch``) starts the list
at that form instead. The extractor loads on first need, so chatter and messages the parser
settles never pay for it, and the ONNX forms never import torch. Each answer says which model
gave it, and every form that could not be loaded is a warning on the ``trademl.serving`` logger
naming its file (the CLI prints these on stderr).

Layout of a deployed version (see trademl_assets.signals.models and .ner_onnx)::

    signal_classifier:  onnx/model.int8.onnx (+ model.onnx, tokenizer)  hf/  baseline.joblib
    ner_extractor:      onnx/model.int8.onnx (+ model.onnx, tokenizer)  hf/
"""

from __future__ import annotations

import logging
import os
import re
import select
import stat
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from trademl.errors import TradeMLError
from trademl.labels import (
    NON_SIGNAL,
    SIGNAL_FIELDS,
    SIGNAL_LONG,
    SIGNAL_NONE,
    SIGNAL_SHORT,
    empty_fields,
)
from trademl.signals.levels import side_from_levels

CLASSIFIER = "signal_classifier"
EXTRACTOR = "ner_extractor"
MODES = ("auto", "model", "rules")
#: Rows per onnxruntime run. Sorted by length, small batches pad least: on demo-style messages
#: (30 tokens on average, 96 at most) 8-16 rows cost 3.0 ms of CPU a message against 12 ms for
#: 64 unsorted lines padded to their longest.
MODEL_BATCH = 16
#: Lines `trademl predict --jsonl` reads and answers at a time (its --batch-size default).
READ_LINES = 1024
NER_BACKENDS = ("onnx-int8", "onnx-fp32", "torch")
NER_BACKEND_ENV = "TRADEML_NER_BACKEND"
_SIDE_OF = {SIGNAL_LONG: "LONG", SIGNAL_SHORT: "SHORT"}
_SURROGATE = re.compile("[\ud800-\udfff]")

log = logging.getLogger(__name__)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def classifier_candidates(version_dir: Path) -> list[tuple[str, Path]]:
    """The loadable forms of a classifier version, best first."""
    out = []
    onnx = version_dir / "onnx"
    if (onnx / "model.int8.onnx").exists():
        out.append(("onnx-int8", onnx / "model.int8.onnx"))
    if (onnx / "model.onnx").exists():
        out.append(("onnx-fp32", onnx / "model.onnx"))
    if (version_dir / "hf" / "config.json").exists():
        out.append(("torch", version_dir / "hf"))
    if (version_dir / "baseline.joblib").exists():
        out.append(("tfidf-baseline", version_dir / "baseline.joblib"))
    return out


def extractor_candidates(version_dir: Path, backend: str | None = None) -> list[tuple[str, Path]]:
    """The loadable forms of an NER version, best first: ONNX INT8 (present only where it passed
    its parity check), ONNX fp32, torch. ``backend`` (default ``$TRADEML_NER_BACKEND``) drops the
    forms before the one it names."""
    backend = backend or os.environ.get(NER_BACKEND_ENV) or None
    if backend is not None and backend not in NER_BACKENDS:
        raise TradeMLError(
            f"${NER_BACKEND_ENV}={backend!r}: must be one of {', '.join(NER_BACKENDS)} (or unset)"
        )
    onnx = version_dir / "onnx"
    forms = [
        ("onnx-int8", onnx / "model.int8.onnx", onnx / "model.int8.onnx"),
        ("onnx-fp32", onnx / "model.onnx", onnx / "model.onnx"),
        ("torch", version_dir / "hf", version_dir / "hf" / "config.json"),
    ]
    if backend is not None:
        forms = forms[NER_BACKENDS.index(backend) :]
    return [(kind, path) for kind, path, marker in forms if marker.exists()]


def _load_extractor(kind: str, path: Path, threads: int | None):
    if kind == "torch":
        from trademl.models.ner import NerExtractor

        return NerExtractor.load(path)
    from trademl.models.ner_onnx import OnnxNerExtractor

    return OnnxNerExtractor(path, workers=threads or 1)


class DeployedSignalModels:
    """The champion classifier and extractor of a registry, loaded once, predicting in batches.

    ``mode`` is the default of :meth:`predict`; with ``mode="rules"`` nothing is read from the
    registry at all. ``threads``: onnxruntime batches run at once, one thread each (see
    :func:`trademl.models.classifier_runtime.batch_map`); default one batch at a time, on the
    runtimes' own choice of threads.
    """

    def __init__(
        self,
        models_root: str | os.PathLike,
        *,
        allow_rules: bool = True,
        mode: str = "auto",
        threads: int | None = None,
    ):
        from trademl.registry import ModelRegistry

        _check_mode(mode)
        self.root = Path(models_root)
        self.mode = mode
        self.threads = threads
        self.classifier = None
        self.classifier_name = "rules"
        self.classifier_version = None
        self._extractor = None
        self._ner_forms: list[tuple[str, Path]] = []
        self.extractor_name: str | None = None
        self.extractor_version = None
        self.load_errors: list[str] = []
        if mode == "rules":
            return
        registry = ModelRegistry(self.root)
        errors = self.load_errors
        champion = registry.champion(CLASSIFIER) if (self.root / CLASSIFIER).exists() else None
        if champion is not None:
            from trademl.models.classifier_runtime import load_classifier

            candidates = classifier_candidates(champion.path)
            for kind, path in candidates:
                try:
                    self.classifier = load_classifier(path, workers=self.threads or 1)
                except Exception as exc:  # a broken artifact: fall through to the next form
                    errors.append(f"{path}: {_first_line(exc)}")
                    log.warning(
                        "%s: cannot load (%s); trying the next form", path, _first_line(exc)
                    )
                    continue
                self.classifier_name, self.classifier_version = kind, champion.version
                break
            if self.classifier is None:
                if not candidates:
                    errors.append(f"{champion.path}: no onnx/, hf/ or baseline.joblib")
                log.warning(
                    "%s: no loadable form of %s %s; the rule parser decides the class",
                    champion.path,
                    CLASSIFIER,
                    champion.version,
                )
        ner = registry.champion(EXTRACTOR) if (self.root / EXTRACTOR).exists() else None
        if ner is not None:
            # Loaded on first need: chatter and messages the parser reads completely never need
            # it (and the torch form takes seconds to import).
            self._ner_forms = extractor_candidates(ner.path)
            if self._ner_forms:
                self.extractor_version = ner.version
            else:
                errors.append(f"{ner.path}: no onnx/model*.onnx or hf/config.json")
                log.warning(
                    "%s: no onnx/model*.onnx or hf/config.json; the rule parser extracts the "
                    "entities",
                    ner.path,
                )
        if self.classifier is None and not self._ner_forms and not allow_rules:
            detail = f" ({'; '.join(errors)})" if errors else ""
            raise TradeMLError(
                f"{self.root}: no deployed signal models{detail}; run `make demo` to train and deploy them"
            )

    @property
    def extractor(self):
        """The NER extractor, loaded on first use, best form first (None when none is deployed or
        every form is broken: then a warning names each file and the rule parser extracts the
        entities)."""
        while self._extractor is None and self._ner_forms:
            kind, path = self._ner_forms[0]
            try:
                self._extractor = _load_extractor(kind, path, self.threads)
            except Exception as exc:  # a broken artifact: the next form, or the parser's fields
                self._ner_forms.pop(0)
                self.load_errors.append(f"{path}: {_first_line(exc)}")
                fallback = (
                    f"trying {self._ner_forms[0][0]}"
                    if self._ner_forms
                    else "the rule parser extracts the entities"
                )
                log.warning("%s: cannot load (%s); %s", path, _first_line(exc), fallback)
                if not self._ner_forms:
                    self.extractor_version = None
                continue
            self.extractor_name = kind
        return self._extractor

    @property
    def name(self) -> str:
        if self.classifier is None and not self._ner_forms:
            return "rules"
        parts = [
            f"{self.classifier_name}"
            + (f"@{self.classifier_version}" if self.classifier_version else "")
        ]
        parts.append(f"ner@{self.extractor_version}" if self._ner_forms else "rules-entities")
        return "+".join(parts)

    def predict(
        self, texts: Sequence[str], batch_size: int = MODEL_BATCH, mode: str | None = None
    ) -> list[dict[str, Any]]:
        """Gold-format predictions (label + the six fields) plus ``confidence``, ``model``,
        ``extractor`` and ``side_source``.

        ``mode`` (default: the one the models were loaded with): ``"model"``: the class from the
        deployed classifier; fields from the NER extractor, the rule parser filling what it
        leaves empty. ``"auto"``: where the rule parser reads a direction for a named pair (stated,
        or implied by the levels) its class and fields stand (confidence 1: the rules are
        deterministic, and no model runs); everywhere else (no direction, chatter, updates,
        styles it does not know) the classifier decides, and the fields come from the parser
        with the NER extractor filling what it leaves empty. ``"rules"``: the parser
        alone, no model. ``model`` in each answer names what decided its class.

        ``side`` is the direction of the class (None for NON_SIGNAL and SIGNAL_NONE);
        ``side_source`` says where it comes from: ``"stated"`` when the text states it (a SIDE
        span of the parser or of the NER extractor), ``"levels"`` when the levels imply it
        (:func:`trademl.signals.levels.side_from_levels`: targets above the entry, stop below, or
        the mirror), ``"model"`` when the classifier's class is its only source, None when there
        is no side.

        Each distinct text is answered once (repeats get copies). The classifier sees every
        message the parser did not settle (all of them in ``model`` mode), the extractor only
        those classed as signals whose fields can still be used; both run ``batch_size`` rows
        at a time, sorted by length (few pad tokens).
        """
        from trademl.signals.parser import parse_signal

        mode = self.mode if mode is None else mode
        _check_mode(mode)
        texts = list(texts)
        distinct = dict.fromkeys(texts)
        if len(distinct) < len(texts):
            answers = dict(
                zip(distinct, self.predict(list(distinct), batch_size, mode), strict=True)
            )
            return [_copy(answers[t]) for t in texts]
        parsed = [parse_signal(t) for t in texts]
        if mode == "rules" or (self.classifier is None and not self._ner_forms):
            return [_rules_answer(p) for p in parsed]
        settled = [
            mode == "auto" and _rules_confident(p, t) for p, t in zip(parsed, texts, strict=True)
        ]
        todo = [i for i, done in enumerate(settled) if not done]
        labelled: list[tuple[str, float]] = [(p.label, 1.0) for p in parsed]
        source = "rules"
        if self.classifier is not None:
            source = self.classifier_name + (
                f"@{self.classifier_version}" if self.classifier_version else ""
            )
            if todo:
                found = self.classifier.predict([texts[i] for i in todo], batch_size=batch_size)
                for i, label_confidence in zip(todo, found, strict=True):
                    labelled[i] = label_confidence
        # The extractor runs only where its fields can be used: messages classed as signals
        # whose class (in auto mode) the parser did not already settle.
        needs = [i for i in todo if labelled[i][0] != NON_SIGNAL]
        extracted: list[dict[str, Any] | None] = [None] * len(texts)
        extractor = self.extractor if needs else None
        if extractor is not None:
            found = extractor.extract([texts[i] for i in needs], batch_size=batch_size)
            for i, fields in zip(needs, found, strict=True):
                extracted[i] = fields
        ner_name = f"ner@{self.extractor_version}+rules"
        prefer = "model" if mode == "model" else "rules"
        out = []
        for p, done, (label, confidence), ner in zip(
            parsed, settled, labelled, extracted, strict=True
        ):
            if done:
                # Its fields stand too: on channels the NER model never saw, letting it fill the
                # gaps of a reading the parser completed adds more wrong values than right ones.
                out.append(_rules_answer(p))
                continue
            fields = merge_fields(p.fields(), ner, prefer=prefer)
            out.append(
                _answer(label, confidence, source, ner_name if ner else "rules", fields, p, ner)
            )
        return out


def _copy(answer: dict[str, Any]) -> dict[str, Any]:
    return {**answer, "entry": list(answer["entry"]), "targets": list(answer["targets"])}


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"predict: mode must be one of {', '.join(MODES)}, not {mode!r}")


def _answer(
    label: str,
    confidence: float,
    model: str,
    extractor: str,
    fields: dict[str, Any],
    parsed,
    ner: dict[str, Any] | None,
    rules: bool = False,
) -> dict[str, Any]:
    if label == NON_SIGNAL:
        fields = empty_fields()
    else:  # the class decides the side: SIGNAL_NONE states none
        fields["side"] = _SIDE_OF.get(label)
    return {
        "label": label,
        "confidence": round(float(confidence), 4),
        "model": model,
        "extractor": extractor,
        **fields,
        "side_source": side_source(fields, parsed, ner, by_rules=rules),
    }


def _rules_answer(parsed) -> dict[str, Any]:
    return _answer(parsed.label, 1.0, "rules", "rules", parsed.fields(), parsed, None, rules=True)


def parser_side_source(parsed) -> str | None:
    """Where the parser's side came from: its own ``side_source`` where it has one, else
    ``"stated"`` for a side with a SIDE span (parsers before ``side_source`` read sides from
    words only)."""
    source = getattr(parsed, "side_source", None)
    if source is None and parsed.side is not None:
        if any(span.label == "SIDE" for span in parsed.spans):
            source = "stated"
    return source


def side_source(
    fields: dict[str, Any], parsed, ner: dict[str, Any] | None = None, by_rules: bool = False
) -> str | None:
    """``"stated"``, ``"levels"``, ``"model"`` or None for the answer's ``fields["side"]``.

    Stated: the parser or the NER extractor read that side from a SIDE span. Levels: the answer's
    entry, targets and stop imply it. Model: neither, so the classifier's class is its only
    source. When the class came from the parser (``by_rules``) its own reading stands.
    """
    side = fields.get("side")
    if side is None:
        return None
    parser_source = parser_side_source(parsed)
    if by_rules and parser_source is not None and parsed.side == side:
        return parser_source
    if parser_source == "stated" and parsed.side == side:
        return "stated"
    if ner is not None and ner.get("side") == side:
        return "stated"
    if (
        side_from_levels(fields.get("entry"), fields.get("targets"), fields.get("stop_loss"))
        == side
    ):
        return "levels"
    return "stated" if by_rules else "model"  # a parser without side_source reads words only


def _rules_confident(parsed, text: str) -> bool:
    """Where auto mode keeps the parser's reading, and no model runs.

    - A direction for a named pair, stated ("GOLD BUY NOW" is a signal even with no level) or
      implied by the levels: on real channels the parser is right about such messages far more
      often than a classifier trained on other channels (on tests/data/channel_styles.jsonl,
      settling level-implied readings too took auto from 0.68 to 0.85 macro-F1).
    - A whole set-up (entry, target and stop) with a stated or level-implied direction, also
      when it names no pair ("Entry 4438-4433 / SL 4428 / TP1 4443": a gold room's post).
    - A set-up it read whose levels give no side (SIGNAL_NONE: the class is a comparison of
      numbers, which the parser makes exactly).
    - A result or an update ("Target 1: 5.82 ✅", "TP2 hit", "closed at"): with the demo's models
      the classifier called six of the seven results posts of channel_styles.jsonl signals,
      which took auto from 0.98 to 0.82 there.

    Everything else (no direction, chatter, questions, layouts the parser does not read) goes to
    the classifier.
    """
    from trademl.signals.parser import non_trade_cue

    if parsed.label in (SIGNAL_LONG, SIGNAL_SHORT):
        # a whole set-up needs no pair to be one (rooms for one instrument leave it out)
        return bool(parsed.pair or (parsed.entry and parsed.targets and parsed.stop_loss))
    if parsed.label == SIGNAL_NONE:
        return bool(parsed.pair and parsed.entry)
    cue = non_trade_cue(text)
    return cue is not None and cue[0] in ("RESULT", "UPDATE")


def merge_fields(
    rules: dict[str, Any], ner: dict[str, Any] | None, prefer: str = "rules"
) -> dict[str, Any]:
    """Fields from the preferred reader, the other filling the fields it left empty."""
    if ner is None:
        return dict(rules)
    first, second = (rules, ner) if prefer == "rules" else (ner, rules)
    merged = {}
    for field in SIGNAL_FIELDS:
        value = first.get(field)
        merged[field] = second.get(field) if value is None or value == [] else value
    return merged


class DeployedExtractor:
    """``eval-signals`` adapter: the deployed models in one prediction mode."""

    def __init__(self, models: DeployedSignalModels, mode: str):
        self.models, self.mode = models, mode
        self.name = f"{mode}:{models.name}"

    def predict(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        return self.models.predict(texts, mode=self.mode)


def load_deployed_extractor(
    models_root: str | os.PathLike, mode: str = "model"
) -> DeployedExtractor:
    """For ``eval-signals --extractor model|auto``: the deployed models, or an error naming the root."""
    return DeployedExtractor(DeployedSignalModels(models_root, allow_rules=False, mode=mode), mode)


def servable_text(text: str) -> str:
    """``text`` with lone surrogates (a JSON ``\\ud800`` escape, undecodable argv bytes) replaced
    by U+FFFD: they are not text any encoder accepts, and one must not cost a message its answer."""
    return _SURROGATE.sub("\ufffd", text) if not text.isascii() else text


def answer_jsonl(
    models: DeployedSignalModels,
    handle: BinaryIO | Iterable[bytes],
    batch_size: int = READ_LINES,
    to_json=None,
) -> Iterator[list[tuple[int, dict[str, Any], str | None]]]:
    """The answers to a JSON Lines stream, one batch of at most ``batch_size`` lines at a time.

    Each item is ``(line_no, answer, problem)``, one for every input line, in order: the
    :func:`to_prediction_json` of its ``text``, or for a bad line (not UTF-8, not a JSON object,
    no string ``text``, blank) ``{"line": N, "error": problem}``. Other fields are ignored.
    Only one batch is held in memory. The models run each batch :data:`MODEL_BATCH` rows at a
    time, sorted by length, so a large ``batch_size`` costs memory only, not padding. When
    ``handle`` has a ``waiting()`` method (:class:`PipeLines`) a batch is also answered as soon
    as the next line would have to wait for its writer: a live feed is answered as it comes.
    ``models`` may be any object whose ``predict(texts)`` returns one answer per text (e.g.
    :class:`trademl.sentiment.DeployedSentiment`), with ``to_json`` turning an answer into the
    printed object (default :func:`to_prediction_json`).
    """
    from trademl.signals.evaluation import iter_jsonl, text_problem

    to_json = to_json or to_prediction_json

    if batch_size < 1:
        raise ValueError(f"answer_jsonl: batch_size must be at least 1, not {batch_size}")
    waiting = getattr(handle, "waiting", None)
    pending: list[tuple[int, str | None, str | None]] = []

    def answers() -> list[tuple[int, dict[str, Any], str | None]]:
        texts = [text for _, text, _ in pending if text is not None]
        predictions = iter(models.predict(texts) if texts else ())
        out = []
        for line_no, _text, problem in pending:
            if problem is not None:
                out.append((line_no, {"line": line_no, "error": problem}, problem))
            else:
                out.append((line_no, to_json(next(predictions)), None))
        pending.clear()
        return out

    for line_no, row, problem in iter_jsonl(handle):
        problem = problem or text_problem(row)
        pending.append((line_no, None if problem else servable_text(row["text"]), problem))
        if len(pending) >= batch_size or (waiting is not None and waiting()):
            yield answers()
    if pending:
        yield answers()


class PipeLines:
    """The lines of a pipe, socket or terminal (a file descriptor), read as they arrive.

    ``waiting()`` is True when the next line is not here yet (none buffered, nothing readable
    now), so that :func:`answer_jsonl` answers what it has instead of waiting for a full batch:
    ``tail -f feed.jsonl | trademl predict --jsonl -`` answers each message as it comes, while
    ``cat big.jsonl | ...`` (a writer ahead of the models) still gets full batches.
    """

    def __init__(self, fd: int, chunk: int = 1 << 16):
        self.fd, self.chunk = fd, chunk
        self._buf, self._pos, self._eof = b"", 0, False

    def __iter__(self) -> PipeLines:
        return self

    def __next__(self) -> bytes:
        while True:
            end = self._buf.find(b"\n", self._pos)
            if end >= 0:
                line, self._pos = self._buf[self._pos : end + 1], end + 1
                return line
            if self._eof:
                line, self._buf, self._pos = self._buf[self._pos :], b"", 0
                if line:
                    return line
                raise StopIteration
            data = os.read(self.fd, self.chunk)
            self._buf, self._pos = self._buf[self._pos :] + data, 0
            self._eof = not data

    def waiting(self) -> bool:
        if self._eof or self._buf.find(b"\n", self._pos) >= 0:
            return False
        readable, _, _ = select.select([self.fd], [], [], 0)
        return not readable


def stdin_lines(stream: BinaryIO) -> BinaryIO | PipeLines:
    """``stream`` (stdin's bytes) as :func:`answer_jsonl` reads it best: a :class:`PipeLines`
    for a pipe, socket or terminal, the stream itself for a file (or anything without a file
    descriptor)."""
    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (AttributeError, OSError, ValueError):
        return stream
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode):
        return PipeLines(fd)
    return stream


def to_prediction_json(pred: dict[str, Any]) -> dict[str, Any]:
    """The `trademl predict` output shape: label, confidence, model, extractor, entities {...},
    side_source ("stated", "levels", "model" or null: see :meth:`DeployedSignalModels.predict`)."""
    return {
        "label": pred["label"],
        "confidence": pred["confidence"],
        "model": pred["model"],
        "extractor": pred["extractor"],
        "entities": {f: pred[f] for f in SIGNAL_FIELDS},
        "side_source": pred.get("side_source"),
    }
