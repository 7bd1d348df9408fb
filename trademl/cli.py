"""The `trademl` command line. Heavy libraries are imported inside each command, not here."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from pathlib import Path

from trademl.errors import TradeMLError


def _cmd_demo_data(args: argparse.Namespace) -> int:
    from trademl.demo import generate_demo_data

    summary = generate_demo_data(args.out, seed=args.seed, days=args.days)
    print(f"demo data written to {args.out}")
    for key, value in vars(summary).items():
        if not isinstance(value, dict | list | Path):
            print(f"  {key}: {value}")
    return 0


def _cmd_eval_signals(args: argparse.Namespace) -> int:
    from trademl.signals.evaluation import format_report, load_gold, score_signals
    from trademl.signals.extractors import get_extractor

    gold = load_gold(args.gold)
    root = _models_root(args) if args.extractor != "rules" else None  # rules need no models
    extractor = get_extractor(args.extractor, models_root=root)
    predictions = extractor.predict([row["text"] for row in gold])
    metrics = score_signals(gold, predictions)
    metrics["extractor"] = extractor.name
    if args.json:
        print(json.dumps(metrics, sort_keys=True))
    else:
        print(f"extractor: {extractor.name}   gold: {args.gold}")
        print(format_report(metrics))
    return 0


def _models_root(args: argparse.Namespace) -> Path:
    """The registry root: one the user named (``--models``, ``$TRADEML_MODELS``) must exist; the
    default one may be missing (nothing trained yet), which is a note on stderr."""
    from trademl.signals.extractors import resolve_models_root

    root, named = resolve_models_root(args.models)
    if root.exists() and not root.is_dir():
        raise TradeMLError(f"{root}: is not a directory (--models names a model registry folder)")
    if not root.exists():
        if named:
            source = "--models" if args.models else "$TRADEML_MODELS"
            raise TradeMLError(
                f"{root}: no such model registry (from {source}); check the path, or leave it "
                "out to use the default under $TRADEML_HOME"
            )
        if not (args.command == "eval-signals" and args.extractor == "model"):  # that one errs
            _note(args, f"no model registry at {root} yet; {_NO_MODELS[args.command]}")
    return root


_NO_MODELS = {
    "predict": "only the rule parser answers (train and deploy models with `make demo`)",
    "eval-signals": "only the rule parser can be scored",
    "models": "no models to list",
    "sentiment": "VADER alone answers (train and deploy the sentiment model with `make demo`)",
    "meme": "the text alone answers (train and deploy the meme adapter with `make demo`)",
}


def _note(args: argparse.Namespace, message: str) -> None:
    print(f"trademl {args.command}: note: {message}", file=sys.stderr)


def _cmd_predict(args: argparse.Namespace) -> int:
    from trademl.serving import servable_text, to_prediction_json

    if (args.text is None) == (args.jsonl is None):
        raise TradeMLError("predict: give either TEXT or --jsonl FILE")
    with contextlib.ExitStack() as stack:
        handle, name = _jsonl_input(args, stack)
        models = _deployed_models(args)
        if handle is None:
            pred = models.predict([servable_text(args.text)])[0]
            print(json.dumps(to_prediction_json(pred), ensure_ascii=False))
            return 0
        return _answer_lines(models, handle, name, args.batch_size)


def _deployed_models(args: argparse.Namespace):
    from trademl.serving import DeployedSignalModels

    if args.mode == "rules":  # the parser alone: no registry is read, no model loaded
        return DeployedSignalModels(args.models or ".", mode="rules")
    root = _models_root(args)
    threads = args.threads
    if threads is None and args.jsonl is not None:  # a file: every core (up to 4) at once
        threads = min(4, os.cpu_count() or 1)
    models = DeployedSignalModels(root, mode=args.mode, threads=threads)
    if models.name == "rules" and root.is_dir():
        _note(args, f"no signal models deployed under {root}; {_NO_MODELS['predict']}")
    return models


def _jsonl_input(args: argparse.Namespace, stack: contextlib.ExitStack):
    """``(handle, name)`` of ``--jsonl``: stdin for ``-``, the opened file (a bad path refused
    here, before any model loads), or ``(None, None)`` when the command got one text instead."""
    from trademl.serving import stdin_lines

    if args.jsonl == "-":
        return stdin_lines(sys.stdin.buffer), "<stdin>"
    if args.jsonl is not None:
        from trademl.signals.evaluation import open_jsonl

        return stack.enter_context(open_jsonl(args.jsonl)), args.jsonl
    return None, None


def _answer_lines(
    models, handle, name: str, batch_size: int, to_json=None, command: str = "predict"
) -> int:
    """Print one JSON line per input line; bad lines also go to stderr as ``FILE:N: problem``."""
    from trademl.serving import answer_jsonl

    batches = answer_jsonl(models, handle, batch_size=batch_size, to_json=to_json)
    return _print_answers(batches, name, command)


def _print_answers(batches, name: str, command: str) -> int:
    """Print each ``(line_no, answer, problem)`` of ``batches`` as one JSON line (bad ones also
    on stderr as ``FILE:N: problem``); exit status 1 when some line was bad."""
    bad = 0
    for batch in batches:
        for line_no, answer, problem in batch:
            if problem is not None:
                bad += 1
                print(f"{name}:{line_no}: {problem}", file=sys.stderr)
            print(json.dumps(answer, ensure_ascii=False))
        sys.stdout.flush()  # a consumer reading a pipe sees each batch as soon as it is answered
    if bad:
        print(
            f"trademl {command}: {bad} bad line(s) in {name}, answered with errors", file=sys.stderr
        )
    return 1 if bad else 0


def _cmd_sentiment(args: argparse.Namespace) -> int:
    from trademl.serving import servable_text

    if (args.text is None) == (args.jsonl is None):
        raise TradeMLError("sentiment: give either TEXT or --jsonl FILE")
    with contextlib.ExitStack() as stack:
        handle, name = _jsonl_input(args, stack)
        from trademl.sentiment.runtime import DeployedSentiment

        model = DeployedSentiment(_models_root(args), threads=args.threads)
        if model.fallback_reason:
            _note(args, f"{model.fallback_reason}; VADER alone answers")
        if handle is None:
            print(json.dumps(model.predict([servable_text(args.text)])[0], ensure_ascii=False))
            return 0
        return _answer_lines(model, handle, name, args.batch_size, dict, "sentiment")


def _cmd_meme(args: argparse.Namespace) -> int:
    from trademl.serving import servable_text

    if (args.image is None) == (args.jsonl is None):
        raise TradeMLError("meme: give either IMAGE (with --text) or --jsonl FILE")
    if args.image is not None and args.text is None:
        raise TradeMLError('meme: give the caption with --text "..." (an empty one is --text "")')
    with contextlib.ExitStack() as stack:
        handle, name = _jsonl_input(args, stack)
        from trademl.vision.runtime import DeployedMeme

        meme = DeployedMeme(_models_root(args), base=args.base)
        if handle is None:
            path, problem = meme.check(args.image)
            if problem is not None:  # refused before any model loads
                raise TradeMLError(f"{args.image}: {problem}")
        if meme.fallback_reason:
            _note(args, f"{meme.fallback_reason}; the text model alone answers")
        else:
            _note(args, f"adapter {meme.version} on base {meme.base_name}")
        if handle is None:
            answer = meme.predict([str(path)], [servable_text(args.text)])[0]
            print(json.dumps(answer, ensure_ascii=False))
            return 0
        from trademl.vision.runtime import answer_meme_jsonl

        batches = answer_meme_jsonl(meme, handle, batch_size=args.batch_size)
        return _print_answers(batches, name, "meme")


def _cmd_models(args: argparse.Namespace) -> int:
    from trademl.registry import ModelRegistry

    registry = ModelRegistry(_models_root(args))
    if args.name is not None:
        registry.require_known(args.name)  # an invalid or unknown name: say so, list the known
    if args.action == "rollback":
        if not args.name:
            raise TradeMLError(
                "models rollback: name the model, e.g. `trademl models rollback signal_classifier`"
            )
        restored = registry.rollback(args.name, reason="trademl models rollback")
        print(f"{args.name}: champion is now {restored.version} ({restored.path})")
        return 0
    for name in [args.name] if args.name is not None else registry.names():
        champion = registry.champion(name)
        for version in registry.list_versions(name):
            mark = "*" if champion and champion.version == version else " "
            print(f"{mark} {name} {version}")
    return 0


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {value!r}")
    return number


_MODELS_HELP = (
    "model registry root; one you name here or in $TRADEML_MODELS must exist (default: "
    "$TRADEML_HOME/lake/models, which may be missing before the first training: then only the "
    "rule parser answers, and a note on stderr says so)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trademl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "demo-data", help="write the seeded demo data set (exports, store, market data)"
    )
    p.add_argument(
        "--out", default=os.path.join(os.environ.get("TRADEML_HOME", "var"), "demo_data")
    )
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--days", type=int, default=4)
    p.set_defaults(func=_cmd_demo_data)

    p = sub.add_parser(
        "eval-signals", help="score signal class and entities against a gold JSONL file"
    )
    p.add_argument(
        "gold", help="gold JSONL: text, label, pair, side, entry, targets, stop_loss, leverage"
    )
    p.add_argument("--extractor", choices=("rules", "model", "auto"), default="auto")
    p.add_argument("--models", default=None, help=_MODELS_HELP)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_eval_signals)

    p = sub.add_parser(
        "predict",
        help="label a message (or a JSONL file) with the deployed models",
        description="Each answer is one JSON object: label, confidence, model (what decided the "
        "class), extractor, entities {pair, side, entry, targets, stop_loss, leverage} and "
        'side_source: "stated" when the text states the side (a SIDE span of the parser or the '
        'NER model), "levels" when the levels imply it (targets above the entry and the stop '
        'below it, or the mirror), "model" when the classifier\'s class is its only source, '
        "null when there is no side. $TRADEML_NER_BACKEND=onnx-int8|onnx-fp32|torch starts the "
        "NER extractor's forms at that one (default: ONNX INT8, then fp32, then torch).",
    )
    p.add_argument("text", nargs="?", help="one message")
    p.add_argument(
        "--jsonl",
        metavar="FILE",
        help="JSON Lines with a string `text` field (e.g. the gold format; other fields are "
        "ignored), `-` for stdin. Every input line gets exactly one output line, in order: the "
        'answer, or {"line": N, "error": "..."} for a bad line (not UTF-8, not a JSON object, '
        "no string text, or blank: blank lines are errors too, so line N out is line N in); "
        "each error also goes to stderr as FILE:N: ... Exit status 0 when every line was "
        "answered, 1 when some line was bad, 2 on a usage or fatal error",
    )
    p.add_argument(
        "--batch-size",
        type=_positive_int,
        default=1024,
        help="lines read and answered at a time (default 1024; the models run them 16 at a time, "
        "sorted by length, so this costs memory only; from a pipe, whatever has arrived is "
        "answered as soon as the next line would have to wait)",
    )
    p.add_argument(
        "--mode",
        choices=("auto", "model", "rules"),
        default="auto",
        help="auto (default): the rule parser's reading where it reads a direction (stated or "
        "implied by the levels) for a named pair, the models everywhere else; model: what the "
        "deployed models alone say; rules: the rule parser alone (no model is loaded)",
    )
    p.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        help="model batches run at once, one thread each (default: for --jsonl, every core up "
        "to 4; for one message, one)",
    )
    p.add_argument("--models", default=None, help=_MODELS_HELP)
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser(
        "sentiment",
        help="crowd sentiment of a post (or a JSONL file) from the deployed sentiment model",
        description="Each answer is one JSON object: label (bearish, neutral, bullish), score "
        "(P(bullish) - P(bearish), in [-1, 1]), confidence, probabilities, model (which answered: "
        '"ensemble:<version>:<form>" for the VADER + SetFit ensemble, "vader" when no sentiment '
        'model is deployed) and routed ("blend" where VADER and SetFit agree, "model" where '
        'SetFit alone decided, "vader" for the fallback).',
    )
    p.add_argument("text", nargs="?", help="one post")
    p.add_argument(
        "--jsonl",
        metavar="FILE",
        help="JSON Lines with a string `text` field (other fields ignored), `-` for stdin; one "
        'output line per input line, in order: the answer, or {"line": N, "error": "..."} for a '
        "bad line (also on stderr as FILE:N: ...). Exit status 0 when every line was answered, "
        "1 when some line was bad, 2 on a usage or fatal error",
    )
    p.add_argument(
        "--batch-size",
        type=_positive_int,
        default=1024,
        help="lines read and answered at a time (default 1024)",
    )
    p.add_argument("--threads", type=_positive_int, default=None, help="onnxruntime threads")
    p.add_argument("--models", default=None, help=_MODELS_HELP)
    p.set_defaults(func=_cmd_sentiment)

    p = sub.add_parser(
        "meme",
        help="mood and sarcasm of a meme (image + caption) from the deployed meme adapter",
        description="Each answer is one JSON object: label (bearish, neutral, bullish), score "
        "(in [-1, 1]: text, image and caption scores fused), confidence, sarcasm_probability, "
        "sarcastic (text and image disagree), image (the adapter's own reading), text (the "
        'sentiment model\'s), model ("llava_meme_adapter:<version>", or "text-only" when no '
        "adapter is deployed), base (the LLaVA the adapter runs on) and note. The adapter loads "
        "on first use; which base it runs on is also said on stderr.",
    )
    p.add_argument("image", nargs="?", help="the meme's image file (PNG, JPEG, WebP, ...)")
    p.add_argument("--text", default=None, help="the post's caption or text")
    p.add_argument(
        "--jsonl",
        metavar="FILE",
        help="JSON Lines with a string `text` and an optional `image` (a path, or null for a post "
        "without one), `-` for stdin; one output line per input line, in order: the answer, or "
        '{"line": N, "error": "..."} for a bad line or an image that fails its checks (missing, '
        "corrupt, truncated, too large; also on stderr as FILE:N: ...). Exit status 0 when every "
        "line was answered, 1 when some line was bad, 2 on a usage or fatal error",
    )
    p.add_argument(
        "--batch-size", type=_positive_int, default=64, help="lines answered at a time (default 64)"
    )
    p.add_argument(
        "--base",
        default=None,
        help="a local LLaVA directory to run the adapter on instead of the base it recorded",
    )
    p.add_argument("--models", default=None, help=_MODELS_HELP)
    p.set_defaults(func=_cmd_meme)

    p = sub.add_parser("models", help="list deployed model versions, or roll a champion back")
    p.add_argument("action", choices=("list", "rollback"))
    p.add_argument("name", nargs="?", help="model name, e.g. signal_classifier")
    p.add_argument("--models", default=None, help=_MODELS_HELP)
    p.set_defaults(func=_cmd_models)

    from trademl.gate import cli as gate_cli  # argparse only: the gate's runtime loads on use

    gate_cli.register(sub)
    return parser


class _CliFormatter(logging.Formatter):
    def __init__(self, command: str):
        super().__init__()
        self.command = command

    def format(self, record: logging.LogRecord) -> str:
        return f"trademl {self.command}: {record.levelname.lower()}: {record.getMessage()}"


def main(argv: list[str] | None = None) -> int:
    """Run one command. Exit status: 0 done, 1 done but some input lines were bad (``predict
    --jsonl``), 2 a usage error or an input that stopped the command (one line on stderr)."""
    args = build_parser().parse_args(argv)
    # Warnings from trademl (a deployed file that would not load, ...) go to stderr as one line.
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(_CliFormatter(args.command))
    package_log = logging.getLogger("trademl")
    package_log.addHandler(handler)
    try:
        return args.func(args)
    except (TradeMLError, ValueError) as exc:  # bad input: a clear line, no traceback
        print(f"trademl {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `trademl predict --jsonl big.jsonl | head`: the reader left
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"trademl {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    finally:
        package_log.removeHandler(handler)


if __name__ == "__main__":
    sys.exit(main())
