"""The label vocabularies shared by parsers, datasets, models and evaluation."""

NON_SIGNAL = "NON_SIGNAL"
SIGNAL_LONG = "SIGNAL_LONG"
SIGNAL_SHORT = "SIGNAL_SHORT"
SIGNAL_NONE = "SIGNAL_NONE"

#: Signal classes, in the fixed order models use for their output ids.
SIGNAL_CLASSES: tuple[str, ...] = (NON_SIGNAL, SIGNAL_LONG, SIGNAL_SHORT, SIGNAL_NONE)

#: Entity labels for character spans (and BIO tags: B-PAIR, I-PAIR, ...).
ENTITY_LABELS: tuple[str, ...] = ("PAIR", "SIDE", "ENTRY", "TARGET", "STOP_LOSS", "LEVERAGE")

#: Typed fields an extractor returns, in the gold format's names.
SIGNAL_FIELDS: tuple[str, ...] = ("pair", "side", "entry", "targets", "stop_loss", "leverage")


def empty_fields() -> dict:
    """The six fields of a message that states none: empty lists for entry and targets."""
    return {f: ([] if f in ("entry", "targets") else None) for f in SIGNAL_FIELDS}


BIO_TAGS: tuple[str, ...] = ("O",) + tuple(
    f"{prefix}-{label}" for label in ENTITY_LABELS for prefix in ("B", "I")
)
