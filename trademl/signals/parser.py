"""Rule-based trade-signal parser: message text -> signal class, typed fields and character spans.

The parser tokenises a message into keywords (side words, "Entry", "TP", "SL", leverage, noise
labels such as "Risk" or "lot size"). The numbers between one keyword and the next belong to the
first one. Numbers after a bare side word ("BUY 1.0850 1.0800 1.0950") are read by position: the
first is the entry, the rest are a stop or targets by which side of the entry they lie on.

The class follows ARCHITECTURE.md: a side stated in words or by a directional emoji, or else
implied by the levels (:func:`trademl.signals.levels.side_from_levels`), makes SIGNAL_LONG or
SIGNAL_SHORT (``ParsedSignal.side_source`` says which); a set-up whose levels imply no side, or a
pair and an entry alone, is SIGNAL_NONE; results shaped like signals (a target ticked or marked
reached, a profit per target, "closed at") are NON_SIGNAL.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from trademl.labels import NON_SIGNAL, SIGNAL_LONG, SIGNAL_NONE, SIGNAL_SHORT
from trademl.signals.levels import SIDE_LABEL as _SIDE_LABEL
from trademl.signals.levels import side_from_levels
from trademl.signals.normalize import (
    MICRO_PRICED_COINS,
    SATS_CONTEXT,
    coin_beside,
    find_pair,
    pair_symbol,
    pip_size,
)
from trademl.signals.numbers import ZONE_MAX_RATIO, Number, scan_numbers, within_ratio

__all__ = ["ParsedSignal", "Span", "non_trade_cue", "parse_signal"]


@dataclass(frozen=True, slots=True)
class Span:
    """One entity: text[start:end] is its surface; label is one of ENTITY_LABELS."""

    start: int
    end: int
    label: str


@dataclass(frozen=True, slots=True)
class ParsedSignal:
    """What the parser read from one message: class, typed fields and entity spans."""

    label: str
    pair: str | None
    side: str | None
    entry: list[float]
    targets: list[float]
    stop_loss: float | None
    leverage: float | None
    spans: tuple[Span, ...]
    #: "stated" (a side word or a directional emoji), "levels" (derived by side_from_levels),
    #: None (no side). Not a gold field: fields() leaves it out.
    side_source: str | None = None

    def fields(self) -> dict:
        """The six typed fields as a gold-format dict (side_source is not one of them)."""
        return {
            "pair": self.pair,
            "side": self.side,
            "entry": list(self.entry),
            "targets": list(self.targets),
            "stop_loss": self.stop_loss,
            "leverage": self.leverage,
        }


def _no_signal() -> ParsedSignal:
    # A fresh object each time: callers may keep and extend the entry/targets lists.
    return ParsedSignal(NON_SIGNAL, None, None, [], [], None, None, ())


_LB = r"(?<![^\W\d])"  # not preceded by a letter or underscore (digits are fine: "1.2SL")
_RB = r"(?![^\W\d])"
# Separators and filler words between a keyword and its value: "SL @", "TP1:-", "Stop loss at".
_TAIL = (
    r"(?:[\s:=@.,\-–—>)(\]\[{}|/#*➡→⇒⏩👉\ufe0f]+"
    r"|(?:at|set|point|price|level|is|around|below|bellow|above|under|from|zone|area|now|limit|"
    r"market|cmp|instant|again|order|here)" + _RB + r")*"
)
# "TP1", "TP 2:", "T.P.1" carry an index that is not a price; "TP 1.2345" does not.
# Glued ("TP1", "TP.2") or spaced ("TP 1 151.01", "Target #2: 64000"); a spaced two-digit number
# followed by another number is a price list ("targets 18 20 25"), not an index.
_INDEX = r"(?:(?:\.?\d{1,2}|\s*[.#]?\s*\d|\s*[.#]?\s*\d{2}(?!\s+\d))(?!\d|[.,]\d+(?!\.\d)|[kK]))?"
_SIDE_WORDS = (
    r"(?:buy|sell)(?:[\s-]*(?:limit|stop(?![\s\-/]*los)))?|long|short|bullish|bearish"
    r"|longing|shorting|buying|selling|accumulate"
    r"|(?:bought|sold)(?=\s*(?:@|at\b|\d))|лонг\w*|шорт\w*|покупк\w*|продаж\w*|купить|купи"
    r"|продать|продай|покупаем|продаем|продаём"
    # Spanish and Portuguese FX channels: "COMPRA EURUSD", "VENTA ORO", "VENDA"
    r"|compra[r]?|venta|vend[ae]r?"
)

# "short-term", "Short and medium term", "Expected duration: Long": a horizon, not a side.
_HORIZON_WORD = r"(?:long|short|mid|medium)"
_HORIZON = rf"{_HORIZON_WORD}(?:\s*(?:and|or|&|/|to|-)\s*{_HORIZON_WORD})?"
_KEYWORDS = re.compile(
    # transparent: text that would otherwise read as a keyword or a level
    rf"(?P<skip>{_LB}(?:trailing\s+stop|(?:long|short)(?:\s*(?:and|or|&|/|to|-)\s*{_HORIZON_WORD})?"
    r"[\s-]*(?:term|time|run)"
    rf"|(?:duration|horizon|holding\s+period|time\s*frame|timeframe)\s*[:\-–]?\s*{_HORIZON}"
    r"(?:[\s-]*(?:term|time|run))?"
    rf"|signal\s*(?:no\.?|number|n[°º]|#)?\s*[:.]?\s*\d{{1,4}}(?![\d.,])){_RB}"
    r"|https?://\S+|t\.me/\S+|www\.\S+)"
    # noise labels: the numbers after them are not levels
    rf"|(?P<ign>{_LB}(?:risk|reward|ratio|r\s?[:/]\s?r|rr|lot\s*size|lots?|spread|bid|ask|previous"
    r"|support|resistance|time\s*frame|timeframe|expiry|expires?|date|id|minimum|balance|account"
    r"|volume|payoff|copyright\w*|floating|capital|deposit|риск\w*|лот\w*)" + _RB + r")"
    # explicit entry, possibly carrying the side: "Buy zone", "Entry Targets:", "Вход"
    rf"|(?P<entry>{_LB}(?:(?P<eside>buy|sell|long|short|покупк\w*|продаж\w*)\s+(?:zone|price|area"
    r"|range|around|between)|entry\s*(?:targets?|zones?|price|point|area|range|orders?)?|entries|zona\s+de\s+entrada"
    r"|enter(?:ed)?|entrada|вход\w*|точка\s+входа|en(?=\s*@))" + _RB + _TAIL + ")"
    rf"|(?P<tp>(?:{_LB}(?:(?:sell\s+|take[\s-]*profit\s+|tp\s+)?targets?|take[\s-]*profits?"
    r"|takeprofit|tps|t\.?p\.?|t-p|tg|t(?=\d{1,2}\s*[:)\-=])|objetivos?|alvos?|цел[ьи]\w*|тейк\w*(?:-профит\w*)?|тп)"
    + _RB
    + r"|🎯)"
    + _INDEX
    + _TAIL
    + ")"
    rf"|(?P<sl>{_LB}(?:stop[\s\-/]*los[st]\w*|stop[\s-]*targets?|stoploss|stop|s\s?[./\-]?\s?l\.?"
    r"|стоп\w*(?:-лосс\w*)?|сл|(?:st|si)(?=\s*:?\s*\d))" + _RB + _TAIL + ")"
    rf"|(?P<lev>{_LB}(?:leverage|lev|плечо|кредитное\s+плечо)\s*[:\-=]?\s*"
    r"(?:(?:cross|isolated|кросс|изолир\w*)\s*)?\(?\s*[x×х]?\s*(?P<lv1>\d+(?:\.\d+)?)\s*[x×х]?"
    r"(?:\s*[-–/~]\s*[x×х]?\s*(?P<lv2>\d+(?:\.\d+)?)\s*[x×х]?)?"
    rf"|{_LB}(?:cross|isolated|кросс)\s*\(?\s*(?P<lv3>\d+(?:\.\d+)?)\s*[x×х]"
    r"|(?<![\w.])[x×х]\s?(?P<lv4>\d{1,3})(?![\w.])"
    r"|(?<![\w.])(?P<lv5>\d{1,3})\s?[x×х](?![^\W\d_]))"
    rf"|(?P<side>(?:{_LB}(?:{_SIDE_WORDS}){_RB}"
    r")" + _TAIL + ")"
    rf"|(?P<wside>{_LB}(?:calls?|puts?)(?:\s+options?)?{_RB})"
    rf"|(?P<at>(?:@|{_LB}(?:at|from|cmp|price|now|market|по\s+рынку|по\s+цене|от){_RB}){_TAIL})"
)
# The keyword pattern is only tried where a word starts with one of these (speed: a big
# alternation scanned over every character is ten times slower than this pre-check).
_WORD = re.compile(r"[^\W\d_]+|[@🎯]")
_STEMS = frozenset(
    w[:2]
    for w in (
        "trailing long short duration horizon holding zona accumulate signal http t www risk reward ratio r rr lot spread bid ask previous "
        "support resistance time timeframe expiry expires date id minimum balance account volume "
        "payoff copyright floating capital deposit риск лот buy sell entry entries enter entered "
        "вход точка en sell take tp t tg цель тейк тп stop s sl st si стоп сл leverage lev плечо "
        "кредитное cross isolated кросс x bullish bearish bought sold лонг шорт покупка продажа "
        "купить купи продать продай покупаем продаем продаём call put @ 🎯 at from cmp price now "
        "market по от compra comprar venta vender venda entrada objetivo alvo х"
    ).split()
)
_SIGNAL_KINDS = frozenset(("side", "wside", "entry", "tp", "sl"))
_GLUED_SIDE = re.compile(r"(?:usd|eur|gbp|jpy|chf|aud|nzd|cad|xau|xag)(buy|sell)")
_LEV_SUFFIX = re.compile(r"(?<![\w.])(\d{1,3})\s?[x×х](?![^\W\d_])")
# Every signal has a side word, or an entry keyword and a stop or target keyword: without any of
# these stems (a substring test, no word boundaries) a message cannot be a signal.
_SIGNAL_HINT = re.compile(
    r"buy|sell|long|short|bull|bear|bought|sold|call|put|accum|entr|enter|tp|t\.p|targ|take|stop|sl|s\.l"
    r"|лонг|шорт|покуп|продаж|купи|прода|вход|тейк|цел|стоп|сл|тп|compr|vend|venta|entrada"
)
_SHORT_SIDES = (
    "sell",
    "short",
    "bearish",
    "sold",
    "put",
    "шорт",
    "продаж",
    "прода",
    "vend",
    "venta",
)
_UPDATE = re.compile(
    r"(?:hit|hits|reached|achieved|smashed|booked|secured|done|closed?|closing|cancel\w*"
    r"|invalidated?|breakeven|break[\s-]even|move[ds]?\s+(?:the\s+)?(?:sl|stop)\w*"
    r"|moving\s+(?:sl|stop)"
    r"|update[ds]?|results?|in\s+profit|profit\s+of|закры\w*|отработ\w*|достигнут\w*|отмен\w*"
    r"|alcanzad\w*|cerramos|cerrad\w*|tocad\w*|cancelad\w*|atingid\w*|fechad\w*|ganancia"
    rf"|безубыт\w*){_RB}|\+\s?\d+(?:\.\d+)?\s?(?:%|pips?)|\d\s?%\s*(?:profit|gain)"
)
_QUESTION = re.compile(
    # "Questions? DM us", "Any questions?": a channel's boilerplate, not a question about the trade
    r"(?<![?\s\-:])(?<!questions)(?<!question)(?<!вопросы)(?<!preguntas)(?<!perguntas)(?<!dúvidas)\?"
    r"|^\W*(?:should|can|could|is|are|what|why|how|when|anyone|does|do|will|would"
    r"|who|which)" + _RB
)
#: A trader talking about his own position ("I am long BTC since 58k") is chatter, not a call.
_FIRST_PERSON = re.compile(_LB + r"(?:i|i'm|im|my|me|mine)" + _RB)
#: Words that state an opinion about direction; alone they do not make a trade.
_OPINION = ("bullish", "bearish")
_EMOJI_UP = re.compile(r"↗|📈|🟢|⬆|🔼|🚀|chart_with_upwards_trend|arrow_up")
_EMOJI_DOWN = re.compile(r"↘|📉|🔴|⬇|🔽|chart_with_downwards_trend|arrow_down")

# Results shaped like signals: a target ticked or marked reached, a profit per target, a trade
# "closed at", "all targets achieved". A mark counts only on a target's line after the target
# word ("Target 1: 5.82✅", "TP2 hit"), or right after a level in a target list ("2) 5.93 ✅"):
# ticks elsewhere ("✅✅✅", "✅ Entry now", "✅Tp➡️0.9050" as a bullet) are decoration.
#: Cheap pre-check: without one of these substrings there is no result mark.
_RESULT_HINT = re.compile(
    r"[✅✔☑✓%]|hit|done|reach|achiev|smash|book|secur|touch|complet|fill|closed|stopped|tod[oa]s"
    r"|достиг|взят|отработ|закры|выполн|alcan|logr|cumpl|tocad|conseg|ating|batid|cerrad|fechad|encerr"
    r"|выби|ulaş|vurul|tamam|kapan|tüm|erreich|getroff|geschlossen|alle"
)
#: The same pre-check word by word: a word's first three letters -> the prefix it must have.
_RESULT_STEMS = {
    p[:3]: p
    for p in (
        "hit done reach achiev smash book secur touch complet fill closed stopped tod "
        "достиг взят отработ закры выполн выбит alcan logr cumpl tocad conseg ating batid cerrad "
        "fechad encerr выби ulaş vurul tamam kapan tüm erreich getroff geschlossen alle"
    ).split()
}
_RESULT_WORDS = (
    r"hit|done|reached|achieved|smashed|booked|secured|touched|completed|filled"
    r"|достигнут\w*|взят[аоы]?|отработ\w*|закрыт\w*|выполнен\w*"
    r"|alcanzad\w*|alcançad\w*|logrado\w*|cumplid\w*|tocad\w*|conseguid\w*|atingid\w*|batid[oa]s?"
    r"|выбит\w*|ulaşıldı|vuruldu|tamamlandı|erreicht|getroffen"
)
_RESULT_MARK = re.compile(
    r"[✅✔☑✓]"
    rf"|(?P<word>(?:{_RESULT_WORDS}){_RB})"
    r"|\+\s?\d+(?:[.,]\d+)?\s?%"
    r"|\d\s?%\s*(?:profit|gain|прибыл\w*|профит\w*|ganancia|lucro|kâr|kar|gewinn)"
    r"|(?:profit|прибыль|ganancia|lucro)(?<!take profit)(?<!take-profit)(?<!takeprofit)"
    r"\s*[:=]?\s*\+?\d+(?:[.,]\d+)?\s?%"
)
_TARGET_WORD = re.compile(
    _LB + r"(?:take[\s-]*profits?|targets?|tps?|t\.p\.?|tg|t(?=\d)|exit|objetivos?|alvos?|metas?"
    r"|цел[ьи]\w*|тейк\w*|тп|hedef\w*|ziel\w*)"
)
#: A stop's line takes a result word too ("SL hit"), not a tick (a tick before it is a bullet).
_STOP_WORD = re.compile(_LB + r"(?:sl|s/l|stop\w*|стоп\w*|сл)" + _RB)
#: "take 50% profit at TP1": an instruction in a new set-up, not a profit made.
_PARTIAL_TAKE = re.compile(
    r"(?:take|taking|book|secure|close|sell|lock|realize|realise|fix|toma|tomar|realizar|фиксир\w*"
    r"|забрать|закрыть)\s+(?:out\s+|off\s+|in\s+)?(?:the\s+)?[\d.,]*$"
)
#: A result word after one of these is a plan, not a result ("move SL to entry after TP1 hit").
_CONDITIONAL = re.compile(
    _LB + r"(?:if|after|when|once|until|till|before|unless|si|cuando|después|quando|após|если"
    r"|после|когда|пока|wenn|nach|sonra)" + _RB
)
# No look-behind in front of these two (it would cost the scan its first-character pre-check):
# _result_cue checks that a word starts where they match.
_DONE_PHRASE = re.compile(
    r"(?:all\s+(?:the\s+)?(?:entry\s+|take[\s-]*profit\s+)?(?:targets?|tps?|take[\s-]*profits?)"
    r"\s+(?:are\s+|were\s+|have\s+been\s+|has\s+been\s+|got\s+)?(?:hit|done|achieved|reached"
    r"|smashed|completed|booked)"
    r"|(?:trade|position|signal|order|deal)\s+(?:was\s+|is\s+|has\s+been\s+|got\s+)?closed"
    r"|stopped\s+out"
    r"|closed\s+(?:at|@|in\s+(?:profit|loss)|with|manually|on|for)"
    r"|все\s+цели\s+(?:достигнут|взят|отработ|выполнен)|(?:сделк|позици)\w*\s+закрыт"
    r"|закрыт[аоы]?\s+(?:по|на|в)\s"
    r"|tod[oa]s\s+(?:los\s+|os\s+|as\s+)?(?:objetivos|alvos|metas|tps?)\s+(?:alcan|cumpl|logr|ating"
    r"|batid)|(?:cerrad|fechad|encerrad)[oa]s?\s+(?:en|em|a|con|com|no)\s"
    r"|выбил\w*\s+(?:по\s+)?стоп|стоп\s+выбит"
    r"|tüm\s+hedefler|kapandı|kapatıldı|alle\s+ziele\s+erreicht|geschlossen\s+(?:bei|zu|mit))"
)
#: A stop annotated like the targets ("SL: 78906 (-9.1%)" beside "TP1 82566 (+4.4%)", or
#: "1299.78❌" beside "1263.61✅") makes the targets' ticks and percentages a legend: a result
#: would not mark both the targets won and the stop lost.
_STOP_MARK = re.compile(r"[❌✖✗❎🚫⛔]|[-−]\s?\d+(?:[.,]\d+)?\s?%")
#: Before a level in a list: spaces, a closing bracket or an opening one ("5.93 (+52.9%)").
_GAP_AFTER_LEVEL = " \t)](:-–|"

#: Entries listed after "Entry:" must lie this close to the first one; levels within this of entry.
_ENTRY_LIST_RATIO = 1.25
_LEVEL_RATIO = 3.0
#: "SL 30 pips", "TP: 60pips": a level given as its distance from the entry, read on the keyword's
#: line from the keyword on (its index group may already hold the number: "TP 60 pips").
_PIP_DISTANCE = re.compile(r"[^\n]*?(?<![\d.])(\d{1,4}(?:\.\d)?)\s*pips?(?![^\W\d])", re.IGNORECASE)
#: "Sell: 600 - 615" after "Buy: 585": on spot channels the opposite side word lists the targets.
_SIDE_AS_TARGETS = re.compile(r"\s*(?:targets?|tps?|zone)?\s*[:=]", re.IGNORECASE)

#: A message with a side and a pair but no levels is a signal only if this short ("GOLD BUY NOW").
_TERSE_MAX_CHARS = 60


def _typos() -> dict[str, tuple[str, str]]:
    """Misspelt keywords as people type them -> (token kind, the word meant).

    Every keyword gets its two-letter swaps ("lnog", "shrot", "byu"); the longer ones also a
    letter dropped or added inside the word ("targt", "entery", "stoplos"). The short ones get no
    drops or additions, which give real words ("sort", "shot", "song"); "short" only a doubled
    letter ("shoort").
    """
    out: dict[str, tuple[str, str]] = {}
    letters = "abcdefghijklmnopqrstuvwxyz"
    for word, kind in (
        ("long", "side"), ("short", "side"), ("sell", "side"), ("buy", "side"),
        ("target", "tp"), ("targets", "tp"), ("entry", "entry"), ("stoploss", "sl"),
    ):  # fmt: skip
        variants = {word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(len(word) - 1)}
        if len(word) >= 5 and word != "short":
            variants |= {word[:i] + word[i + 1 :] for i in range(1, len(word))}
            variants |= {word[:i] + c + word[i:] for i in range(1, len(word) + 1) for c in letters}
        if word == "short":
            variants |= {word[: i + 1] + word[i] + word[i + 1 :] for i in range(len(word))}
        for v in variants - {word, "targets", "target", "enter", "entr", "tarot"}:
            out.setdefault(v, (kind, word))
    return out


_TYPO = _typos()


def _side_of(word: str) -> str:
    word = _TYPO.get(word.lower(), ("", word))[1]
    return "SHORT" if word.lower().startswith(_SHORT_SIDES) else "LONG"


def _zone(nums: list[Number]) -> tuple[list[Number], list[Number]]:
    """Split numbers after a side word into the entry (one number or a zone) and the rest."""
    first = nums[0]
    if len(nums) > 1 and nums[1][3] and within_ratio(nums[1][0], first[0], ZONE_MAX_RATIO):
        return [first, nums[1]], nums[2:]
    return [first], nums[1:]


def parse_signal(text: str) -> ParsedSignal:
    """Classify one message and extract its pair, side, entry, targets, stop loss and leverage."""
    low = text.lower()
    if len(low) != len(text):  # a few characters lower-case to two; keep offsets aligned
        low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    if _SIGNAL_HINT.search(low) is None:
        return _no_signal()
    tokens, result_word = _keywords(text, low)
    real = [t for t in tokens if t.lastgroup != "skip"]
    if not any(t.lastgroup in _SIGNAL_KINDS for t in real):
        return _no_signal()
    skips = [t.span() for t in tokens if t.lastgroup == "skip"]

    def numbers(start: int, end: int) -> list[Number]:
        """The numbers of one keyword's region text[start:end], minus transparent spans."""
        if not skips:
            return scan_numbers(text, start, end)
        found: list[Number] = []
        for s, e in skips:
            if s >= end:
                break
            if e <= start:
                continue
            if s > start:
                found += scan_numbers(text, start, s)
            start = max(start, e)
        if start < end:
            found += scan_numbers(text, start, end)
        return found

    side: tuple[str, int, int] | None = None
    side_is_emoji = False
    entry_tok = None
    weak_side: tuple[str, int, int] | None = None
    strong_entry: list[Number] = []
    weak_entry: list[Number] = []
    leftovers: list[Number] = []
    targets: list[Number] = []
    stop: Number | None = None
    lev: tuple[float, int, int] | None = None
    first_level_pos: int | None = None
    has_strong_entry_kw = False
    block_end = len(text)
    stop_pips: float | None = None
    target_pips: list[float] = []

    for i, tok in enumerate(real):
        kind = tok.lastgroup
        if (
            kind == "side"
            and side is not None
            and first_level_pos is None
            and (strong_entry or weak_entry)
            and _side_of(tok.group(0)) != side[0]
        ):
            word_end = tok.start() + len(re.match(r"\w+", text[tok.start() :]).group(0))
            if _SIDE_AS_TARGETS.match(text, word_end):
                kind = "tp"
        region_end = real[i + 1].start() if i + 1 < len(real) else len(text)
        if kind == "side" and first_level_pos is not None and (strong_entry or weak_entry):
            if numbers(tok.end(), region_end) or find_pair(text, tok.end(), region_end):
                block_end = tok.start()  # a second trade in the same post: read only the first
                break
            if side is None:  # "... SL: 140\nLONG": the direction stated last
                word = re.match(r"\w+", text[tok.start() :]).group(0)
                side = (_side_of(word), tok.start(), tok.start() + len(word))
            continue
        if kind == "side" or kind == "at":
            if kind == "side" and side is None:
                word = re.match(r"\w+", text[tok.start() :]).group(0)
                side = (_side_of(word), tok.start(), tok.start() + len(word))
            nums = numbers(tok.end(), region_end)
            if nums and not weak_entry:
                weak_entry, rest = _zone(nums)
                leftovers += rest
            else:
                leftovers += nums
        elif kind == "entry":
            has_strong_entry_kw = True
            if tok.group("eside") and side is None:
                side = (_side_of(tok.group("eside")), *tok.span("eside"))
            nums = numbers(tok.end(), region_end)
            if nums and not strong_entry:
                entry_tok = tok
                ref = nums[0][0]
                strong_entry = [n for n in nums if within_ratio(n[0], ref, _ENTRY_LIST_RATIO)]
                leftovers += [n for n in nums if n not in strong_entry]
            else:
                leftovers += nums
        elif kind == "tp":
            first_level_pos = tok.start() if first_level_pos is None else first_level_pos
            nums = numbers(tok.end(), region_end)
            targets += nums
            pips = _PIP_DISTANCE.match(text, tok.start(), region_end) if not nums else None
            if pips is not None:
                target_pips.append(float(pips.group(1)))
        elif kind == "sl":
            first_level_pos = tok.start() if first_level_pos is None else first_level_pos
            nums = numbers(tok.end(), region_end)
            if stop is None and nums:
                stop = nums[0]
            elif stop is None and stop_pips is None:
                pips = _PIP_DISTANCE.match(text, tok.start(), region_end)
                stop_pips = float(pips.group(1)) if pips is not None else None
        elif kind == "lev" and lev is None:
            lev = _leverage(tok)
        elif kind == "wside" and weak_side is None:
            weak_side = (_side_of(tok.group(0)), *tok.span())

    if strong_entry:
        entry, leftovers = strong_entry, weak_entry + leftovers
    else:
        entry = weak_entry
    if not entry and real:
        pre = numbers(0, real[0].start())
        anchor = stop or (targets[0] if targets else None)
        if pre and anchor and within_ratio(pre[0][0], anchor[0], 1.5):
            entry, _ = _zone(pre)

    if side is None and weak_side is not None:
        side = weak_side
    if side is None and entry and (targets or stop):
        up, down = _EMOJI_UP.search(text), _EMOJI_DOWN.search(text)
        if (up is None) != (down is None):
            hit = up or down
            side = ("LONG" if up else "SHORT", hit.start(), hit.end())
            side_is_emoji = True

    side_source = "stated" if side is not None else None
    if entry:
        lo, hi = min(n[0] for n in entry), max(n[0] for n in entry)
        if stop is not None and not within_ratio(stop[0], lo, _LEVEL_RATIO):
            stop = None
        targets = [t for t in targets if within_ratio(t[0], lo, _LEVEL_RATIO)]
        if side is None or side_is_emoji:
            # No side word: the levels may imply one (an emoji that the levels contradict is
            # decoration, such as a red circle before the stop of a long).
            implied = side_from_levels(
                [n[0] for n in entry], [t[0] for t in targets], stop[0] if stop else None
            )
            if implied is not None and (side is None or side[0] != implied):
                side, side_source = (implied, -1, -1), "levels"
        if side is not None:
            is_long = side[0] == "LONG"
            targets = [t for t in targets if (t[0] > lo if is_long else t[0] < hi)]
            extra: list[Number] = []
            for n in leftovers:
                if not within_ratio(n[0], lo, _LEVEL_RATIO):
                    continue
                beyond_stop = n[0] < lo if is_long else n[0] > hi
                beyond_target = n[0] > hi if is_long else n[0] < lo
                if beyond_stop and stop is None:
                    stop = n
                elif beyond_target and first_level_pos is None:
                    extra.append(n)
            targets += extra
    targets = _dedupe(targets)

    label = _classify(
        text,
        low,
        side,
        side_source,
        entry,
        targets,
        stop,
        has_strong_entry_kw
        or (side_source != "stated" and _pair_led(text, entry, at_ok=len(targets) >= 2)),
        first_level_pos,
        block_end,
        entry_alone=(
            entry_tok is not None
            and side is None
            and not targets
            and stop is None
            and _entry_alone(text, entry_tok, strong_entry)
        ),
    )
    if label == NON_SIGNAL or _result_cue(text, low, real, result_word) is not None:
        return _no_signal()  # targets ticked, profit per target, "closed at": a result

    mention = find_pair(text, 0, block_end) or find_pair(text, block_end)
    if mention is None and side is not None:
        mention = coin_beside(text, side[1], side[2])
    if label != SIGNAL_NONE and mention is None and not (entry or targets or stop):
        return _no_signal()
    pair = None
    spans: list[Span] = []
    if mention is not None:
        sats = SATS_CONTEXT.search(text) is not None or bool(
            entry and entry[0][0] < 1e-3 and mention.base not in MICRO_PRICED_COINS
        )
        pair = pair_symbol(mention, sats)
        spans.append(Span(mention.start, mention.end, "PAIR"))
        if entry and pip_size(mention) is not None and "." in text[entry[0][1] : entry[0][2]]:
            # Currencies and metals below 10 are always quoted with decimals: a bare digit among
            # them is an index or a broken number ("T.p 1 / 1 21520"), not a level of 1.0.
            targets = [t for t in targets if not _bare_digit(text, t)]
            stop = None if stop is not None and _bare_digit(text, stop) else stop
    if side is not None and label != SIGNAL_NONE and side_source == "stated":
        spans.append(Span(side[1], side[2], "SIDE"))
    spans += [Span(n[1], n[2], "ENTRY") for n in entry]
    spans += [Span(n[1], n[2], "TARGET") for n in targets]
    if stop is not None:
        spans.append(Span(stop[1], stop[2], "STOP_LOSS"))
    if lev is None:
        m = _LEV_SUFFIX.search(low, 0, block_end)
        if m is not None:
            lev = (float(m.group(1)), *m.span(1))
    if lev is not None:
        spans.append(Span(lev[1], lev[2], "LEVERAGE"))
    target_values = [n[0] for n in targets]
    stop_value = stop[0] if stop is not None else None
    # Levels stated in pips from the entry ("SL 30 pips") become prices where the pip is known.
    # They have no surface in the text, so they carry no span.
    pip = pip_size(mention) if mention is not None else None
    if pip and entry and side is not None and label != SIGNAL_NONE and (target_pips or stop_pips):
        sign = 1.0 if side[0] == "LONG" else -1.0
        base = entry[0][0]
        if not target_values:
            target_values = [round(base + sign * d * pip, 6) for d in target_pips]
        if stop_value is None and stop_pips is not None:
            stop_value = round(base - sign * stop_pips * pip, 6)
    return ParsedSignal(
        label=label,
        pair=pair,
        side=side[0] if side is not None and label != SIGNAL_NONE else None,
        entry=[n[0] for n in entry],
        targets=target_values,
        stop_loss=stop_value,
        leverage=lev[0] if lev is not None else None,
        spans=_non_overlapping(spans),
        side_source=side_source if label != SIGNAL_NONE else None,
    )


def non_trade_cue(text: str) -> tuple[str, int, int] | None:
    """Where the classifier reads ``text`` as news or chatter rather than a call: a result shaped
    like a signal (a target ticked or marked reached, a profit per target, "closed at", "all
    targets achieved") as ``("RESULT", start, end)``, else the first update or result word
    ("TP1 hit", "closed", "+12%") as ``("UPDATE", start, end)``, else a question as
    ``("QUESTION", start, end)``; ``None`` if there is none.

    The same patterns :func:`parse_signal` uses: a RESULT makes a message NON_SIGNAL, the other
    two are weighed against the levels it found (they do not by themselves make it
    NON_SIGNAL); exposed so that another labeller's signal call can be doubted where the text
    carries one.
    """
    low = text.lower()
    if len(low) != len(text):  # keep offsets aligned, as parse_signal does
        low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    result = _result_cue(text, low)
    if result is not None:
        return ("RESULT", *result)
    update = _at_word_start(_UPDATE, low)
    if update is not None:
        return ("UPDATE", update.start(), update.end())
    question = _outside_links(_QUESTION, low)
    if question is not None:
        return ("QUESTION", question.start(), question.end())
    return None


def _result_cue(
    text: str, low: str, tokens: list | None = None, result_word: bool | None = None
) -> tuple[int, int] | None:
    """Where ``low`` reads as a result of a trade rather than a new one: the span of a ticked
    target, a profit per target, "closed at" or "all targets achieved"; ``None`` if nowhere.

    ``tokens`` are the message's keyword tokens (computed here if not given): a mark right after
    a number counts where that number sits in a target keyword's region ("Targets:\n1) 5.82 ✅").
    ``result_word``: whether :func:`_keywords` saw a word with a result stem (None: not known).
    Linear in the text: the line's first target word and conditional are found once a line.
    """
    if result_word is None:
        if _RESULT_HINT.search(low) is None:
            return None
    elif not result_word and "%" not in low and not any(c in low for c in _TICKS):
        return None
    for m in _DONE_PHRASE.finditer(low):
        if not _word_start(low, m.start()):
            continue
        line_start = low.rfind("\n", 0, m.start()) + 1
        if _CONDITIONAL.search(low, max(line_start, m.start() - 24), m.start()) is None:
            return m.span()  # "hold until all targets hit" is a plan
    line_start = line_end = -1
    target = stop = cond = None
    starts: list[int] | None = None
    legend: bool | None = None
    has_stop: bool | None = None
    for m in _RESULT_MARK.finditer(low):
        s = m.start()
        if s >= line_end:
            line_start = low.rfind("\n", 0, s) + 1
            line_end = low.find("\n", s)
            line_end = len(low) if line_end < 0 else line_end
            target = _TARGET_WORD.search(low, line_start, line_end)
            stop = _STOP_WORD.search(low, line_start, line_end)
            cond = _CONDITIONAL.search(low, line_start, line_end)
        is_word = m.group("word") is not None
        if is_word and not _word_start(low, s):
            continue
        if low[s].isdigit() and _PARTIAL_TAKE.search(low, max(line_start, s - 24), s):
            continue  # "(take 50% profit)"
        if is_word and cond is not None and cond.start() < s:
            continue
        if stop is not None and m.group() in _TICKS:
            continue  # "GOLD BUY 2699.6 SL 2687.2 TP 2710.2 ✅": a one-liner's flourish
        if not is_word and m.group().startswith(_LEGEND_MARKS):
            if legend is None:
                legend = _stop_annotated(low)
            if legend:
                continue
        if low[s] == "+":
            # "TP1: 63000 (+1.6%)" in a post that also sets a stop is a new call stating its
            # target distances; a results recap lists the gains and no stop.
            if has_stop is None:
                has_stop = _STOP_WORD.search(low) is not None
            if has_stop:
                continue
        if target is not None and target.end() <= s:
            return m.span()
        if is_word and stop is not None and stop.end() <= s:
            return m.span()
        j = s
        while j > line_start and low[j - 1] in _GAP_AFTER_LEVEL:
            j -= 1
        if j > line_start and low[j - 1].isdigit():
            if starts is None:
                if tokens is None:
                    tokens = [t for t in _keywords(text, low)[0] if t.lastgroup != "skip"]
                starts = [t.start() for t in tokens]
            k = bisect.bisect_right(starts, j - 1) - 1
            if k >= 0 and tokens[k].lastgroup == "tp":
                return m.span()  # "Targets:\n1) 5.82 ✅"
    return None


_TICKS = frozenset("✅✔☑✓")


def _word_start(low: str, i: int) -> bool:
    return i == 0 or not (low[i - 1].isalpha() or low[i - 1] == "_")


_LEGEND_MARKS = ("✅", "✔", "☑", "✓", "+")


def _stop_annotated(low: str) -> bool:
    """Whether a stop's line carries a cross or a negative percentage after the stop word."""
    checked_to = -1
    for m in _STOP_WORD.finditer(low):
        if m.start() < checked_to:
            continue  # this line was searched from an earlier stop word already
        line_end = low.find("\n", m.end())
        checked_to = len(low) if line_end < 0 else line_end
        if _STOP_MARK.search(low, m.end(), checked_to) is not None:
            return True
    return False


class _Token:
    """A keyword found outside the regex (a side glued to a pair: XAUUSDSELL)."""

    __slots__ = ("lastgroup", "_span")

    def __init__(self, kind: str, start: int, end: int) -> None:
        self.lastgroup = kind
        self._span = (start, end)

    def span(self, group: int | str = 0) -> tuple[int, int]:
        return self._span

    def start(self) -> int:
        return self._span[0]

    def end(self) -> int:
        return self._span[1]

    def group(self, name: int | str = 0) -> str | None:
        return None


def _keywords(text: str, low: str) -> tuple[list, bool]:
    """Keyword tokens in reading order, tried only where a word with a keyword stem starts; and
    whether a word that can state a result ("hit", "closed", "достигнута") occurs (a free
    pre-check for :func:`_result_cue`, from the same pass over the words)."""
    found: list = []
    covered = 0
    result_word = False
    for w in _WORD.finditer(low):
        s = w.start()
        word = w.group()
        if not result_word:
            stem = _RESULT_STEMS.get(word[:3])
            result_word = stem is not None and word.startswith(stem)
        if s < covered:
            continue
        typo = _TYPO.get(word)
        if typo is not None and (word[:2] not in _STEMS or _KEYWORDS.match(low, s) is None):
            found.append(_Token(typo[0], s, w.end()))  # "lnog", "targt", "entery"
            continue
        if word[:2] not in _STEMS:
            glued = _GLUED_SIDE.search(word) if len(word) > 6 else None
            if glued is not None and glued.end() == len(word) and text[s : w.end()].isupper():
                found.append(_Token("side", s + glued.start(1), w.end()))
            continue
        m = _KEYWORDS.match(low, s)
        if m is None:
            continue
        if m.lastgroup == "wside" and not ("option" in m.group() or _option_call(text, s)):
            continue
        found.append(m)
        covered = m.end()
    return found, result_word


def _entry_alone(text: str, tok, entry: list[Number]) -> bool:
    """An entry keyword read as a set-up's label ("XAUUSD\nEntry: 2340", "#SOL entry 142.5"):
    its numbers follow it directly, nothing but the instrument stands before it on its line and
    no word after them ("BTC entry 60000 would be nice" is talk)."""
    if not entry or text[tok.start() : tok.start() + 7].lower() in ("entered",):
        return False
    first, last = entry[0], entry[-1]
    if any(c.isalpha() for c in text[tok.end() : first[1]]):
        return False
    line_end = text.find("\n", last[2])
    rest = _LEV_SUFFIX.sub("", text[last[2] : len(text) if line_end < 0 else line_end].lower())
    if any(c.isalpha() for c in rest):  # "#SOL entry 142.5, 10x" is fine
        return False
    line_start = text.rfind("\n", 0, tok.start()) + 1
    before = text[line_start : tok.start()]
    mention = find_pair(text, line_start, tok.start())
    if mention is not None:
        before = text[line_start : mention.start] + text[mention.end : tok.start()]
    return not any(c.isalpha() for c in before)


_PAIR_LED_GAP = re.compile(r"[\s:@|=>\-–—]*")
_PAIR_LED_AT = re.compile(r"[\s:@|=>\-–—]*(?:[aA][tT]\s+)?")


def _pair_led(text: str, entry: list[Number], *, at_ok: bool = False) -> bool:
    """The entry written right after the instrument that opens its line, as one-liner channels
    do ("#BNB/USDT @ 600.2-592.4, Tp 610 620", "EURUSD 1.0637 targets ..."): as good as an
    entry keyword. "BTC is at 62000" is not, nor "BTC at 62000, next target 64000" unless
    ``at_ok`` (two targets or more follow: "$ADA at 0.45 TP 0.44/0.43")."""
    if not entry:
        return False
    start = entry[0][1]
    line_start = text.rfind("\n", 0, start) + 1
    mention = find_pair(text, line_start, start)
    if mention is None or any(c.isalpha() for c in text[line_start : mention.start]):
        return False
    return (_PAIR_LED_AT if at_ok else _PAIR_LED_GAP).fullmatch(
        text, mention.end, start
    ) is not None


def _bare_digit(text: str, n: Number) -> bool:
    """A level written as one digit with no decimals ("1")."""
    return n[0] < 10 and text[n[1] : n[2]].isdigit()


def _option_call(text: str, start: int) -> bool:
    """CALL/PUT as a direction ("EUR/USD CALL 5 min"): upper case, right after the instrument.
    A headline like "VIP CALL" or "FX CALL" names the post, not a direction."""
    if not text[start : start + 3].isupper():
        return False
    mention = find_pair(text, max(0, start - 16), start)
    return mention is not None and start - mention.end <= 2


_LINK = re.compile(r"https?://\S+|t\.me/\S+|www\.\S+")


def _outside_links(pattern: re.Pattern, low: str) -> re.Match | None:
    """The first match of pattern in low outside a link ("?inviteCode=", "t.me/" are no question
    and no "me")."""
    first = pattern.search(low)
    if first is None:
        return None
    links = [m.span() for m in _LINK.finditer(low)]
    if not links:
        return first
    i = 0
    for m in pattern.finditer(low, first.start()):
        while i < len(links) and links[i][1] <= m.start():
            i += 1
        if i == len(links) or m.start() < links[i][0]:
            return m
    return None


def _at_word_start(pattern: re.Pattern, low: str) -> re.Match | None:
    """The first match of pattern in low that does not start inside a word."""
    for m in pattern.finditer(low):
        s = m.start()
        if s == 0 or not (low[s - 1].isalpha() or low[s - 1] == "_"):
            return m
    return None


def _classify(
    text: str,
    low: str,
    side: tuple[str, int, int] | None,
    side_source: str | None,
    entry: list[Number],
    targets: list[Number],
    stop: Number | None,
    explicit_entry: bool,  # an entry keyword, or the entry right after the instrument
    first_level_pos: int | None,
    block_end: int,
    *,
    entry_alone: bool = False,
) -> str:
    """Signal class from what was found; updates and questions open no trade."""
    n_levels = bool(entry) + bool(targets) + (stop is not None)
    update = _at_word_start(_UPDATE, low)
    if update is not None and (
        first_level_pos is None or update.start() < first_level_pos or n_levels == 0
    ):
        return NON_SIGNAL  # "TP2 hit", "SL hit on ETH long": a keyword with no level is news
    if n_levels < 3 and _outside_links(_QUESTION, low):
        return NON_SIGNAL
    if side is None or side_source == "levels":
        # Without a side word a set-up needs an entry keyword, or both a target and a stop, to
        # be one ("BTC is at 62000, next target 64000" is talk). Levels that imply a side make
        # it a signal; levels that imply none (or an entry alone) leave it SIGNAL_NONE.
        if entry and (targets or stop) and (explicit_entry or (targets and stop)):
            return SIGNAL_NONE if side is None else _SIDE_LABEL[side[0]]
        if entry_alone and not (targets or stop) and not _outside_links(_FIRST_PERSON, low):
            if find_pair(text, 0, block_end) is not None:
                return SIGNAL_NONE  # "XAUUSD\nEntry: 2340": a pair and an entry alone
        return NON_SIGNAL
    label = SIGNAL_LONG if side[0] == "LONG" else SIGNAL_SHORT
    if n_levels >= 2:
        return label
    if low[side[1] : side[2]] in _OPINION or _outside_links(_FIRST_PERSON, low):
        return NON_SIGNAL
    mention = find_pair(text, 0, block_end)
    if mention is None:
        return NON_SIGNAL
    near = abs(mention.start - side[1]) <= 16 or abs(side[1] - mention.end) <= 16
    if n_levels == 1 and near:
        return label
    if n_levels == 0 and near and len(text.strip()) <= _TERSE_MAX_CHARS:
        return label
    return NON_SIGNAL


def _leverage(tok: re.Match) -> tuple[float, int, int]:
    """The leverage a token states; for a range ("5-10x") the upper end."""
    best: tuple[float, int, int] | None = None
    for name in ("lv1", "lv2", "lv3", "lv4", "lv5"):
        raw = tok.group(name)
        if raw is not None and (best is None or float(raw) > best[0]):
            best = (float(raw), *tok.span(name))
    assert best is not None
    return best


def _dedupe(nums: list[Number]) -> list[Number]:
    seen: set[float] = set()
    out: list[Number] = []
    for n in nums:
        if n[0] not in seen:
            seen.add(n[0])
            out.append(n)
    return out


def _non_overlapping(spans: list[Span]) -> tuple[Span, ...]:
    out: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if not out or span.start >= out[-1].end:
            out.append(span)
    return tuple(out)
