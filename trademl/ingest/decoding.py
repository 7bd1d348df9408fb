"""Bytes to text for the line-oriented readers (CSV, JSON Lines), repairing what is unambiguous.

Policy, the same for every ingest reader:

* An invalid UTF-8 byte sequence inside a row is replaced by U+FFFD (what ``errors="replace"``
  does) and the row counts one repair (``repaired_unicode`` in the partition's stats). A file in
  which such rows are common is not damaged UTF-8 but another encoding (cp1252, Latin-1): it is
  refused with an :class:`~trademl.errors.InputError` naming the first bad line, because repairing
  it would turn every accented letter into U+FFFD. "Common" means more than
  :data:`MAX_BAD_LINES` lines and more than one line in ten so far.
* A file that starts with a UTF-16 or UTF-32 byte-order mark is refused; a UTF-8 one is skipped.
* NUL characters are removed from texts (and count one repair): no chat message means one, and
  they break C-string consumers (PostgreSQL text, some tokenizers) downstream.
* Lone surrogates (a JSON ``\\ud800`` escape) cannot be written as UTF-8: the Parquet writer
  replaces them with U+FFFD and counts the repair (see :mod:`trademl.ingest.partitions`).
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from trademl.errors import InputError

#: Default for ``max_message_chars``: a text longer than this is quarantined, not ingested, and
#: the CSV field limit is raised to it (the csv module's own default is 131,072).
MAX_MESSAGE_CHARS = 1_000_000

#: A file with more lines than this that are not UTF-8 (and more than one in ten) is refused.
MAX_BAD_LINES = 10

_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
UTF8_BOM = b"\xef\xbb\xbf"


def check_bom(path: Path, head: bytes) -> int:
    """Bytes to skip at the start of ``path`` (a UTF-8 BOM); raise on a UTF-16/32 one."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            raise InputError(
                str(path),
                f"the file is {name} (it starts with a {name} byte-order mark), not UTF-8",
                "save or export it as UTF-8",
            )
    return len(UTF8_BOM) if head.startswith(UTF8_BOM) else 0


def strip_nul(text: str) -> tuple[str, int]:
    """``text`` without NUL characters, and 1 if any were removed (one repair)."""
    if "\x00" in text:
        return text.replace("\x00", ""), 1
    return text, 0


class Utf8Lines:
    """The physical lines of a file as text (line endings kept), for ``csv.reader`` or JSON Lines.

    Lines end at ``\\n``, ``\\r\\n`` or a lone ``\\r``, as in text mode with ``newline=""``.
    ``line_no`` is the number of the line last returned (1-based); ``repairs`` counts the lines
    whose invalid UTF-8 was replaced. ``mark()`` starts a record: ``record_start`` is its first
    line, ``record_repairs()`` the repairs since, ``record_text()`` its lines so far (kept only
    while a record is read, so memory is one record).
    """

    def __init__(self, path: Path, fh: BinaryIO):
        self.path = path
        self._lines = iter(fh)
        self._pending: list[str] = []  # lines split off one raw line, last first
        self.line_no = 0
        self.repairs = 0
        self._first_bad: tuple[int, int] | None = None
        self.record_start = 1
        self._record_repairs_at = 0
        self._record: list[str] = []
        self._keep = False
        first = next(self._lines, b"")
        self._lines = itertools.chain((first[check_bom(path, first) :],), self._lines)

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self._pending:
            line = self._pending.pop()
        else:
            raw = next(self._lines)  # StopIteration ends the file
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                line = self._decode(raw)
            if "\r" in line and not (line.endswith("\r\n") and line.count("\r") == 1):
                self._push(line)
                line = self._pending.pop()
        self.line_no += 1
        if self._keep:
            self._record.append(line)
        return line

    def _push(self, line: str) -> None:
        self._pending = self._split(line)
        self._pending.reverse()

    def mark(self, keep: bool = True) -> None:
        """The next line starts a record."""
        self.record_start = self.line_no + 1
        self._record_repairs_at = self.repairs
        if self._record:
            self._record = []
        self._keep = keep

    def record_repairs(self) -> int:
        return 1 if self.repairs > self._record_repairs_at else 0

    def record_text(self) -> str:
        return "".join(self._record)

    def _decode(self, raw: bytes) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = self.line_no + len(self._pending) + 1
            if self._first_bad is None:
                self._first_bad = (line, raw[exc.start])
            self.repairs += 1
            if self.repairs > MAX_BAD_LINES and self.repairs * 10 > line:
                problem = f"{self.repairs} of the first {line} lines are not UTF-8"
                raise self.not_utf8(problem) from None
            return raw.decode("utf-8", "replace")

    def not_utf8(self, what: str) -> InputError:
        first_line, byte = self._first_bad or (self.line_no, 0)
        return InputError(
            str(self.path),
            f"not UTF-8: {what} (first at line {first_line}: byte 0x{byte:02x})",
            "save or export the file as UTF-8",
        )

    @staticmethod
    def _split(line: str) -> list[str]:
        """Split a ``\\n``-terminated line at lone ``\\r`` line ends too."""
        if line.endswith("\r\n"):
            body, end = line[:-2], "\r\n"
        elif line.endswith("\n"):
            body, end = line[:-1], "\n"
        else:
            body, end = line, ""
        if "\r" not in body:
            return [line]
        pieces = body.split("\r")
        out = [p + "\r" for p in pieces[:-1]]
        if pieces[-1] or end:
            out.append(pieces[-1] + end)
        return out


# --- CSV records ------------------------------------------------------------------------------------

_START, _FIELD, _QUOTED, _QUOTE_IN_QUOTED = range(4)
_FIELD_END = re.compile(r"[,\r\n]")


def _scan_csv(text: str, state: int) -> tuple[bool, int]:
    """Follow the csv module's default (excel) dialect over ``text``: (record ended?, state)."""
    i, n = 0, len(text)
    while i < n:
        if state == _QUOTED:
            j = text.find('"', i)
            if j < 0:
                return False, _QUOTED
            i, state = j + 1, _QUOTE_IN_QUOTED
            continue
        c = text[i]
        if c == '"' and state in (_START, _QUOTE_IN_QUOTED):
            # An opening quote, or the second of a doubled quote inside a quoted field.
            i, state = i + 1, _QUOTED
            continue
        m = _FIELD_END.search(text, i)
        if m is None:
            return False, _FIELD
        if m.group() == ",":
            i, state = m.end(), _START
            continue
        return True, _START
    return False, state


class CsvRecord:
    """A CSV record: its fields (None when a field was over the limit), first line and repairs."""

    __slots__ = ("fields", "line", "repaired", "too_long")

    def __init__(self, fields, line: int, repaired: int, too_long: str | None = None):
        self.fields = fields
        self.line = line
        self.repaired = repaired
        self.too_long = too_long  # the record's text as far as it was read, when over the limit


def csv_records(path: Path, fh: BinaryIO, field_limit: int) -> Iterator[CsvRecord]:
    """The records of a CSV file (default dialect), each with the physical line it starts on.

    Invalid UTF-8 is repaired per :class:`Utf8Lines`. A field longer than ``field_limit`` does not
    end the file: its record comes back with ``fields=None`` and ``too_long`` set (its text cut
    at the limit), and reading resumes after the record. Blank lines are not records. Other
    ``csv.Error`` s (which the default dialect raises only on truncated quoting at the end of the
    file) raise :class:`InputError` naming the file and line.
    """
    lines = Utf8Lines(path, fh)
    reader = csv.reader(lines)
    while True:
        lines.mark()
        old = csv.field_size_limit(field_limit)
        too_long = None
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "field larger than field limit" not in str(exc):
                raise InputError(str(path), f"line {lines.record_start}: {exc}") from None
            too_long = lines.record_text()
        finally:
            csv.field_size_limit(old)
        start, repaired = lines.record_start, lines.record_repairs()
        if too_long is not None:
            # Skip the rest of the record, following the quotes as the csv module would.
            lines.mark(keep=False)
            ended, state = _scan_csv(too_long, _START)
            while not ended:
                line = next(lines, None)
                if line is None:
                    break
                ended, state = _scan_csv(line, state)
            repaired = max(repaired, lines.record_repairs())
            yield CsvRecord(None, start, repaired, too_long[:field_limit])
        elif len(fields) > 1 or (fields and fields[0].strip()):  # blank lines are no records
            yield CsvRecord(fields, start, repaired)


def partial_fields(text: str) -> list[str]:
    """The complete fields at the start of a record cut short (for its id and date)."""
    head = text[:65_536].split("\n", 1)[0]
    try:
        fields = next(csv.reader([head]))
    except (csv.Error, StopIteration):
        return []
    return fields[:-1]  # the last one is the over-long field, or cut


def json_lines(path: Path, fh: BinaryIO) -> Iterator[tuple[int, str, int]]:
    """(line number, text, repairs) for each non-blank line of a JSON Lines file."""
    lines = Utf8Lines(path, fh)
    seen = 0
    for line in lines:
        repaired, seen = (1 if lines.repairs > seen else 0), lines.repairs
        if line.strip():
            yield lines.line_no, line, repaired
