"""`trademl gate serve` and `trademl gate export`: argparse wiring (trademl/cli.py calls register)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trademl.errors import TradeMLError
from trademl.registry import default_models_root


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 0-65535, not {value!r}")
    return port


def cmd_serve(args: argparse.Namespace) -> int:
    from trademl.gate.server import serve

    serve(args.model or default_models_root(), host=args.host, port=args.port)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write the champion gate (or --model's version) as C or Go source; print the path."""
    import joblib

    from trademl.gate.native import write_export
    from trademl.gate.runtime import resolve_model_file

    source = Path(args.model) if args.model else default_models_root()
    try:
        model_file, version = resolve_model_file(source)
    except FileNotFoundError as exc:
        raise TradeMLError(f"{exc} (train one with `make demo`, or pass --model)") from None
    pipeline_file = model_file.parent / "pipeline.joblib"
    if not pipeline_file.is_file():
        raise TradeMLError(
            f"{pipeline_file}: missing; the version has no fitted pipeline to export"
        )
    path = write_export(joblib.load(pipeline_file), args.lang, args.out, version)
    sys.stdout.write(f"{path}\n")
    return 0


def register(subparsers) -> None:
    """Add ``gate serve`` and ``gate export`` to the ``trademl`` command's sub-parsers."""
    gate = subparsers.add_parser(
        "gate", help="serve the trade gate over HTTP, or export it as C/Go"
    )
    gate_sub = gate.add_subparsers(dest="gate_command", required=True)
    model_help = (
        "registry root, onnx_gate version folder or model.onnx (default: $TRADEML_MODELS or "
        "$TRADEML_HOME/lake/models: its onnx_gate champion)"
    )

    p = gate_sub.add_parser(
        "serve", help="JSON over HTTP/1.1 keep-alive: POST /v1/approve, GET /health"
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (default loopback only)")
    p.add_argument("--port", type=_port, default=8765)
    p.add_argument("--model", default=None, help=model_help)
    p.set_defaults(func=cmd_serve)

    p = gate_sub.add_parser("export", help="write the gate as dependency-free C or Go source")
    p.add_argument("--lang", choices=("c", "go"), required=True)
    p.add_argument("--out", default=".", help="output folder (default: the current one)")
    p.add_argument("--model", default=None, help=model_help)
    p.set_defaults(func=cmd_export)


def main(argv: list[str] | None = None) -> int:
    """``trademl gate ...`` on its own (tests, and until trademl/cli.py calls register)."""
    parser = argparse.ArgumentParser(prog="trademl")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (TradeMLError, ValueError, OSError) as exc:
        sys.stderr.write(f"trademl gate {args.gate_command}: error: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
