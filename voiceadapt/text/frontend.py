"""The whole text front-end in one call: normalize, split, phonemize, encode."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from voiceadapt.text.errors import EmptyTextError
from voiceadapt.text.g2p import DEFAULT_LANGUAGE, phonemize
from voiceadapt.text.normalize import normalize
from voiceadapt.text.sentences import MAX_SENTENCE_CHARS, split_sentences
from voiceadapt.text.symbols import SymbolTable

MAX_TEXT_CHARS = 100_000
"""Longer input is refused before any work is done (the service sets its own lower limit)."""


@dataclass(frozen=True)
class Sentence:
    """One sentence ready for the acoustic model."""

    text: str  # normalized words
    phonemes: str  # IPA with stress marks and word boundaries
    ids: tuple[int, ...]  # symbol ids including BOS/EOS


def process(
    text: str,
    table: SymbolTable | None = None,
    language: str = DEFAULT_LANGUAGE,
    max_sentence_chars: int = MAX_SENTENCE_CHARS,
) -> list[Sentence]:
    """Raw user text -> sentences with phonemes and ids, in reading order."""
    if isinstance(text, str) and len(text) > MAX_TEXT_CHARS:
        raise EmptyTextError(
            f"the text is {len(text)} characters long; the limit is {MAX_TEXT_CHARS}"
        )
    table = table or SymbolTable()
    sentences = split_sentences(normalize(text), max_sentence_chars)
    phonemes = phonemize(sentences, language)
    out = [
        Sentence(text=s, phonemes=p, ids=tuple(table.encode(p)))
        for s, p in zip(sentences, phonemes, strict=True)
        if p.strip(" ,.!?;:\"'")
    ]
    if not out:
        raise EmptyTextError("the text has nothing to speak")
    return out


def transcript(text: str, table: SymbolTable | None = None,
               language: str = DEFAULT_LANGUAGE) -> Sentence:
    """What one reference clip says, as one utterance (never split into sentences): English
    is normalized first (numbers, abbreviations); other languages are phonemized as written
    by espeak-ng in that language."""
    table = table or SymbolTable()
    if language.split("-")[0] == "en":
        words = normalize(text)
    else:
        words = " ".join(unicodedata.normalize("NFC", text).split())
    phonemes = " ".join(phonemize([words], language))
    return Sentence(text=words, phonemes=phonemes, ids=tuple(table.encode(phonemes)))
