"""The direction a trade's levels imply (the class definition in ARCHITECTURE.md).

Every target above the entry and the stop below it is a long; the mirror a short. An entry zone
counts by its bounds: a long's targets lie above its upper bound and its stop below its lower
bound. Targets on both sides, a stop on the target side, or no target and no stop imply nothing.
One function, used by the parser, the LLM grounding, serving, the demo's gold fields and the
training-time augmentation, so that they cannot disagree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["SIDE_LABEL", "side_from_levels"]

#: The class a side gives a set-up.
SIDE_LABEL = {"LONG": "SIGNAL_LONG", "SHORT": "SIGNAL_SHORT"}


def _finite(values: Sequence[float] | None) -> list[float]:
    out = []
    for v in values or ():
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f) and f > 0:
            out.append(f)
    return out


def side_from_levels(
    entry: Sequence[float] | None,
    targets: Sequence[float] | None,
    stop_loss: float | None,
) -> str | None:
    """``"LONG"``, ``"SHORT"`` or ``None``: the side the levels imply, if they imply one.

    >>> side_from_levels([100], [110, 120], 95)
    'LONG'
    >>> side_from_levels([100, 102], [98, 95], 105)
    'SHORT'
    >>> side_from_levels([100], [110, 90], None) is None  # targets on both sides
    True
    >>> side_from_levels([100], [], None) is None  # a pair and an entry alone
    True
    """
    entries = _finite(entry)
    if not entries:
        return None
    lo, hi = min(entries), max(entries)
    tps = _finite(targets)
    stops = _finite([stop_loss] if stop_loss is not None else [])
    if not tps and not stops:
        return None
    long_ok = all(t > hi for t in tps) and all(s < lo for s in stops)
    short_ok = all(t < lo for t in tps) and all(s > hi for s in stops)
    if long_ok and not short_ok:
        return "LONG"
    if short_ok and not long_ok:
        return "SHORT"
    return None
