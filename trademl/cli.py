"""The `trademl` command line. Heavy libraries are imported inside each command, not here."""

from __future__ import annotations

import argparse
import json
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
    extractor = get_extractor(args.extractor, models_root=args.models)
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
    from trademl.signals.extractors import default_models_root

    return Path(args.models) if args.models else default_models_root()


def _cmd_predict(args: argparse.Namespace) -> int:
    from trademl.serving import DeployedSignalModels, to_prediction_json

    if (args.text is None) == (args.jsonl is None):
        raise TradeMLError("predict: give either TEXT or --jsonl FILE")
    models = DeployedSignalModels(_models_root(args))
    if args.text is not None:
        print(json.dumps(to_prediction_json(models.predict([args.text])[0]), ensure_ascii=False))
        return 0
    from trademl.signals.evaluation import load_gold

    rows = load_gold(args.jsonl)
    texts = [r["text"] for r in rows]
    for start in range(0, len(texts), args.batch_size):
        for pred in models.predict(
            texts[start : start + args.batch_size], batch_size=args.batch_size
        ):
            print(json.dumps(to_prediction_json(pred), ensure_ascii=False))
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from trademl.registry import ModelRegistry

    registry = ModelRegistry(_models_root(args))
    if args.action == "rollback":
        if not args.name:
            raise TradeMLError(
                "models rollback: name the model, e.g. `trademl models rollback signal_classifier`"
            )
        restored = registry.rollback(args.name, reason="trademl models rollback")
        print(f"{args.name}: champion is now {restored.version} ({restored.path})")
        return 0
    names = (
        [args.name]
        if args.name
        else sorted(
            p.name
            for p in registry.root.iterdir()
            if p.is_dir() and not p.name.startswith(("_", "."))
        )
        if registry.root.is_dir()
        else []
    )
    for name in names:
        champion = registry.champion(name)
        for version in registry.list_versions(name):
            mark = "*" if champion and champion.version == version else " "
            print(f"{mark} {name} {version}")
    return 0


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
    p.add_argument(
        "--models", default=None, help="model registry root (default: $TRADEML_HOME/lake/models)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_eval_signals)

    p = sub.add_parser("predict", help="label a message (or a JSONL file) with the deployed models")
    p.add_argument("text", nargs="?", help="one message")
    p.add_argument(
        "--jsonl", help="JSONL with a `text` field (e.g. the gold format): one answer a line"
    )
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument(
        "--models", default=None, help="model registry root (default: $TRADEML_HOME/lake/models)"
    )
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("models", help="list deployed model versions, or roll a champion back")
    p.add_argument("action", choices=("list", "rollback"))
    p.add_argument("name", nargs="?", help="model name, e.g. signal_classifier")
    p.add_argument(
        "--models", default=None, help="model registry root (default: $TRADEML_HOME/lake/models)"
    )
    p.set_defaults(func=_cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (
        TradeMLError,
        FileNotFoundError,
        ValueError,
    ) as exc:  # bad input: a clear line, no traceback
        print(f"trademl {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
