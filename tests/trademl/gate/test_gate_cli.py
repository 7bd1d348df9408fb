"""`trademl gate export` and the parser register() adds (trademl/cli.py calls it)."""

import argparse

import pytest

from trademl.gate import cli


def parser():
    p = argparse.ArgumentParser(prog="trademl")
    cli.register(p.add_subparsers(dest="command", required=True))
    return p


def test_register_adds_serve_and_export():
    args = parser().parse_args(["gate", "serve"])
    assert (args.host, args.port, args.func) == ("127.0.0.1", 8765, cli.cmd_serve)
    args = parser().parse_args(["gate", "serve", "--host", "0.0.0.0", "--port", "9000"])
    assert (args.host, args.port) == ("0.0.0.0", 9000)
    args = parser().parse_args(["gate", "export", "--lang", "go", "--out", "x"])
    assert (args.lang, args.out, args.func) == ("go", "x", cli.cmd_export)
    with pytest.raises(SystemExit):
        parser().parse_args(["gate", "export", "--lang", "rust"])
    with pytest.raises(SystemExit):
        parser().parse_args(["gate", "serve", "--port", "70000"])


@pytest.mark.parametrize(
    "lang, name, needle",
    [("c", "gate.c", "double approve_proba("), ("go", "gate.go", "func ApproveProba(")],
)
def test_export_writes_the_champion(gate_registry, tmp_path, capsys, lang, name, needle):
    root, _, version = gate_registry
    out = tmp_path / "out"
    assert (
        cli.main(["gate", "export", "--lang", lang, "--out", str(out), "--model", str(root)]) == 0
    )
    source = (out / name).read_text()
    assert needle in source and version in source
    assert capsys.readouterr().out.strip() == str(out / name)


def test_export_without_a_model_says_what_to_do(tmp_path, capsys):
    assert cli.main(["gate", "export", "--lang", "c", "--model", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "trademl gate export: error:" in err and "make demo" in err
