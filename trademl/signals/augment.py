"""Training-time counterfactual augmentation for the signal classifier: structure over keywords.

A classifier fine-tuned on channel posts learns shortcuts: "short" anywhere means SHORT, "🎯" means a
signal, a "Target 1: 5.82" line means a new call. This module rewrites training rows so that the
shortcuts stop paying and the structure (side word AND levels, ticks, where a word sits) does:

* ``flip``: the side words swapped (long↔short, buy↔sell, 🟢↔🔴, лонг↔шорт, compra↔venta ...)
  and the targets and stop mirrored about the entry: the label flips with them.
* ``unsided``: the side words (and directional emoji) removed, the levels kept: the label is what
  the levels imply (:func:`trademl.signals.levels.side_from_levels`), SIGNAL_NONE if nothing.
* ``numbers``: every level rescaled (another coin's price range): the label stays.
* ``terse``: the pair and the side word alone ("GOLD BUY NOW"): an instant call, the label stays.
* ``boilerplate``: a channel's boilerplate line (disclaimer, "Expected duration: Short and medium
  term", referral link, VIP ad) inserted into a row of any class: the label stays.
* ``confounder``: a direction word that is not a side ("short squeeze", "long-term hold", "longs
  liquidated", "buy the rumour") added to a row: the label stays.
* ``layout``: emoji stripped, line breaks removed or doubled, or lines opened with a bullet
  mark (✅ 🔹 👉 ...): the label stays.
* ``reorder``: a multi-line set-up's level lines in another order (the stop before the targets,
  the entry last): channels list them in any order, and the label stays.
* ``pips``: the stop and targets of a set-up with a stated side written as distances ("SL 30
  pips", "TP 60 points"), as FX rooms post them: the levels no longer imply a direction, the
  stated side still gives it, the label stays.
* ``keywords``: the stop's and the targets' names spelt another way ("SL" / "Stop loss" /
  "S/L", "TP" / "Take profit" / "Target"), so no level order is learnt with one spelling only.
* ``truncate``: a stated set-up cut to its pair, side and entry (targets "to follow"): the side
  still gives the class; without it a missing target reads as SIGNAL_NONE.
* ``prose``: a stated set-up written as one sentence ("We are buying EURUSD at 1.0830 with a
  stop at 1.0800, target 1.0890"): the label stays.
* ``result``: a set-up's targets ticked (✅ / "hit" / "reached" after the target numbers, or a
  "TP1 hit" / "all targets achieved" / "closed at" line): the same layout is now a results post,
  NON_SIGNAL. Without it the model learns that "levels under a pair" means a set-up and calls
  results posts SIGNAL_NONE.

Counterfactuals are built only from rows the rule parser reads the same way as their label (so the
levels it found are the ones the label rests on) and are kept only where the parser, re-reading
the rewritten text, agrees with the new label: a rewrite that garbles a message is dropped, never
trained on. The same augmentation runs on a desk's own labelled rows, not only on the demo's.

Written here rather than taken from nlpaug/TextAttack: those perturb words for robustness (synonyms,
typos) but know nothing of trading levels, and a label-flipping counterfactual needs the parser's
reading of which number is the entry, the target and the stop.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from trademl.labels import NON_SIGNAL, SIGNAL_LONG, SIGNAL_NONE, SIGNAL_SHORT
from trademl.signals.datasets import text_key
from trademl.signals.levels import SIDE_LABEL, side_from_levels

__all__ = ["AugmentConfig", "AugmentStats", "augment_rows", "augment_training_table"]

_FLIP_LABEL = {SIGNAL_LONG: SIGNAL_SHORT, SIGNAL_SHORT: SIGNAL_LONG}

# Side words and their mirror, matched case-insensitively as whole words; "long term",
# "short-term", "short squeeze", "long run" are not sides and are never touched.
_SIDE_PAIRS = (
    ("long", "short"),
    ("longs", "shorts"),
    ("buy", "sell"),
    ("buying", "selling"),
    ("bullish", "bearish"),
    ("longing", "shorting"),
    ("лонг", "шорт"),
    ("покупка", "продажа"),
    ("купить", "продать"),
    ("compra", "venta"),
    ("comprar", "vender"),
)
_SWAP = {a: b for a, b in _SIDE_PAIRS} | {b: a for a, b in _SIDE_PAIRS}
_NOT_SIDE_AFTER = r"(?![\s-]*(?:term|time|run|squeeze|liquidat|stop\s*los))"
_SIDE_RE = re.compile(
    r"(?<![^\W\d_])(" + "|".join(sorted(map(re.escape, _SWAP), key=len, reverse=True)) + r")"
    r"(?![^\W\d_])" + _NOT_SIDE_AFTER,
    re.IGNORECASE,
)
_EMOJI_SWAP = {
    "🟢": "🔴",
    "🔴": "🟢",
    "📈": "📉",
    "📉": "📈",
    "⬆": "⬇",
    "⬇": "⬆",
    "↗": "↘",
    "↘": "↗",
    "🔼": "🔽",
    "🔽": "🔼",
    "🐂": "🐻",
    "🐻": "🐂",
}
_ROCKET = re.compile("🚀")
_DIRECTIONAL_EMOJI = re.compile("|".join(map(re.escape, [*_EMOJI_SWAP, "🚀"])))
_EMOJI = re.compile(
    "[\U0001f300-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u2190-\u21ff\ufe0f\u200d\u20e3]"
)
_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")

#: Lines that channels paste into every kind of post. Written for this project.
BOILERPLATE = (
    "Expected duration: Short and medium term",
    "Expected duration: short term",
    "Expected duration: mid to long term",
    "⏳ Duration: long term",
    "Not financial advice. DYOR.",
    "⚠️ Disclaimer: trading is risky, never invest more than you can afford to lose.",
    "Register on our partner exchange: https://partner.example/ref/8841",
    "🎁 Join VIP: t.me/example_vip_room",
    "Use 2-3% of your portfolio per trade",
    "Follow us on X for more updates",
    "Risk management is key 🔑",
    "#crypto #trading #signals",
    "Powered by the analyst team",
    "Short-term outlook only, manage your risk",
    "Long-term investors: this is not for you",
)

#: Direction words in sentences that state no trade. Written for this project.
CONFOUNDERS = (
    "short squeeze incoming?",
    "longs liquidated again lol",
    "long-term hold, not a trade",
    "buy the rumour, sell the news",
    "shorts got rekt today",
    "short term pain, long term gain",
    "funding flipped, longs paying shorts",
    "sell in May and go away?",
    "bulls vs bears, who wins this week",
    "I am not selling, long term hodler",
)


@dataclass(frozen=True)
class AugmentConfig:
    """How much and what to add; all recorded in the model's metadata."""

    share: float = 0.35  # augmented rows as a share of the original training rows
    seed: int = 13
    weights: dict[str, float] = field(
        default_factory=lambda: {
            "flip": 0.14,
            "unsided": 0.10,
            "numbers": 0.05,
            "terse": 0.06,
            "boilerplate": 0.08,
            "confounder": 0.07,
            "layout": 0.08,
            "result": 0.10,
            "reorder": 0.10,
            "pips": 0.04,
            "keywords": 0.06,
            "truncate": 0.06,
            "prose": 0.06,
        }
    )
    # chance of a boilerplate / layout / numbers / reorder / keywords pass on top
    second_transform_p: float = 0.35


@dataclass
class AugmentStats:
    added: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)
    label_of_added: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": dict(self.added),
            "rejected": dict(self.rejected),
            "label_of_added": dict(self.label_of_added),
            "n_added": int(sum(self.added.values())),
        }


# --------------------------------------------------------------------------- text operations


def _case_like(word: str, model: str) -> str:
    if model.isupper():
        return word.upper()
    if model[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def swap_sides(text: str) -> str:
    """Every side word and directional emoji replaced by its mirror (rockets removed)."""

    def word(m: re.Match) -> str:
        w = m.group(1)
        return _case_like(_SWAP[w.lower()], w)

    out = _SIDE_RE.sub(word, text)
    out = "".join(_EMOJI_SWAP.get(c, c) for c in out)
    return _ROCKET.sub("", out)


def strip_sides(text: str) -> str:
    """Side words and directional emoji removed; lines emptied by it dropped."""
    out = _SIDE_RE.sub("", text)
    out = _DIRECTIONAL_EMOJI.sub("", out)
    out = re.sub(r"\(\s*\)|\[\s*\]", "", out)
    lines = [re.sub(r"[ \t]{2,}", " ", ln).strip() for ln in out.split("\n")]
    kept = [ln for ln in lines if ln and re.search(r"[\w\d]", ln) or not ln]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()


def _surface_decimals(surface: str) -> int:
    return len(surface.rsplit(".", 1)[1]) if "." in surface else 0


def _format_like(value: float, surface: str, decimals: int | None = None) -> str:
    decimals = _surface_decimals(surface) if decimals is None else decimals
    thousands = "," in surface
    text = f"{value:,.{decimals}f}" if thousands else f"{value:.{decimals}f}"
    return text


def _replace_spans(text: str, edits: list[tuple[int, int, str]]) -> str:
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _value(surface: str) -> float | None:
    try:
        return float(surface.replace(",", ""))
    except ValueError:
        return None


def _level_spans(text: str, parsed: Any) -> dict[str, list[tuple[int, int, float]]]:
    out: dict[str, list[tuple[int, int, float]]] = {"ENTRY": [], "TARGET": [], "STOP_LOSS": []}
    for span in parsed.spans:
        if span.label in out:
            v = _value(text[span.start : span.end])
            if v is not None:
                out[span.label].append((span.start, span.end, v))
    return out


def mirror_levels(text: str, parsed: Any) -> str | None:
    """Targets and stop reflected about the entry's midpoint; None if a level would go ≤ 0 or the
    parser's spans do not carry the levels."""
    spans = _level_spans(text, parsed)
    if not spans["ENTRY"] or not (spans["TARGET"] or spans["STOP_LOSS"]):
        return None
    values = [v for _, _, v in spans["ENTRY"]]
    ref = (min(values) + max(values)) / 2
    edits = []
    for start, end, v in spans["TARGET"] + spans["STOP_LOSS"]:
        new = 2 * ref - v
        if new <= 0:
            return None
        edits.append((start, end, _format_like(new, text[start:end])))
    return _replace_spans(text, edits)


def rescale_levels(text: str, parsed: Any, rng: random.Random) -> str | None:
    """Every level multiplied by one factor (another instrument's price range)."""
    spans = _level_spans(text, parsed)
    levels = spans["ENTRY"] + spans["TARGET"] + spans["STOP_LOSS"]
    if not levels:
        return None
    factor = rng.choice((0.001, 0.01, 0.1, 0.5, 2.0, 10.0, 100.0)) * rng.uniform(0.8, 1.25)
    edits = []
    for start, end, v in levels:
        surface = text[start:end]
        new = v * factor
        digits = len(surface.replace(",", "").replace(".", "").lstrip("0")) or 1
        magnitude = len(str(int(new))) if new >= 1 else 0
        decimals = max(0, digits - magnitude) if new >= 1 else max(2, digits + 2)
        decimals = min(decimals, 8)
        edits.append((start, end, _format_like(new, "1.0" if decimals else "1", decimals)))
    return _replace_spans(text, edits)


def _insert_line(text: str, line: str, rng: random.Random) -> str:
    lines = text.split("\n")
    at = rng.choice((0, len(lines), len(lines), rng.randint(0, len(lines))))
    lines.insert(at, line)
    return "\n".join(lines)


#: Marks channels open lines with, as bullets. Ticks are among them: "✅ Entry now" opens a set-up
#: line, where "TP1 1.0900 ✅" closes a results one.
_BULLETS = ("✅", "✔️", "☑️", "🔹", "🔸", "📍", "👉", "💎", "⚡", "➡️", "▪️", "🔰", "⭐")
_TICK_BULLETS = frozenset(("✅", "✔️", "☑️"))


def relayout(text: str, rng: random.Random, label: str | None = None) -> str:
    """The layout changed, not the reading: emoji stripped, the lines joined or spaced, or each
    line opened with one bullet mark (never a tick on a NON_SIGNAL row: a results post's tick
    must stay the only one)."""
    kind = rng.choice(("strip_emoji", "one_line", "double_breaks", "bullets", "bullets"))
    if kind == "strip_emoji":
        out = _EMOJI.sub("", text)
    elif kind == "bullets":
        marks = [b for b in _BULLETS if label != NON_SIGNAL or b not in _TICK_BULLETS]
        mark = rng.choice(marks)
        out = "\n".join(
            f"{mark} {line}" if line.strip() and rng.random() < 0.8 else line
            for line in text.split("\n")
        )
    elif kind == "one_line":
        out = re.sub(r"\s*\n\s*", rng.choice((" ", " | ", ", ")), text)
    else:
        out = text.replace("\n", "\n\n")
    out = re.sub(r"[ \t]{2,}", " ", out).strip()
    return out


# --------------------------------------------------------------------------- per-row transforms


def _parse(text: str):
    from trademl.signals.parser import parse_signal

    return parse_signal(text)


def _levels_of(parsed: Any) -> tuple[list[float], list[float], float | None]:
    return list(parsed.entry), list(parsed.targets), parsed.stop_loss


def _stated(parsed: Any) -> bool:
    return any(s.label == "SIDE" for s in parsed.spans)


def _counterfactual_source(text: str, label: str):
    """The parser's reading of a LONG/SHORT row whose side is stated and whose levels agree."""
    if label not in _FLIP_LABEL:
        return None
    parsed = _parse(text)
    if parsed.label != label or not _stated(parsed):
        return None
    side = {SIGNAL_LONG: "LONG", SIGNAL_SHORT: "SHORT"}[label]
    if side_from_levels(*_levels_of(parsed)) != side:
        return None
    return parsed


def _flip(text: str, label: str, rng: random.Random) -> tuple[str, str] | None:
    parsed = _counterfactual_source(text, label)
    if parsed is None:
        return None
    mirrored = mirror_levels(text, parsed)
    if mirrored is None:
        return None
    new_text, new_label = swap_sides(mirrored), _FLIP_LABEL[label]
    return (new_text, new_label) if _parse(new_text).label == new_label else None


def _unsided(text: str, label: str, rng: random.Random) -> tuple[str, str] | None:
    parsed = _counterfactual_source(text, label)
    if parsed is None:
        return None
    new_text = strip_sides(text)
    reread = _parse(new_text)
    if _stated(reread):
        return None  # a side word the strip did not know survives
    side = side_from_levels(*_levels_of(reread))
    new_label = SIDE_LABEL.get(side, SIGNAL_NONE) if reread.entry else None
    if new_label is None or reread.label != new_label:
        return None
    return new_text, new_label


def _numbers(text: str, label: str, rng: random.Random) -> tuple[str, str] | None:
    if label == NON_SIGNAL:
        return None
    parsed = _parse(text)
    if parsed.label != label:
        return None
    new_text = rescale_levels(text, parsed, rng)
    if new_text is None or _parse(new_text).label != label:
        return None
    return new_text, label


def _terse(text: str, label: str, rng: random.Random) -> tuple[str, str] | None:
    """The call alone, as instant-order rooms post it: "GOLD BUY NOW", "sell #ETH now"."""
    parsed = _counterfactual_source(text, label)
    if parsed is None:
        return None
    pair = next((text[s.start : s.end] for s in parsed.spans if s.label == "PAIR"), None)
    side = next((text[s.start : s.end] for s in parsed.spans if s.label == "SIDE"), None)
    if not pair or not side:
        return None
    tail = rng.choice(("now", "NOW", "", "now 🔥", "at market", "here"))
    words = [pair, side] if rng.random() < 0.5 else [side, pair]
    new_text = " ".join([*words, tail]).strip()
    if rng.random() < 0.3:
        new_text = new_text.upper()
    return (new_text, label) if _parse(new_text).label == label else None


def _boilerplate(text: str, label: str, rng: random.Random) -> tuple[str, str] | None:
    return _insert_line(text, rng.choice(BOILERPLATE), rng), label


def _confounder(text: str, label: str, rng: random.Random) -> tuple[str, str] | None:
    line = rng.choice(CONFOUNDERS)
    if label == NON_SIGNAL:
        return (rng.choice((f"{text} {line}", f"{line} {text}", f"{text}\n{line}")), label)
    return _insert_line(text, line, rng), label


def _layout(text: str, label: str, rng: random.Random) -> tuple[str, str] | None:
    new = relayout(text, rng, label)
    if not new or new == text or _parse(new).label != _parse(text).label:
        return None  # a bullet read as a tick (or a join read as one level): not the same post
    return new, label


def _parsed_levels(text: str) -> tuple[list[float], list[float], float | None]:
    return _levels_of(_parse(text))


def _same_reading(levels: tuple, new_text: str, label: str) -> tuple[str, str] | None:
    """``(new_text, label)`` if the parser reads the rewrite with the same class and levels."""
    reread = _parse(new_text)
    if reread.label != label or _levels_of(reread) != levels:
        return None
    return new_text, label


def _reorder(text: str, label: str, rng: random.Random) -> tuple[str, str] | None:
    """The set-up's lines that carry its levels in another order; the other lines stay put."""
    if label == NON_SIGNAL or "\n" not in text:
        return None
    parsed = _parse(text)
    if parsed.label != label:
        return None
    lines = text.split("\n")
    starts, at = [], 0
    for line in lines:
        starts.append(at)
        at += len(line) + 1
    kind_of: dict[int, str] = {}
    fixed: set[int] = set()  # a line naming the pair or the side opens the post: it stays
    for span in parsed.spans:
        i = max(k for k, st in enumerate(starts) if st <= span.start)
        if span.label in ("ENTRY", "TARGET", "STOP_LOSS"):
            kind_of.setdefault(i, span.label)
        elif span.label in ("PAIR", "SIDE"):
            fixed.add(i)
    slots = sorted(set(kind_of) - fixed)
    if len(slots) < 2:
        return None
    level_lines = [lines[i] for i in slots]
    if rng.random() < 0.5:  # the stop first, then the entry, then the targets
        order = sorted(slots, key=lambda i: (kind_of[i] != "STOP_LOSS", kind_of[i] != "ENTRY", i))
    else:  # the entry last ("PRICE WE ENTERED AT" under the levels)
        order = sorted(slots, key=lambda i: (kind_of[i] == "ENTRY", i))
    moved = [lines[i] for i in order]
    if moved == level_lines:
        return None
    out = lines[:]
    for slot, line in zip(slots, moved, strict=True):
        out[slot] = line
    return _same_reading(_levels_of(parsed), "\n".join(out), label)


#: A line that only announces the levels under it ("Sell targets:", "Take-Profit Targets:").
_LEVELS_HEADER = re.compile(r"\W*[\w -]*(?:targets?|tps?|stop targets?)\W*:?\W*", re.IGNORECASE)


def _truncate(text: str, label: str, rng: random.Random) -> tuple[str, str] | None:
    """A stated set-up cut to its pair, side and entry (the targets and stop "to follow"): the
    stated side still gives the class. Without it nearly every training row with no targets
    and no stop is SIGNAL_NONE, and the model learns that a missing target means no direction."""
    parsed = _counterfactual_source(text, label)
    if parsed is None:
        return None
    levels = [s for s in parsed.spans if s.label in ("TARGET", "STOP_LOSS")]
    if not levels:
        return None
    first = min(s.start for s in levels)
    if "\n" in text:
        lines, kept, at = text.split("\n"), [], 0
        for line in lines:
            end = at + len(line)
            if not any(at <= s.start <= end for s in levels) and not _LEVELS_HEADER.fullmatch(line):
                kept.append(line)
            at = end + 1
        new_text = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
    else:
        cut = [m.start() for m in _STOP_WORD.finditer(text, 0, first)]
        cut += [m.start() for m in _TARGET_WORD.finditer(text, 0, first)]
        new_text = text[: max(cut)].rstrip(" ,|-:;") if cut else ""
    if rng.random() < 0.3:
        new_text += rng.choice(("\nTargets: soon", "\nSL: will update", " (levels to follow)"))
    reread = _parse(new_text)
    if reread.label != label or reread.targets or reread.stop_loss is not None or not reread.entry:
        return None
    return new_text, label


#: Prose openers by side: desks and analysts write a set-up as a sentence as often as a card.
_PROSE_OPEN = {
    SIGNAL_LONG: (
        "We are buying {pair} at {entry}",
        "Buying {pair} at {entry}",
        "Going long {pair} from {entry}",
        "Long {pair} at {entry}",
        "I'm buying {pair} here at {entry}",
        "Adding a long on {pair} at {entry}",
    ),
    SIGNAL_SHORT: (
        "We are selling {pair} at {entry}",
        "Shorting {pair} at {entry}",
        "Going short {pair} from {entry}",
        "Selling {pair} at {entry}",
        "Opening a short on {pair} at {entry}",
        "Short {pair} at {entry}",
    ),
}
_PROSE_STOP = (
    " with a stop at {v}",
    ", stop {v}",
    ", SL {v}",
    " and a stop loss at {v}",
    ", stop loss {v}",
)
_PROSE_TARGETS = (
    ", target {v}",
    ", targets {v}",
    " with a target of {v}",
    ", take profit {v}",
    ", TP {v}",
)


def _prose(text: str, label: str, rng: random.Random) -> tuple[str, str] | None:
    """A stated set-up rewritten as one sentence ("We are buying EURUSD at 1.0830 with a stop at
    1.0800, target 1.0890"), its levels as written: the label stays. The demo's posts are cards,
    and the model called prose set-ups chatter."""
    parsed = _counterfactual_source(text, label)
    if parsed is None:
        return None
    spans = _level_spans(text, parsed)
    pair = next((text[s.start : s.end] for s in parsed.spans if s.label == "PAIR"), None)
    if pair is None or not spans["ENTRY"] or not spans["TARGET"]:
        return None
    surface = {k: [text[a:b] for a, b, _ in v] for k, v in spans.items()}
    entry = surface["ENTRY"]
    entry_text = entry[0] if len(entry) == 1 else f"{entry[0]}-{entry[-1]}"
    sentence = rng.choice(_PROSE_OPEN[label]).format(pair=pair, entry=entry_text)
    targets = rng.choice(_PROSE_TARGETS).format(
        v=rng.choice((", ", " / ", " and ")).join(surface["TARGET"])
    )
    stop = rng.choice(_PROSE_STOP).format(v=surface["STOP_LOSS"][0]) if surface["STOP_LOSS"] else ""
    sentence += stop + targets if rng.random() < 0.6 else targets + stop
    sentence += rng.choice(
        (".", "", " 🚀" if label == SIGNAL_LONG else " 📉", ". Manage your risk.")
    )
    return _same_reading(_levels_of(parsed), sentence, label)


def _pips(text: str, label: str, rng: random.Random) -> tuple[str, str] | None:
    """Stop and targets of an FX set-up as distances from the entry in pips (0.0001, or 0.01
    for a quote near 100 such as USDJPY); the stated side stays."""
    parsed = _counterfactual_source(text, label)
    if parsed is None:
        return None
    spans = _level_spans(text, parsed)
    if not spans["ENTRY"] or not (spans["TARGET"] or spans["STOP_LOSS"]):
        return None
    entry_start, entry_end, ref = spans["ENTRY"][0]
    if not 0.2 < ref < 400 or _surface_decimals(text[entry_start:entry_end]) < 2:
        return None  # not an FX quote: crypto and gold rooms rarely count in pips
    scale = 10_000 if ref < 20 else 100
    unit = rng.choice((" pips", " pips", "pips", " points", " pts"))
    edits = []
    for start, end, v in spans["TARGET"] + spans["STOP_LOSS"]:
        distance = round(abs(v - ref) * scale)
        if distance <= 0:
            return None
        edits.append((start, end, f"{distance}{unit}"))
    new_text = _replace_spans(text, edits)
    return (new_text, label) if _parse(new_text).label == label else None


#: How channels name a stop and a target: a rewrite swaps one spelling for another, so that no
#: order of the levels is learnt with one spelling only ("Stop loss ... Take profit").
_STOP_NAMES = ("SL", "Sl", "S/L", "S.L", "Stop", "Stop loss", "STOP LOSS", "Stoploss", "Stop-loss")
_TARGET_NAMES = ("TP", "Tp", "T/P", "T.P", "Target", "Take profit", "TAKE PROFIT", "Take-profit")
_STOP_WORD = re.compile(
    r"(?<![^\W\d_])(?:stop[ -]?loss|stoploss|s/l|s\.l|sl|stop)(?![^\W\d_])", re.IGNORECASE
)
_TARGET_WORD = re.compile(
    r"(?<![^\W\d_])(?:take[ -]?profit|t/p|t\.p|tp|target)(?=\s?\d|[^\w]|$)", re.IGNORECASE
)


def _keywords(text: str, label: str, rng: random.Random) -> tuple[str, str] | None:
    """The stop's and the targets' names spelt another way (one spelling each per post)."""
    if label == NON_SIGNAL:
        return None
    stop, target = rng.choice(_STOP_NAMES), rng.choice(_TARGET_NAMES)

    def named(name: str, source: str):
        # "TP1" -> "Target 1": a word keeps a space before the target's number
        spaced = name[-1].isalpha()
        return lambda m: name + (" " if spaced and source[m.end() : m.end() + 1].isdigit() else "")

    new_text = _STOP_WORD.sub(named(stop, text), text)
    new_text = _TARGET_WORD.sub(named(target, new_text), new_text)
    return _same_reading(_parsed_levels(text), new_text, label) if new_text != text else None


#: What a results post puts after a target number it reached (the parser's result marks), in
#: the languages the parser reads.
_TICKS = (
    " ✅",
    " ✅",
    " ✔️",
    " ✔",
    " hit",
    " done ✅",
    " reached",
    " achieved ✅",
    " 🎯✅",
    " достигнута ✅",
    " взята",
    " alcanzado",
    " atingido ✅",
    " ✅ logrado",
)
#: Lines a results post adds under the set-up ({t}: a target's number, {k}: its rank).
_RESULT_LINES = (
    "TP{k} hit ✅",
    "Target {k} reached 🎯",
    "All targets achieved 🎉",
    "Closed at {t} in profit",
    "Target {k} done, +{p}% profit",
    "TP{k} ✅ +{p}%",
)


def _result(text: str, label: str, rng: random.Random) -> tuple[str, str] | None:
    """A set-up turned into its own results post: targets ticked, the label NON_SIGNAL."""
    if label == NON_SIGNAL:
        return None
    parsed = _parse(text)
    if parsed.label != label:
        return None
    targets = sorted(_level_spans(text, parsed)["TARGET"])
    if not targets:
        return None
    if rng.random() < 0.6:
        n = rng.randint(1, len(targets))
        tick = rng.choice(_TICKS)
        # a third of results posts tick the target in place of its number ("Target 1 ✅")
        keep = rng.random() >= 0.3
        new_text = _replace_spans(
            text,
            [
                (start, end, text[start:end] + tick if keep else tick.strip())
                for start, end, _ in targets[:n]
            ],
        )
    else:
        k = rng.randint(1, len(targets))
        start, end, _ = targets[k - 1]
        line = rng.choice(_RESULT_LINES).format(k=k, t=text[start:end], p=rng.randint(2, 60))
        new_text = _insert_line(text, line, rng)
    return (new_text, NON_SIGNAL) if _parse(new_text).label == NON_SIGNAL else None


_TRANSFORMS = {
    "flip": _flip,
    "unsided": _unsided,
    "numbers": _numbers,
    "terse": _terse,
    "boilerplate": _boilerplate,
    "confounder": _confounder,
    "layout": _layout,
    "result": _result,
    "reorder": _reorder,
    "pips": _pips,
    "keywords": _keywords,
    "truncate": _truncate,
    "prose": _prose,
}
#: Transforms that change structure and so need a signal row to start from.
_SIGNAL_ONLY = frozenset(
    (
        "flip",
        "unsided",
        "numbers",
        "terse",
        "result",
        "reorder",
        "pips",
        "keywords",
        "truncate",
        "prose",
    )
)


def augment_rows(
    rows: list[tuple[str, str]], config: AugmentConfig | None = None, *, n: int | None = None
) -> tuple[list[tuple[str, str, str]], AugmentStats]:
    """Up to ``n`` (default ``share`` × len(rows)) new ``(text, label, transform)`` rows from
    ``(text, label)`` rows. Deterministic for a seed; never returns a text of the input."""
    config = config or AugmentConfig()
    rng = random.Random(config.seed)
    stats = AugmentStats()
    if not rows:
        return [], stats
    target = int(round(config.share * len(rows))) if n is None else n
    names = list(config.weights)
    weights = [config.weights[k] for k in names]
    seen = {text_key(t) for t, _ in rows}
    signal_rows = [r for r in rows if r[1] != NON_SIGNAL]
    out: list[tuple[str, str, str]] = []
    attempts = 0
    while len(out) < target and attempts < target * 6:
        attempts += 1
        name = rng.choices(names, weights)[0]
        pool = signal_rows if name in _SIGNAL_ONLY and signal_rows else rows
        text, label = pool[rng.randrange(len(pool))]
        made = _TRANSFORMS[name](text, label, rng)
        if made is None:
            stats.rejected[name] += 1
            continue
        new_text, new_label = made
        if rng.random() < config.second_transform_p:
            extra = rng.choice(("boilerplate", "layout", "numbers", "reorder", "keywords"))
            again = _TRANSFORMS[extra](new_text, new_label, rng)
            if again is not None:
                new_text, name = again[0], f"{name}+{extra}"
        key = text_key(new_text)
        if key in seen:
            stats.rejected["duplicate"] += 1
            continue
        seen.add(key)
        out.append((new_text, new_label, name))
        stats.added[name] += 1
        stats.label_of_added[new_label] += 1
    return out, stats


def augment_training_table(
    table: pd.DataFrame, config: AugmentConfig | None = None, *, n: int | None = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``table`` (text,label,split[,label_source]) plus augmented rows in the train split.

    Only train rows are rewritten, and no augmented text equals a text of any split (by the
    export's de-duplication key), so validation and test stay untouched and unleaked. The new rows
    carry ``label_source="augmented:<transform>"``.
    """
    train = table[table["split"] == "train"]
    rows = list(zip(train["text"].astype(str), train["label"].astype(str), strict=True))
    made, stats = augment_rows(rows, config, n=n)
    held_out = {text_key(t) for t in table.loc[table["split"] != "train", "text"]}
    kept = [(t, lab, name) for t, lab, name in made if text_key(t) not in held_out]
    stats.rejected["held_out_text"] += len(made) - len(kept)
    extra = pd.DataFrame(
        {
            "text": [t for t, _, _ in kept],
            "label": [lab for _, lab, _ in kept],
            "split": "train",
            "label_source": [f"augmented:{name}" for _, _, name in kept],
        }
    )
    out = pd.concat([table, extra], ignore_index=True) if len(extra) else table.copy()
    return out, stats.as_dict()
