"""Building blocks of the signal styles: the style record and helpers that label as they write.

A style is a function ``(numbers, rng, show_side) -> MessageText``; with ``show_side`` False it
writes the same set-up without stating the direction: no side word and no directional emoji
(arrows, green/red dots, rockets), since those state a direction too. Its class then comes from
the levels alone (:func:`trademl.signals.levels.side_from_levels`): a long or a short when they
imply one, SIGNAL_NONE when they contradict each other (see :mod:`trademl.demo.setups`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from trademl.demo.instruments import Instrument, SignalNumbers, to_number, with_thousands
from trademl.demo.markup import MessageText, Piece

Compose = Callable[[SignalNumbers, random.Random, bool], MessageText]


@dataclass(frozen=True)
class SignalStyle:
    """A writing style plus the shape of the signals it writes."""

    compose: Compose
    entries: tuple[int, ...] = (1,)  # choices for the number of entry prices
    targets: tuple[int, ...] = (1, 2, 3)  # choices for the number of targets
    leverage_p: float = 0.0  # probability the signal states leverage
    sides: tuple[str, ...] = ("LONG", "SHORT")  # spot-only channels call longs only


def pair_hashtag(b: MessageText, inst: Instrument, sep: str = "/") -> None:
    """``#SOL/USDT``: Telegram's hashtag entity stops at "/", so a hashtag plus plain text."""
    b.add_formatted("hashtag", "#", Piece(inst.base, "PAIR"))
    b.add(f"{sep}{inst.quote}", "PAIR", joined=True)


def numbers(
    b: MessageText, values: tuple[str, ...], label: str, sep: str, big: bool = False
) -> None:
    """Values joined by ``sep``, each labelled (``big``: 67,250 thousands separators)."""
    for k, v in enumerate(values):
        if k:
            b.add(sep)
        b.add(with_thousands(v) if big and to_number(v) >= 1000 else v, label)


def side_word(side: str, words: dict[str, tuple[str, ...]], rng: random.Random) -> str:
    return rng.choice(words[side])


def add_side(b: MessageText, action: str) -> MessageText:
    """An action like "Sell limit" or "BUY NOW": only the direction word is the SIDE entity."""
    word, sep, rest = action.partition(" ")
    return b.add(word, "SIDE").add(sep + rest)


def pip_size(inst: Instrument) -> float:
    """What a pip (a point for indices) is worth in price on the instrument."""
    if inst.kind == "index":
        return 1.0
    if inst.kind == "metal":
        return 0.1
    return 0.01 if inst.quote == "JPY" else 0.0001


def pips(inst: Instrument, a: str, b: str) -> int:
    return round(abs(to_number(a) - to_number(b)) / pip_size(inst))


def pip_word(inst: Instrument, rng: random.Random) -> str:
    return rng.choice(("pts", "points")) if inst.kind == "index" else rng.choice(("pips", "pips"))
