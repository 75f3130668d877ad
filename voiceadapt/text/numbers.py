"""English number words: cardinals, ordinals, years, decimals, digit runs."""

from __future__ import annotations

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = (
    (10**12, "trillion"),
    (10**9, "billion"),
    (10**6, "million"),
    (1000, "thousand"),
)
_ORDINAL_IRREGULAR = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}


def _below_thousand(n: int) -> str:
    words: list[str] = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        words += [_ONES[hundreds], "hundred"]
    if rest:
        if rest < 20:
            words.append(_ONES[rest])
        else:
            tens, ones = divmod(rest, 10)
            words.append(_TENS[tens] + (f"-{_ONES[ones]}" if ones else ""))
    return " ".join(words)


def cardinal(n: int) -> str:
    """``1234`` -> ``one thousand two hundred thirty-four``; negatives get ``minus``."""
    if n < 0:
        return "minus " + cardinal(-n)
    if n < 1000:
        return _ONES[n] if n < 20 else _below_thousand(n)
    if n >= 10**15:
        return digits(str(n))
    words: list[str] = []
    for value, name in _SCALES:
        count, n = divmod(n, value)
        if count:
            words += [cardinal(count), name]
    if n:
        words.append(_below_thousand(n))
    return " ".join(words)


def ordinal(n: int) -> str:
    """``21`` -> ``twenty-first``."""
    words = cardinal(n)
    head, sep, last = words.rpartition(" ")
    stem_head, dash, unit = last.rpartition("-")
    if unit in _ORDINAL_IRREGULAR:
        unit = _ORDINAL_IRREGULAR[unit]
    elif unit.endswith("y"):
        unit = unit[:-1] + "ieth"
    else:
        unit += "th"
    return head + sep + stem_head + dash + unit


def year(n: int) -> str:
    """Read a year the way people say it: 1984 -> nineteen eighty-four, 2005 -> two thousand five."""
    if n < 1000 or n > 9999 or (n % 1000 < 10 and n // 1000 == 2) or n % 1000 == 0:
        return cardinal(n)
    high, low = divmod(n, 100)
    if low == 0:
        return f"{cardinal(high)} hundred"
    if low < 10:
        return f"{cardinal(high)} oh {cardinal(low)}"
    return f"{cardinal(high)} {cardinal(low)}"


def digits(run: str) -> str:
    """Read a digit run one digit at a time (phone numbers, codes): ``"0042"`` -> ``zero zero four two``."""
    return " ".join(_ONES[int(ch)] for ch in run if ch.isdigit())


def decimal(text: str) -> str:
    """``"3.14"`` -> ``three point one four``; ``".5"`` -> ``point five``."""
    whole, _, frac = text.partition(".")
    head = cardinal(int(whole)) if whole else ""
    tail = ("point " + digits(frac)) if frac else ""
    return " ".join(part for part in (head, tail) if part)
