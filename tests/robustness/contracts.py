"""Hostile-input contracts that every reader, parser and line-oriented command or server joins.

Real exports are messier than any fixture, and an attacker can write whatever bytes they like into
a chat. Three contracts, each a property checked with hypothesis over generated input:

* :class:`ReaderContract`: a file reader plus the ingest that writes its rows to the lake. Any
  bytes in (random, or a valid example truncated, spliced, doubled, sprinkled with NUL bytes,
  invalid UTF-8, encoded surrogates, stray commas and braces) → either an ``InputError`` that names
  the file, or rows; never another exception. Every row the reader yields is accounted for
  (``rows_in = accepted + quarantined + duplicates`` per day, plus the undated quarantine), the
  lake files hold exactly those counts, no temporary file survives success or failure, and a
  re-run into a fresh lake writes byte-identical files.
* :class:`TextContract`: a function of one text (a parser, a normaliser, a tokenizer). Any
  string, lone surrogates included → no exception, and the same answer twice.
* :class:`LineContract`: a JSON-lines command or server. Any mix of good and bad lines → exactly
  one JSON object out per line in, in order; a bad line's answer is ``{"line": N, "error": ...}``;
  the exit status is 1 iff a line was bad. A server joins by sending each line as one request
  body from its ``run`` function.

A new domain joins with a few lines::

    CONTRACTS = [ReaderContract("gate_features", "features.jsonl", read, example, ingest)]
    test_reader_any_bytes, test_reader_example = reader_contract_tests(CONTRACTS)

(the module-level names are what pytest collects). Keep ``max_examples`` modest: the whole suite
runs in ``make test``.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trademl.errors import InputError
from trademl.ingest.partitions import UNDATED, IngestStats
from trademl.lake import Lake

SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # CI is reproducible; a failure prints the input that caused it
)

#: Byte sequences real exports and hostile senders produce: NUL, invalid UTF-8, a UTF-8-encoded
#: lone surrogate, a JSON surrogate escape, a BOM mid-file, CSV and JSON structure characters.
NASTY_BYTES = (
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"\\ud800",
    b"\\u0000",
    b"\xef\xbb\xbf",
    b",",
    b'"',
    b"\n",
    b"\r",
    b"{",
    b"}",
    b"[",
    b"]",
    b"62,000",
    b"\xf0\x9f\x9a\x80",
    b"1e999",
    b"NaN",
    b"-1",
)


# --- generated input ----------------------------------------------------------------------------


@st.composite
def hostile_bytes(draw, example: bytes) -> bytes:
    """Random bytes, or ``example`` put through one to four mutations."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=400))
    data = bytearray(example)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(("truncate", "delete", "insert", "replace", "double", "nasty")))
        n = len(data)
        at = draw(st.integers(0, n))
        if op == "truncate":
            del data[at:]
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 40))]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=12))
        elif op == "replace" and n:
            data[min(at, n - 1)] = draw(st.integers(0, 255))
        elif op == "double":
            data += bytes(data)  # two exports concatenated, or a file written twice
        else:
            data[at:at] = draw(st.sampled_from(NASTY_BYTES))
    return bytes(data)


#: Text with every kind of character: emoji, RTL, combining marks, control characters, and lone
#: surrogates (which a JSON ``\\ud800`` escape produces and UTF-8 cannot encode).
any_text = st.text(alphabet=st.characters(codec=None), max_size=300)


def signal_like_text(examples: Sequence[str]) -> st.SearchStrategy[str]:
    """Real-looking messages with characters and numbers spliced in, or arbitrary text."""

    @st.composite
    def mutate(draw) -> str:
        text = draw(st.sampled_from(list(examples)))
        for _ in range(draw(st.integers(0, 4))):
            at = draw(st.integers(0, len(text)))
            piece = draw(
                st.one_of(
                    st.sampled_from(
                        ["\x00", "\ud800", "✅", "📈", " ", "\n", ",", ".", "-", "x", "k", "e9"]
                    ),
                    st.from_regex(r"[0-9]{1,9}([.,][0-9]{1,8})?", fullmatch=True),
                    any_text.map(lambda s: s[:8]),
                )
            )
            text = text[:at] + piece + text[at:]
        return text

    return st.one_of(mutate(), any_text)


# --- readers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReaderContract:
    """A reader under the contract.

    Attributes:
        name: test id, e.g. ``"telegram"``.
        filename: the name the bytes are written under (readers may look at it).
        read: ``read(path)`` yields records or ``Quarantined`` rows; file-level trouble raises
            ``InputError`` naming the file.
        example: one well-formed file, the seed of most generated inputs.
        ingest: ``ingest(rows, lake)`` writes the rows to the lake and returns ``IngestStats``;
            ``None`` checks the reader alone.
        example_rows: how many rows ``example`` holds, when every one of them must be accounted
            for (a reader that silently skips a row fails).
    """

    name: str
    filename: str
    read: Callable[[Path], Iterable[Any]]
    example: bytes
    ingest: Callable[[Iterable[Any], Lake], IngestStats] | None = None
    example_rows: int | None = None


class _Counted:
    def __init__(self, rows: Iterable[Any]):
        self._rows = rows
        self.n = 0

    def __iter__(self) -> Iterator[Any]:
        for row in self._rows:
            self.n += 1
            yield row


def rows_accounted(stats: IngestStats) -> int:
    """Rows an ingest explains: each day's ``rows_in``, the undated quarantine, other days'
    rows it was asked not to write, and rows a reader counted as skipped (service messages)."""
    skipped = sum(
        v for k, v in vars(stats).items() if k.startswith("skipped") and isinstance(v, int)
    )
    return sum(p.rows_in for p in stats.partitions.values()) + stats.undated_quarantined + skipped


def _leftovers(root: Path) -> list[str]:
    """Temporary files (``.name...tmp``, hidden staging files) left under ``root``."""
    if not root.exists():
        return []
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and (p.name.startswith(".") or p.name.endswith(".tmp"))
    )


def _tree(root: Path) -> dict[str, bytes]:
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _parquet_rows(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows if path.exists() else 0


def _run_once(contract: ReaderContract, path: Path, root: Path) -> tuple[str, Any]:
    counted = _Counted(contract.read(path))
    try:
        if contract.ingest is None:
            rows = list(counted)
            return "rows", len(rows)
        stats = contract.ingest(counted, Lake(root))
    except InputError as exc:
        message = str(exc)
        assert path.name in message, f"InputError does not name the file: {message!r}"
        assert not _leftovers(root), f"temporary files left after an error: {_leftovers(root)}"
        return "error", message
    if contract.ingest is None:  # pragma: no cover - returned above
        return "rows", counted.n
    assert not _leftovers(root), f"temporary files left: {_leftovers(root)}"
    assert rows_accounted(stats) == counted.n, (
        f"{counted.n} rows read but {rows_accounted(stats)} accounted for: {stats}"
    )
    lake = Lake(root)
    for asset_dir in (root / "raw").glob("*"):
        asset = asset_dir.name
        for part, pstats in stats.partitions.items():
            assert pstats.rows_in == pstats.accepted + pstats.quarantined + pstats.duplicates, (
                f"{part}: {pstats}"
            )
            assert _parquet_rows(lake.raw(asset, part)) == pstats.accepted, part
            assert _parquet_rows(lake.quarantine(asset, part)) == pstats.quarantined, part
        assert _parquet_rows(lake.quarantine(asset, UNDATED)) == stats.undated_quarantined
    return "ingested", counted.n


def check_reader(contract: ReaderContract, data: bytes) -> tuple[str, Any]:
    """Run the contract on ``data`` twice (two fresh lakes); return the outcome of the first."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "inbox" / contract.filename
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        first = _run_once(contract, path, folder / "lake1")
        second = _run_once(contract, path, folder / "lake2")
        assert first == second, f"a re-run differs: {first} vs {second}"
        assert _tree(folder / "lake1") == _tree(folder / "lake2"), "a re-run is not byte-identical"
        return first


def reader_contract_tests(contracts: Sequence[ReaderContract], max_examples: int = 40):
    """Two tests over ``contracts``: any bytes, and the unmutated example fully accounted for."""
    ids = [c.name for c in contracts]

    @pytest.mark.parametrize("contract", contracts, ids=ids)
    @settings(SETTINGS, max_examples=max_examples)
    @given(data=st.data())
    def test_reader_any_bytes(contract: ReaderContract, data: st.DataObject) -> None:
        check_reader(contract, data.draw(hostile_bytes(contract.example), label="file bytes"))

    @pytest.mark.parametrize("contract", contracts, ids=ids)
    def test_reader_example(contract: ReaderContract) -> None:
        outcome, rows = check_reader(contract, contract.example)
        assert outcome != "error", f"the valid example was refused: {rows}"
        if contract.example_rows is not None:
            assert rows == contract.example_rows

    return test_reader_any_bytes, test_reader_example


# --- text functions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TextContract:
    """A function of one text: never raises, answers the same twice (``key`` makes it comparable),
    and its answer passes ``check(text, answer)`` (invariants such as spans inside the text)."""

    name: str
    fn: Callable[[str], Any]
    examples: Sequence[str] = ("BTCUSDT LONG entry 65000 tp 66000 sl 64000",)
    key: Callable[[Any], Any] = repr
    check: Callable[[str, Any], None] | None = None


def text_contract_tests(contracts: Sequence[TextContract], max_examples: int = 150):
    ids = [c.name for c in contracts]

    @pytest.mark.parametrize("contract", contracts, ids=ids)
    @settings(SETTINGS, max_examples=max_examples)
    @given(data=st.data())
    def test_text_any_input(contract: TextContract, data: st.DataObject) -> None:
        text = data.draw(signal_like_text(contract.examples), label="text")
        first = contract.fn(text)
        assert contract.key(contract.fn(text)) == contract.key(first)
        if contract.check is not None:
            contract.check(text, first)

    return test_text_any_input


# --- JSON-lines commands and servers ------------------------------------------------------------


@dataclass(frozen=True)
class LineContract:
    """A command or server that answers each JSON line of its input.

    Attributes:
        run: ``run(data) -> (stdout_lines, exit_status)`` for the input file ``data``.
        good_line: a strategy of lines that must be answered without error.
    """

    name: str
    run: Callable[[bytes], tuple[list[str], int]]
    good_line: st.SearchStrategy[bytes] = st.builds(
        lambda text, extra: json.dumps({"text": text, **extra}).encode(),
        st.text(min_size=1, max_size=80).filter(
            lambda s: s.strip() and not any(0xD800 <= ord(c) <= 0xDFFF for c in s)
        ),
        st.dictionaries(
            st.sampled_from(["label", "id", "pair", "side", "note"]),
            st.one_of(st.none(), st.integers(), st.text(max_size=5)),
            max_size=2,
        ),
    )


#: Lines that must be answered with an error object: not JSON, not an object, no text, a text of
#: the wrong type, invalid UTF-8, nothing at all.
BAD_LINES = st.one_of(
    st.sampled_from(
        [
            b"",
            b"   ",
            b"not json",
            b"{",
            b"[1, 2]",
            b"42",
            b'"just a string"',
            b"null",
            b"{}",
            b'{"txt": "BTC long"}',
            b'{"text": 5}',
            b'{"text": null}',
            b'{"text": ["a"]}',
            b'{"text": {"a": 1}}',
            b'{"text": "ok"} trailing',
            b'\xff\xfe{"text": "BTC"}',
            b'{"text": "BTC \xc3 long"}',
        ]
    ),
    st.binary(max_size=30).filter(lambda b: b"\n" not in b and b"\r" not in b),
)


def _is_good(line: bytes) -> bool | None:
    """True/False when the line's fate is certain, None when either answer is acceptable."""
    if line.startswith(b"\xef\xbb\xbf"):
        return None  # a BOM: accepted at the start of a file, refused or accepted elsewhere
    try:
        value = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return False
    if not isinstance(value, dict) or not isinstance(value.get("text"), str):
        return False
    text = value["text"]
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        return None  # a lone surrogate: repaired or refused, but answered
    return bool(text.strip()) or None


def line_contract_tests(contracts: Sequence[LineContract], max_examples: int = 30):
    ids = [c.name for c in contracts]

    @pytest.mark.parametrize("contract", contracts, ids=ids)
    @settings(SETTINGS, max_examples=max_examples)
    @given(data=st.data())
    def test_one_answer_per_line(contract: LineContract, data: st.DataObject) -> None:
        lines = data.draw(
            st.lists(st.one_of(contract.good_line, BAD_LINES), min_size=1, max_size=12),
            label="lines",
        )
        blob = b"\n".join(lines) + b"\n"
        out, status = contract.run(blob)
        assert len(out) == len(lines), f"{len(lines)} lines in, {len(out)} out: {out}"
        any_bad = False
        for number, (line, answer) in enumerate(zip(lines, out, strict=True), start=1):
            obj = json.loads(answer)
            assert isinstance(obj, dict), answer
            good = _is_good(line)
            is_error = "error" in obj
            if is_error:
                assert obj.get("line") == number, f"error for line {number} says {obj}"
            if good is True:
                assert not is_error, f"line {number} {line!r} refused: {obj}"
            elif good is False:
                assert is_error, f"line {number} {line!r} answered: {obj}"
            any_bad |= is_error
        assert status == (1 if any_bad else 0), f"exit status {status}, bad lines: {any_bad}"

    return test_one_answer_per_line
