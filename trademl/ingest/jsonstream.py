"""Stream the items of one top-level array out of a large JSON object, in flat memory.

Telegram Desktop and DiscordChatExporter write a whole channel as one JSON object whose
``messages`` array can hold millions of items. ``json.load`` would hold all of them at once; this
reader decodes one item at a time with the C decoder (``JSONDecoder.raw_decode``) over a sliding
buffer, so memory stays flat in the number of messages.

Bytes that are not UTF-8 are replaced by U+FFFD as the file is decoded (see
:mod:`trademl.ingest.decoding`); inside a string that is a repair, counted per item, and anywhere
else it is invalid JSON, reported with its character offset. Control characters inside strings
(a raw tab, newline or NUL) are accepted: the meaning is unambiguous.
"""

from __future__ import annotations

import codecs
import json
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from trademl.errors import InputError
from trademl.ingest.decoding import check_bom

_CHUNK = 1 << 20
_WS = " \t\n\r"


class _Buffer:
    def __init__(self, path: Path):
        self.path = path
        self._fh = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self.buf = ""
        self.pos = 0
        self.consumed = 0  # characters before buf[0], for error offsets
        self.eof = False
        self.repairs: deque[int] = deque()  # character offsets of U+FFFD put in for bad bytes
        self._first = True

    def close(self) -> None:
        self._fh.close()

    def _decode(self, data: bytes, final: bool) -> str:
        try:
            return self._decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            data = exc.object  # the decoder's pending bytes + data
        self._decoder.reset()
        base = self.consumed + len(self.buf)
        parts: list[str] = []
        size = 0
        while True:
            try:
                parts.append(self._decoder.decode(data, final))
                return "".join(parts)
            except UnicodeDecodeError as exc:
                good = exc.object[: exc.start].decode("utf-8")
                parts += (good, "\ufffd")
                size += len(good)
                self.repairs.append(base + size)
                size += 1
                data = exc.object[exc.end :]
                self._decoder.reset()

    def _fill(self) -> bool:
        if self.eof:
            return False
        data = self._fh.read(_CHUNK)
        if self._first:
            self._first = False
            data = data[check_bom(self.path, data) :]
        if self.pos:
            self.consumed += self.pos
            self.buf = self.buf[self.pos :]
            self.pos = 0
        if not data:
            self.eof = True
            tail = self._decode(b"", True)  # a sequence cut by the end of the file
            self.buf += tail
            return bool(tail)
        self.buf += self._decode(data, False)
        return True

    def skip_ws(self) -> str:
        """Skip whitespace; return the next character ('' at end of file) without consuming it."""
        while True:
            buf, pos, n = self.buf, self.pos, len(self.buf)
            while pos < n and buf[pos] in _WS:
                pos += 1
            self.pos = pos
            if pos < n:
                return buf[pos]
            if not self._fill():
                return ""

    def expect(self, chars: str, what: str) -> str:
        ch = self.skip_ws()
        if ch == "" or ch not in chars:
            raise self.error(f"expected {what}, found {self.describe(ch)}")
        self.pos += 1
        return ch

    def describe(self, ch: str, offset: int | None = None) -> str:
        if ch == "":
            return "end of file (truncated?)"
        offset = self.consumed + self.pos if offset is None else offset
        if ch == "\ufffd" and offset in self.repairs:
            return "bytes that are not UTF-8"
        return repr(ch)

    def decode(self, decoder: json.JSONDecoder, what: str) -> tuple[Any, int]:
        """The next JSON value, and how many bad-byte repairs fell inside it."""
        self.skip_ws()
        while True:
            try:
                value, end = decoder.raw_decode(self.buf, self.pos)
            except (ValueError, RecursionError) as exc:
                # A value cut by the chunk boundary: read more and try again.
                at = self.consumed + getattr(exc, "pos", self.pos)
                if self._fill():
                    continue
                raise self._decode_error(exc, what, at) from None
            # A number at the very end of the buffer may continue in the next chunk.
            if end == len(self.buf) and not self.eof and self._fill():
                continue
            repaired = 0
            if self.repairs:
                start, stop = self.consumed + self.pos, self.consumed + end
                repairs = self.repairs
                while repairs and repairs[0] < start:
                    repairs.popleft()
                while repairs and repairs[0] < stop:
                    repairs.popleft()
                    repaired += 1
            self.pos = end
            return value, repaired

    def _decode_error(self, exc: Exception, what: str, at: int) -> InputError:
        if isinstance(exc, RecursionError):
            return self.error(f"{what} is nested too deeply")
        if not isinstance(exc, json.JSONDecodeError):  # e.g. an integer of 5,000 digits
            return self.error(f"invalid JSON in {what}: {exc}")
        i = at - self.consumed
        if 0 <= i < len(self.buf) and self.buf[i] == "\ufffd" and at in self.repairs:
            problem = "bytes that are not UTF-8"
        else:
            problem = exc.msg
        return InputError(str(self.path), f"invalid JSON in {what}: {problem} at character {at}")

    def error(self, problem: str) -> InputError:
        return InputError(str(self.path), f"{problem} at character {self.consumed + self.pos}")


def stream_object_array(
    path: str | Path,
    array_key: str,
    on_header: Callable[[dict[str, Any]], None] | None = None,
    *,
    with_repairs: bool = False,
) -> Iterator[Any]:
    """Yield the items of ``obj[array_key]`` where ``obj`` is the top-level JSON object in ``path``.

    Keys that come before the array are passed to ``on_header`` as a dict before the first item
    (Telegram and Discord both write the channel's name and id first). With ``with_repairs``
    each item comes as ``(item, repairs)``: how many invalid UTF-8 sequences in it were replaced.
    Raises :class:`InputError` naming the file and the character offset on a top level that is
    not an object, a missing or second array, truncated or invalid JSON, or anything but
    whitespace after the top-level object (two exports concatenated).
    """
    path = Path(path)
    try:
        reader = _Buffer(path)
    except OSError as exc:
        raise InputError(str(path), f"cannot open: {exc.strerror or exc}") from None
    decoder = json.JSONDecoder(strict=False)
    header: dict[str, Any] = {}
    found = False
    try:
        first = reader.skip_ws()
        if first != "{":
            shape = (
                "an empty file"
                if first == ""
                else f"a JSON value starting with {reader.describe(first)}"
            )
            raise reader.error(f"expected a JSON object at the top level, found {shape}")
        reader.pos += 1
        if reader.skip_ws() == "}":
            reader.pos += 1
        else:
            while True:
                key, _ = reader.decode(decoder, "an object key")
                if not isinstance(key, str):
                    raise reader.error("expected an object key")
                reader.expect(":", "':' after key")
                if key == array_key:
                    if found:
                        raise reader.error(
                            f"a second {array_key!r} array in the object (two exports merged?)"
                        )
                    found = True
                    if on_header is not None:
                        on_header(dict(header))
                    items = _stream_array(reader, decoder, array_key)
                    if with_repairs:
                        yield from items
                    else:
                        for item, _ in items:
                            yield item
                else:
                    header[key] = reader.decode(decoder, f"the value of {key!r}")[0]
                if reader.expect(",}", "',' or '}'") == "}":
                    break
        after = reader.skip_ws()
        if after != "":
            raise reader.error(
                f"data after the top-level object ({reader.describe(after)}; two exports "
                "concatenated?)"
            )
        if not found:
            raise InputError(
                str(path),
                f"no top-level {array_key!r} array (keys found: {sorted(header) or 'none'})",
                "is this the right kind of export?",
            )
    finally:
        reader.close()


def _stream_array(reader: _Buffer, decoder: json.JSONDecoder, key: str) -> Iterator[Any]:
    if reader.skip_ws() != "[":
        value, _ = reader.decode(decoder, f"the value of {key!r}")
        raise reader.error(f"{key!r} must be an array, found {type(value).__name__}")
    reader.pos += 1
    if reader.skip_ws() == "]":
        reader.pos += 1
        return
    index = 0
    while True:
        yield reader.decode(decoder, f"{key}[{index}]")
        index += 1
        if reader.expect(",]", f"',' or ']' after {key}[{index - 1}]") == "]":
            return
