"""Split normalized text into sentences short enough to synthesize and stream one by one."""

from __future__ import annotations

import re

MAX_SENTENCE_CHARS = 250
"""Longer sentences are cut at clause punctuation, then at word boundaries."""

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_CLAUSE_END = re.compile(r"(?<=[,;:])\s+")


def _pack(pieces: list[str], max_chars: int, joiner: str = " ") -> list[str]:
    """Greedily join consecutive pieces while the result stays within ``max_chars``."""
    out: list[str] = []
    for piece in pieces:
        if out and len(out[-1]) + len(joiner) + len(piece) <= max_chars:
            out[-1] = out[-1] + joiner + piece
        else:
            out.append(piece)
    return out


def _split_long(sentence: str, max_chars: int) -> list[str]:
    if len(sentence) <= max_chars:
        return [sentence]
    chunks: list[str] = []
    for clause in _pack(_CLAUSE_END.split(sentence), max_chars):
        if len(clause) <= max_chars:
            chunks.append(clause)
            continue
        words = clause.split(" ")
        # a single "word" longer than the limit (no spaces at all) is cut hard
        pieces = [w[i : i + max_chars] for w in words for i in range(0, len(w), max_chars)]
        chunks.extend(_pack(pieces, max_chars))
    return chunks


def split_sentences(text: str, max_chars: int = MAX_SENTENCE_CHARS) -> list[str]:
    """Split already-normalized text into sentences of at most ``max_chars`` characters.

    Sentence ends are ``.``, ``!`` and ``?`` followed by a space; a sentence longer than
    ``max_chars`` is cut at commas, semicolons and colons, then between words.
    """
    if max_chars < 20:
        raise ValueError("max_chars must be at least 20")
    sentences: list[str] = []
    for raw in _SENTENCE_END.split(text.strip()):
        raw = raw.strip()
        if raw:
            sentences.extend(_split_long(raw, max_chars))
    return sentences
