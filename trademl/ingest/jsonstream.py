"""Stream the items of one top-level array out of a large JSON object, in flat memory.

Telegram Desktop and DiscordChatExporter write a whole channel as one JSON object whose
``messages`` array can hold millions of items. ``json.load`` would hold all of them at once; this
reader decodes one item at a time with the C decoder (``JSONDecoder.raw_decode``) over a sliding
buffer, so memory stays flat in the number of messages.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from trademl.errors import InputError

_CHUNK = 1 << 20
_WS = " \t\n\r"


class _Buffer:
    def __init__(self, path: Path):
        self.path = path
        self._fh = open(path, encoding="utf-8-sig")  # noqa: SIM115 - closed by close()
        self.buf = ""
        self.pos = 0
        self.consumed = 0  # characters before buf[0], for error offsets
        self.eof = False

    def close(self) -> None:
        self._fh.close()

    def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = self._fh.read(_CHUNK)
        if not chunk:
            self.eof = True
            return False
        if self.pos:
            self.consumed += self.pos
            self.buf = self.buf[self.pos :]
            self.pos = 0
        self.buf += chunk
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
            found = "end of file (truncated?)" if ch == "" else repr(ch)
            raise self.error(f"expected {what}, found {found}")
        self.pos += 1
        return ch

    def decode(self, decoder: json.JSONDecoder, what: str) -> Any:
        self.skip_ws()
        while True:
            try:
                value, end = decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                # A value cut by the chunk boundary: read more and try again.
                if self._fill():
                    continue
                raise self.error(f"invalid JSON in {what}: {exc.msg}") from None
            # A number at the very end of the buffer may continue in the next chunk.
            if end == len(self.buf) and not self.eof and self._fill():
                continue
            self.pos = end
            return value

    def error(self, problem: str) -> InputError:
        return InputError(str(self.path), f"{problem} at character {self.consumed + self.pos}")


def stream_object_array(
    path: str | Path,
    array_key: str,
    on_header: Callable[[dict[str, Any]], None] | None = None,
) -> Iterator[Any]:
    """Yield the items of ``obj[array_key]`` where ``obj`` is the top-level JSON object in ``path``.

    Keys that come before the array are passed to ``on_header`` as a dict before the first item
    (Telegram and Discord both write the channel's name and id first). Raises :class:`InputError`
    naming the file on a top level that is not an object, a missing array, or truncated JSON.
    """
    path = Path(path)
    try:
        reader = _Buffer(path)
    except OSError as exc:
        raise InputError(str(path), f"cannot open: {exc.strerror or exc}") from None
    decoder = json.JSONDecoder()
    header: dict[str, Any] = {}
    found = False
    try:
        first = reader.skip_ws()
        if first != "{":
            shape = "an empty file" if first == "" else f"a JSON value starting with {first!r}"
            raise reader.error(f"expected a JSON object at the top level, found {shape}")
        reader.pos += 1
        if reader.skip_ws() == "}":
            reader.pos += 1
        else:
            while True:
                key = reader.decode(decoder, "an object key")
                if not isinstance(key, str):
                    raise reader.error("expected an object key")
                reader.expect(":", "':' after key")
                if key == array_key and not found:
                    found = True
                    if on_header is not None:
                        on_header(dict(header))
                    yield from _stream_array(reader, decoder, array_key)
                else:
                    header[key] = reader.decode(decoder, f"the value of {key!r}")
                if reader.expect(",}", "',' or '}'") == "}":
                    break
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
        value = reader.decode(decoder, f"the value of {key!r}")
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
