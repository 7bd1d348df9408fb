"""Human labels from a labelling tool's SQL store (a ``messages`` and a ``labeled`` table).

The layout desks' labelling tools write: ``labeled.is_signal``, ``labeled.direction`` (LONG, SHORT,
stated or implied by the levels; NONE = a set-up whose direction neither its words nor its levels
give; NULL = not a signal) and start/end character offsets for
pair, leverage, entry, stop loss and up to five targets, joined to ``messages.id``.
"""

from __future__ import annotations

from typing import Any

from trademl.errors import InputError
from trademl.labels import NON_SIGNAL, SIGNAL_LONG, SIGNAL_NONE, SIGNAL_SHORT

_SPAN_COLUMNS = [
    ("pair", "PAIR"),
    ("leverage", "LEVERAGE"),
    ("entry", "ENTRY"),
    ("stop_loss", "STOP_LOSS"),
] + [(f"target{i}", "TARGET") for i in range(1, 6)]
_DIRECTION = {"LONG": SIGNAL_LONG, "SHORT": SIGNAL_SHORT, "NONE": SIGNAL_NONE, None: SIGNAL_NONE}


def human_label(is_signal: Any, direction: Any) -> str:
    if not is_signal:
        return NON_SIGNAL
    key = direction.strip().upper() if isinstance(direction, str) else None
    if key not in _DIRECTION:
        raise ValueError(f"unknown direction {direction!r} (expected LONG, SHORT, NONE or NULL)")
    return _DIRECTION[key]


def read_human_labels(
    url: str, messages_table: str = "messages", labels_table: str = "labeled"
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(labels, rejected)``: one dict per labelled message (text, label, entities, message_id),
    and the rows whose label or offsets cannot be used, each with a reason (never silently dropped).
    When a message was labelled more than once, the latest label wins.
    """
    import sqlalchemy as sa

    from trademl.ingest.messages import _mask_url

    span_cols = ", ".join(f"l.{c}_start, l.{c}_end" for c, _ in _SPAN_COLUMNS)
    query = sa.text(
        f"SELECT m.message_id, m.channel, m.text, l.is_signal, l.direction, {span_cols}, l.labeled_at "
        f"FROM {labels_table} l JOIN {messages_table} m ON m.id = l.message_id ORDER BY l.labeled_at"
    )
    try:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            rows = conn.execute(query).fetchall()
    except sa.exc.SQLAlchemyError as exc:
        raise InputError(
            _mask_url(url),
            f"cannot read human labels ({labels_table} ⋈ {messages_table}): {exc.args[0] if exc.args else exc}",
        ) from None
    by_message: dict[tuple, dict[str, Any]] = {}
    rejected = []
    for row in rows:
        message_id, channel, text, is_signal, direction = row[:5]
        offsets = row[5:-1]
        try:
            label = human_label(is_signal, direction)
        except ValueError as exc:
            rejected.append({"message_id": message_id, "reason": str(exc)})
            continue
        entities, problem = [], None
        for k, (_, ent) in enumerate(_SPAN_COLUMNS):
            start, end = offsets[2 * k], offsets[2 * k + 1]
            if start is None and end is None:
                continue
            if start is None or end is None or not 0 <= start < end <= len(text or ""):
                problem = (
                    f"{ent} offsets {start}..{end} outside the text (length {len(text or '')})"
                )
                break
            entities.append({"start": int(start), "end": int(end), "label": ent})
        if problem:
            rejected.append({"message_id": message_id, "reason": problem})
            continue
        by_message[(channel, message_id)] = {
            "message_id": str(message_id),
            "channel": channel,
            "text": text,
            "label": label,
            "entities": sorted(entities, key=lambda e: e["start"]),
            "labeled_at": str(row[-1]),
        }
    return list(by_message.values()), rejected
