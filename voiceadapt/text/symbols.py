"""The fixed, versioned phoneme symbol tables that every checkpoint stores.

``en-ipa-1``: one id per IPA code point that espeak-ng produces for English, plus
stress and length marks, the word boundary (space), sentence and clause punctuation
(which become pauses), and the special padding / sentence-boundary ids.
``ipa-2``: the same ids, then the code points espeak-ng produces for the languages of
corpus v2 (Czech, Finnish, Italian, Russian, Catalan, French, Spanish and the klettres
languages), appended so that an ``en-ipa-1`` model's ids keep their meaning.

:data:`SYMBOL_TABLES` is the registry: a table is named by its version, never edited
(a change is a new version). A checkpoint's stored table must equal the registered
table of its version (:func:`registered_table`); new models use :data:`SYMBOLS_VERSION`.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from dataclasses import dataclass, field

from voiceadapt.text.errors import SymbolTableMismatch

log = logging.getLogger(__name__)

SYMBOLS_VERSION = "ipa-2"

PAD, BOS, EOS = "_", "^", "$"
WORD_BOUNDARY = " "
PUNCTUATION = ",.!?;:-\"'"
STRESS_AND_LENGTH = "ˈˌːˑ"
# English IPA produced by espeak-ng (en-us, en-gb and regional voices), one code point each.
_VOWELS = "aeiouæɑɐɒɔəɘɚɛɜɝɞɪʊʌʏyøœɤɯɨʉɵ"
_CONSONANTS = "bdfghjklmnprstvwxzçðŋɡɫɬɹɾʁʃʒʔθχʍʎɲɳɭɽʂʐɣβɸʲʰʷ"
_DIACRITICS = "\u0303\u0329\u030d\u0361\u032f\u0306ᵻ"
# ipa-2: what espeak-ng adds for corpus v2's languages (palatal, retroflex, pharyngeal and
# alveolo-palatal consonants, raised/dental/voiceless/creaky diacritics, ...).
_MORE_CONSONANTS = "cqħɕɖɟʈʋʑʕʝɦʀɻɱɰʙʡɧɥɓɗʄɠʕʢʜɺʟɮʘǀǁǂǃ"
_MORE_VOWELS = "ɶɑ̈ʏε"
_MORE_DIACRITICS = "ˤ\u030a\u031d\u032a\u0325\u032c\u033a\u033b\u031e\u031f\u0320\u0324\u0330ˠʼ˞ⁿˡ"


def _unique(*parts: str) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for ch in "".join(parts):
        seen.setdefault(ch, None)
    return tuple(seen)


_EN_IPA_1 = _unique(PAD, BOS, EOS, WORD_BOUNDARY, PUNCTUATION, STRESS_AND_LENGTH, _VOWELS,
                    _CONSONANTS, _DIACRITICS)
SYMBOL_TABLES: dict[str, tuple[str, ...]] = {
    "en-ipa-1": _EN_IPA_1,
    "ipa-2": _unique("".join(_EN_IPA_1), _MORE_CONSONANTS, _MORE_VOWELS, _MORE_DIACRITICS),
}


def _default_symbols() -> tuple[str, ...]:
    return SYMBOL_TABLES[SYMBOLS_VERSION]


def registered_table(version: str) -> SymbolTable:
    """The table registered under ``version``; an unknown version is refused."""
    try:
        return SymbolTable(version=version, symbols=SYMBOL_TABLES[version])
    except KeyError:
        raise SymbolTableMismatch(
            f"symbol table {version!r} is unknown to this code (known: {', '.join(SYMBOL_TABLES)}): "
            "the model was made by another version of voiceadapt"
        ) from None


@dataclass(frozen=True)
class SymbolTable:
    """Maps phoneme strings to integer ids and back.

    ``symbols[0]`` is padding; BOS/EOS wrap every encoded sentence.
    """

    version: str = SYMBOLS_VERSION
    symbols: tuple[str, ...] = field(default_factory=_default_symbols)

    def __post_init__(self) -> None:
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError("symbol table has duplicate symbols")
        if self.symbols[0] != PAD:
            raise ValueError("symbol 0 must be the padding symbol")

    def __len__(self) -> int:
        return len(self.symbols)

    @property
    def _index(self) -> dict[str, int]:
        return _index_for(self.symbols)

    @property
    def pad_id(self) -> int:
        return 0

    def encode(self, phonemes: str, add_boundaries: bool = True) -> list[int]:
        """Phoneme string -> ids. Unknown code points are dropped with a warning."""
        index = self._index
        ids = [index[ch] for ch in phonemes if ch in index]
        unknown = {ch for ch in phonemes if ch not in index}
        if unknown:
            log.warning("dropping phoneme symbols not in table %s: %s", self.version,
                        " ".join(sorted(unknown)))
        if add_boundaries:
            ids = [index[BOS], *ids, index[EOS]]
        return ids

    def decode(self, ids: list[int]) -> str:
        return "".join(self.symbols[i] for i in ids if self.symbols[i] not in (PAD, BOS, EOS))

    @property
    def checksum(self) -> str:
        return hashlib.sha256("\x00".join(self.symbols).encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, object]:
        return {"version": self.version, "symbols": list(self.symbols), "checksum": self.checksum}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> SymbolTable:
        symbols = data["symbols"]
        if not isinstance(symbols, list):
            raise SymbolTableMismatch("stored symbol table has no symbol list")
        table = cls(version=str(data["version"]), symbols=tuple(str(s) for s in symbols))
        if "checksum" in data and data["checksum"] != table.checksum:
            raise SymbolTableMismatch("stored symbol table is corrupt: its checksum does not match")
        return table

    def check_compatible(self, other: SymbolTable) -> None:
        """Raise :class:`SymbolTableMismatch` unless ``other`` maps symbols to the same ids."""
        if other.symbols != self.symbols:
            raise SymbolTableMismatch(
                f"symbol table mismatch: the model was made with table {other.version} "
                f"({other.checksum}, {len(other)} symbols) but this code uses "
                f"{self.version} ({self.checksum}, {len(self)} symbols)"
            )


@functools.lru_cache(maxsize=8)
def _index_for(symbols: tuple[str, ...]) -> dict[str, int]:
    return {s: i for i, s in enumerate(symbols)}
