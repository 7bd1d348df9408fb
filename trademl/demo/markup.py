"""Message text composed piece by piece, so entity spans are known while the text is written.

A :class:`MessageText` is a list of segments; a segment is plain or formatted (bold, hashtag,
link, ...) and holds pieces, each optionally labelled with an entity label (PAIR, ENTRY, ...).
The same message renders three ways: the plain text an ingester reconstructs, Telegram Desktop's
``text`` / ``text_entities`` pair, and Discord markdown; spans are computed for each rendering.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Markdown that Discord users type for each Telegram entity type (prefix, suffix).
_DISCORD_MARKDOWN: dict[str, tuple[str, str]] = {
    "bold": ("**", "**"),
    "italic": ("*", "*"),
    "code": ("`", "`"),
    "underline": ("__", "__"),
}


@dataclass(frozen=True)
class Piece:
    """A run of text, labelled with an entity label when it is one."""

    text: str
    label: str | None = None
    #: continues the previous piece's span (``#SOL`` hashtag then plain ``/USDT`` is one PAIR)
    joined: bool = False


@dataclass(frozen=True)
class Segment:
    """Pieces sharing one Telegram formatting entity (``fmt`` None: plain text)."""

    pieces: tuple[Piece, ...]
    fmt: str | None = None
    href: str | None = None

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.pieces)


@dataclass
class MessageText:
    """A message under composition; ``add`` returns self so composers can chain."""

    segments: list[Segment] = field(default_factory=list)

    def add(
        self,
        text: str,
        label: str | None = None,
        fmt: str | None = None,
        href: str | None = None,
        *,
        joined: bool = False,
    ) -> MessageText:
        if text:
            self.segments.append(Segment((Piece(text, label, joined),), fmt, href))
        return self

    def add_formatted(self, fmt: str, *pieces: Piece | str, href: str | None = None) -> MessageText:
        """One formatted entity made of several pieces, e.g. bold ``BTC/USDT LONG``."""
        parts = tuple(p if isinstance(p, Piece) else Piece(p) for p in pieces)
        self.segments.append(Segment(parts, fmt, href))
        return self

    def extend(self, other: MessageText) -> MessageText:
        self.segments.extend(other.segments)
        return self

    @property
    def has_formatting(self) -> bool:
        return any(s.fmt for s in self.segments)

    def plain(self) -> str:
        return "".join(s.text for s in self.segments)

    def labelled(self) -> list[tuple[str, str]]:
        """(label, surface text) for each span, in text order."""
        text = self.plain()
        return [(s["label"], text[s["start"] : s["end"]]) for s in self.spans()]

    def spans(self) -> list[dict]:
        """Character spans of labelled pieces in :meth:`plain`."""
        return self._render(markdown=False)[1]

    def discord(self) -> tuple[str, list[dict]]:
        """Discord content (markdown for bold/italic/links) and the spans into it."""
        return self._render(markdown=True)

    def _render(self, *, markdown: bool) -> tuple[str, list[dict]]:
        out: list[str] = []
        spans: list[dict] = []
        pos = 0
        for seg in self.segments:
            prefix, suffix = "", ""
            if markdown and seg.fmt == "text_link":
                prefix, suffix = "[", f"]({seg.href})"
            elif markdown and seg.fmt in _DISCORD_MARKDOWN:
                prefix, suffix = _DISCORD_MARKDOWN[seg.fmt]
            out.append(prefix)
            pos += len(prefix)
            for piece in seg.pieces:
                if piece.joined and spans and spans[-1]["end"] == pos:
                    spans[-1]["end"] = pos + len(piece.text)
                elif piece.label:
                    spans.append({"start": pos, "end": pos + len(piece.text), "label": piece.label})
                out.append(piece.text)
                pos += len(piece.text)
            out.append(suffix)
            pos += len(suffix)
        return "".join(out), spans

    def telegram(self) -> tuple[str | list, list[dict]]:
        """Telegram Desktop's ``text`` (a string, a list when formatted) and ``text_entities``."""
        merged: list[tuple[str | None, str, str | None]] = []
        for seg in self.segments:
            if seg.fmt is None and merged and merged[-1][0] is None:
                merged[-1] = (None, merged[-1][1] + seg.text, None)
            else:
                merged.append((seg.fmt, seg.text, seg.href))
        entities: list[dict] = []
        for fmt, text, href in merged:
            entity = {"type": fmt or "plain", "text": text}
            if href is not None:
                entity["href"] = href
            entities.append(entity)
        if not self.has_formatting:
            return self.plain(), entities
        text_list: list = [e["text"] if e["type"] == "plain" else e for e in entities]
        return text_list, entities


def plain_from_telegram(text: str | list) -> str:
    """The text an ingester reconstructs from Telegram's ``text`` field."""
    if isinstance(text, str):
        return text
    return "".join(part if isinstance(part, str) else part["text"] for part in text)
