"""Turn real English input into words a phonemizer reads correctly.

espeak-ng on its own reads "Dr." as "doctor." (a sentence break) and "$5.50" as
"dollar five. fifty", so everything that is not a plain word is spelled out here:
numbers, currency, percentages, times, ordinals, phone-like digit runs, common
abbreviations, URLs and e-mail addresses. Unicode punctuation is folded to ASCII,
emoji and control characters are removed.
"""

from __future__ import annotations

import re
import unicodedata

from voiceadapt.text import numbers
from voiceadapt.text.errors import EmptyTextError

_PUNCT_MAP = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
    "\u00ab": '"', "\u00bb": '"', "\u2039": "'", "\u203a": "'",
    "\u2013": " - ", "\u2014": " - ", "\u2015": " - ", "\u2212": "-",
    "\u2026": "...", "\u00a0": " ", "\u2009": " ", "\u202f": " ",
}

_ABBREVIATIONS = {
    "mr": "mister", "mrs": "missus", "ms": "miz", "prof": "professor",
    "jr": "junior", "sr": "senior", "vs": "versus", "approx": "approximately",
    "ave": "avenue", "mt": "mount", "co": "company", "inc": "incorporated",
    "ltd": "limited", "dept": "department", "est": "established", "gov": "governor",
    "sgt": "sergeant", "capt": "captain", "lt": "lieutenant", "col": "colonel",
    "gen": "general", "rd": "road", "blvd": "boulevard", "jan": "january",
    "feb": "february", "mar": "march", "apr": "april", "aug": "august",
    "sept": "september", "sep": "september", "oct": "october", "nov": "november",
    "dec": "december",
}
_LATIN = {"e.g.": "for example", "i.e.": "that is", "etc.": "et cetera"}
_UNITS = {
    "km": "kilometers", "kg": "kilograms", "cm": "centimeters", "mm": "millimeters",
    "mph": "miles per hour", "kph": "kilometers per hour", "ft": "feet", "lbs": "pounds",
    "lb": "pounds", "oz": "ounces", "ml": "milliliters", "kb": "kilobytes",
    "mb": "megabytes", "gb": "gigabytes", "hz": "hertz", "khz": "kilohertz",
    "°c": "degrees celsius", "°f": "degrees fahrenheit", "°": "degrees",
}
_CURRENCY = {"$": ("dollar", "dollars", "cent", "cents"),
             "£": ("pound", "pounds", "penny", "pence"),
             "€": ("euro", "euros", "cent", "cents")}
_SCALE_WORDS = "thousand|million|billion|trillion"
_SYMBOLS = {"&": " and ", "+": " plus ", "=": " equals ", "@": " at ", "%": " percent ",
            "#": " number ", "/": " slash ", "*": " ", "_": " ", "~": " ", "^": " ",
            "|": ", ", "<": " less than ", ">": " greater than ", "\\": " "}

_URL = re.compile(r"\b(?:https?://|www\.)[^\s]+", re.IGNORECASE)
_EMAIL = re.compile(r"\b([\w.+-]+)@([\w-]+(?:\.[\w-]+)+)\b")
_MONEY = re.compile(
    rf"([$£€])\s?(\d{{1,3}}(?:,\d{{3}})+|\d+)(?:\.(\d+))?(?:\s?({_SCALE_WORDS})\b)?", re.IGNORECASE
)
_PERCENT = re.compile(r"(-?\d+(?:,\d{3})*(?:\.\d+)?)\s?%")
# The dot of a final "p.m." is kept when it also ends the sentence.
_AMPM = r"([ap])\.?m\b(?:\.(?=\s+(?-i:[a-z])|[,;:]))?"
_TIME = re.compile(r"\b(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s?" + _AMPM + ")?", re.IGNORECASE)
_HOUR_AMPM = re.compile(r"\b(\d{1,2})\s?" + _AMPM, re.IGNORECASE)
_ORDINAL = re.compile(r"\b(\d+)(st|nd|rd|th)\b", re.IGNORECASE)
_PHONE = re.compile(
    r"(?:\+\d{1,3}[\s.-])?(?:\(\d{3}\)\s?|\b\d{3}[\s.-])\d{3}[\s.-]\d{4}\b"
)
_LEADING_ZERO_RUN = re.compile(r"(?<![\d,.])\b0\d+\b(?![,.]\d)")
_YEAR = re.compile(r"(?<![\d,.])\b(1[1-9]\d\d|20\d\d)(s?)\b(?![,.]\d)")
_DECADE = re.compile(r"(?<!\w)'?(\d0)s\b")
_NUMBER = re.compile(r"(?<![\w.])(-?)(\d+(?:,\d+)*)(?:\.(\d+))?(?![\d])")
_UNIT = re.compile(
    r"(\d)\s?(" + "|".join(sorted(map(re.escape, _UNITS), key=len, reverse=True)) + r")(?![\w])",
    re.IGNORECASE,
)
_ABBREV = re.compile(r"\b(" + "|".join(_ABBREVIATIONS) + r")\.(?=\s|$)", re.IGNORECASE)
_DR_ST = re.compile(r"\b(Dr|St)\.(\s+)(?=([A-Z])?)")
_NO_NUMBER = re.compile(r"\bNo\.\s?(?=\d)")


def _clean_unicode(text: str) -> str:
    text = "".join(_PUNCT_MAP.get(ch, ch) for ch in text)
    text = unicodedata.normalize("NFKC", text)
    out = []
    for ch in unicodedata.normalize("NFKD", text):
        cat = unicodedata.category(ch)
        if ch in "\n\t ":
            out.append(" ")
        elif cat == "Mn":  # combining accents: café -> cafe
            continue
        elif cat[0] == "C" or cat in ("So", "Sk"):  # control, format, emoji, private use
            if ch == "°":
                out.append(ch)
            continue
        else:
            out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


def _spell_dotted(text: str) -> str:
    return " dot ".join(part for part in re.split(r"[.]", text) if part)


def _url(m: re.Match[str]) -> str:
    url = re.sub(r"^(?:https?://)?(?:www\.)?", "", m.group(0), flags=re.IGNORECASE)
    trailing = ""
    while url and url[-1] in ".,;:!?)":  # sentence punctuation after the address
        trailing = url[-1] + trailing
        url = url[:-1]
    host = re.split(r"[/?#:]", url, maxsplit=1)[0]
    return _spell_dotted(host.lower()) + trailing


def _email(m: re.Match[str]) -> str:
    user = re.sub(r"[._+-]", " ", m.group(1))
    return f"{user} at {_spell_dotted(m.group(2).lower())}"


def _amount(whole: str) -> int:
    return int(whole.replace(",", ""))


def _money(m: re.Match[str]) -> str:
    one, many, sub_one, sub_many = _CURRENCY[m.group(1)]
    whole, frac, scale = _amount(m.group(2)), m.group(3), m.group(4)
    if scale:
        value = numbers.decimal(f"{whole}.{frac}") if frac else numbers.cardinal(whole)
        return f"{value} {scale.lower()} {many}"
    cents = int((frac + "0")[:2]) if frac else 0
    parts = []
    if whole or not cents:
        parts.append(f"{numbers.cardinal(whole)} {one if whole == 1 else many}")
    if cents:
        parts.append(f"{numbers.cardinal(cents)} {sub_one if cents == 1 else sub_many}")
    return " and ".join(parts) if len(parts) == 2 and not frac else " ".join(parts)


def _percent(m: re.Match[str]) -> str:
    return _number_words(m.group(1)) + " percent"


def _number_words(text: str) -> str:
    sign = "minus " if text.startswith("-") else ""
    text = text.lstrip("-").replace(",", "")
    return sign + (numbers.decimal(text) if "." in text else numbers.cardinal(int(text)))


def _time(m: re.Match[str]) -> str:
    hour, minute, ampm = int(m.group(1)), int(m.group(2)), m.group(4)
    if hour > 24 or minute > 59:
        return m.group(0)
    words = numbers.cardinal(hour)
    if minute == 0:
        words += "" if ampm else " o'clock"
    elif minute < 10:
        words += " oh " + numbers.cardinal(minute)
    else:
        words += " " + numbers.cardinal(minute)
    if ampm:
        words += f" {ampm.lower()} m"
    return words


def _phone(m: re.Match[str]) -> str:
    groups = re.findall(r"\d+", m.group(0))
    return ", ".join(numbers.digits(g) for g in groups)


def _year(m: re.Match[str]) -> str:
    words = numbers.year(int(m.group(1)))
    if m.group(2):  # 1990s -> nineteen nineties
        words = words[:-1] + "ies" if words.endswith("y") else words + "s"
    return words


def _decade(m: re.Match[str]) -> str:
    words = numbers.cardinal(int(m.group(1)))
    return words[:-1] + "ies"


def _number(m: re.Match[str]) -> str:
    sign, whole, frac = m.group(1), m.group(2), m.group(3)
    if "," in whole and not re.fullmatch(r"\d{1,3}(,\d{3})+", whole):
        return " , ".join(_number_words(p) for p in whole.split(",") if p)  # a list: 1,2,3
    text = sign + whole + (f".{frac}" if frac else "")
    return _number_words(text)


def _dr_st(m: re.Match[str]) -> str:
    abbrev, space, capital_follows = m.group(1), m.group(2), m.group(3)
    if abbrev == "Dr":
        return ("doctor" if capital_follows else "drive") + space
    return ("saint" if capital_follows else "street") + space


_LONG_NUMBER = re.compile(r"\d(?:[,.]?\d){15,}")


def normalize(text: str) -> str:
    """Return ``text`` as plain spoken words and sentence punctuation.

    Raises :class:`EmptyTextError` when nothing speakable is left.
    """
    if not isinstance(text, str):
        raise EmptyTextError(f"text must be a string, got {type(text).__name__}")
    text = _clean_unicode(text)
    # numbers too long to read as quantities (cardinal() spells 10^15 and up digit by digit)
    # are spelled first, before any rule turns thousands of digits into one int
    text = _LONG_NUMBER.sub(lambda m: " " + numbers.digits(m.group(0)) + " ", text)
    text = _URL.sub(_url, text)
    text = _EMAIL.sub(_email, text)
    for latin, words in _LATIN.items():  # the dot stays when it also ends the sentence
        pattern = "(?i:" + re.escape(latin) + ")"
        text = re.sub(pattern + r"(?=\s+[a-z]|[,;:])", words, text)
        text = re.sub(pattern + r"(?=\s|$)", words + ".", text)
    text = _DR_ST.sub(_dr_st, text)
    text = re.sub(r"\b(Dr|St)\.$", lambda m: "drive." if m.group(1) == "Dr" else "street.", text)
    text = _NO_NUMBER.sub("number ", text)
    text = _ABBREV.sub(lambda m: _ABBREVIATIONS[m.group(1).lower()], text)
    text = _MONEY.sub(_money, text)
    text = _PERCENT.sub(_percent, text)
    text = _TIME.sub(_time, text)
    text = _HOUR_AMPM.sub(lambda m: f"{numbers.cardinal(int(m.group(1)))} {m.group(2).lower()} m",
                          text)
    text = _PHONE.sub(_phone, text)
    text = _ORDINAL.sub(lambda m: numbers.ordinal(int(m.group(1))), text)
    text = _UNIT.sub(lambda m: f"{m.group(1)} {_UNITS[m.group(2).lower()]}", text)
    text = _LEADING_ZERO_RUN.sub(lambda m: numbers.digits(m.group(0)), text)
    text = _YEAR.sub(_year, text)
    text = _DECADE.sub(_decade, text)
    text = _NUMBER.sub(_number, text)
    text = re.sub(r"(?<=[a-z])-(?=\d)", " ", text)
    for symbol, words in _SYMBOLS.items():
        text = text.replace(symbol, words)
    text = re.sub(r"[\[\]{}()]", ", ", text)
    text = re.sub(r"\s+([,.!?;:])", r"\1", text)
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)
    text = re.sub(r"^[\s,;:.]+", "", text)
    text = re.sub(r"\s+", " ", text).strip()
    if not re.search(r"[A-Za-z]", text):
        raise EmptyTextError("the text has nothing to speak: it is empty or has no words")
    return text
