"""Generate phonetically rich English sentences and select them for diphone coverage.

Sentences come from the project's own templates and word lists, so the corpus
holds no copyrighted text. A large seeded candidate pool is phonemized, and a
lazy-greedy set-cover picks sentences that add the most new diphones (then new
words); once coverage saturates, the rest are drawn at random from the pool.
"""

from __future__ import annotations

import heapq
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from training.corpus import wordlists as W
from voiceadapt.text import normalize, phonemize

_MARKS = "ˈˌ"
_ATTACH = "ːˑ\u0303\u0329\u030d\u0361\u032f\u0306ʲʰʷ"
PAUSE = "#"


def phones(ipa: str) -> list[str]:
    """Split an espeak IPA string into phone tokens; punctuation becomes a pause ``#``.

    Stress marks are dropped, length marks and diacritics stay on their phone, word
    boundaries are ignored (connected speech), and the sequence starts and ends in a pause.
    """
    out = [PAUSE]
    for ch in ipa:
        if ch in _MARKS or ch == " ":
            continue
        if ch in ",.!?;:\"'-":
            if out[-1] != PAUSE:
                out.append(PAUSE)
        elif ch in _ATTACH and out[-1] != PAUSE:
            out[-1] += ch
        else:
            out.append(ch)
    if out[-1] != PAUSE:
        out.append(PAUSE)
    return out


def diphones(ipa: str) -> set[tuple[str, str]]:
    seq = phones(ipa)
    return set(zip(seq, seq[1:], strict=False))


def _pick(rng: random.Random, items: list) -> object:
    return items[rng.randrange(len(items))]


def _templates() -> list[Callable[[random.Random], str]]:
    p = _pick

    def noun(r: random.Random) -> str:
        return p(r, W.NOUNS)[0]

    def plural(r: random.Random) -> str:
        return p(r, W.NOUNS)[1]

    def verb(r: random.Random, form: int) -> str:
        return p(r, W.VERBS)[form]

    def adj(r: random.Random) -> str:
        return str(p(r, W.ADJECTIVES))

    def a(word: str) -> str:
        return ("an " if word[0] in "aeiou" else "a ") + word

    return [
        lambda r: f"The {adj(r)} {noun(r)} {verb(r, 2)} the {noun(r)} {p(r, W.TIMES)}.",
        lambda r: f"{p(r, W.NAMES)} {verb(r, 2)} {a(adj(r))} {noun(r)} near {p(r, W.PLACES)}.",
        lambda r: f"Why did the {noun(r)} {p(r, W.MOTIONS)[0]} so {p(r, W.ADVERBS)}?",
        lambda r: f"Please {verb(r, 0)} the {adj(r)} {plural(r)} before {p(r, W.NAMES)} arrives.",
        lambda r: f"{p(r, W.NUMBERS).capitalize()} {adj(r)} {plural(r)} "
                  f"{p(r, W.MOTIONS)[1]} {p(r, W.PREPOSITIONS)} {p(r, W.PLACES)}.",
        lambda r: f"Did you hear that {p(r, W.NAMES)} {verb(r, 2)} the {noun(r)} {p(r, W.TIMES)}?",
        lambda r: f"How {adj(r)} the {noun(r)} looked {p(r, W.PREPOSITIONS)} the {noun(r)}!",
        lambda r: f"{p(r, W.NAMES)} and {p(r, W.NAMES)} {p(r, W.ADVERBS)} {verb(r, 2)} "
                  f"{p(r, W.NUMBERS)} {plural(r)}.",
        lambda r: f"My {noun(r)} always {verb(r, 1)} {a(adj(r))} {noun(r)} {p(r, W.TIMES)}.",
        lambda r: f"If the {noun(r)} is {adj(r)}, we will {verb(r, 0)} it {p(r, W.ADVERBS)}.",
        lambda r: f"The {plural(r)} {p(r, W.PREPOSITIONS)} {p(r, W.PLACES)} seemed {adj(r)} "
                  f"and {adj(r)}.",
        lambda r: f"Nobody expected {a(adj(r))} {noun(r)} to {verb(r, 0)} the {noun(r)}.",
        lambda r: f"Where is the {adj(r)} {noun(r)} that {p(r, W.NAMES)} {verb(r, 2)}?",
        lambda r: f"{p(r, W.NAMES)} paid ${r.randrange(2, 99)} for {a(adj(r))} {noun(r)} "
                  f"{p(r, W.TIMES)}.",
        lambda r: f"The {noun(r)} left {p(r, W.PLACES)} at {r.randrange(1, 12)}:"
                  f"{r.choice(['00', '05', '15', '30', '45', '50'])}, with {p(r, W.NUMBERS)} "
                  f"{plural(r)}.",
        lambda r: f"{p(r, W.ADVERBS).capitalize()}, the {adj(r)} {noun(r)} "
                  f"{verb(r, 2)} {p(r, W.NAMES)}'s {noun(r)}.",
        lambda r: f"Would you {verb(r, 0)} my {noun(r)} while I {p(r, W.MOTIONS)[0]} "
                  f"to {p(r, W.PLACES)}?",
        lambda r: f"Only {p(r, W.NUMBERS)} {plural(r)} were {adj(r)} enough to "
                  f"{verb(r, 0)} the {noun(r)}.",
    ]


def generate_candidates(count: int, seed: int) -> list[str]:
    """``count`` distinct generated sentences (fewer only if the templates run dry)."""
    rng = random.Random(seed)
    templates = _templates()
    seen: dict[str, None] = {}
    attempts = 0
    while len(seen) < count and attempts < count * 20:
        attempts += 1
        sentence = re.sub(r"\s+", " ", templates[rng.randrange(len(templates))](rng)).strip()
        seen.setdefault(sentence, None)
    return list(seen)


@dataclass(frozen=True)
class SentenceSet:
    """Selected sentences with their normalized text and phonemes, in selection order."""

    texts: tuple[str, ...]
    normalized: tuple[str, ...]
    phonemes: tuple[str, ...]
    pool_diphones: int  # distinct diphones over the whole candidate pool

    def coverage(self, count: int | None = None) -> tuple[int, float]:
        """(distinct diphones, fraction of the pool's) in the first ``count`` sentences."""
        covered: set[tuple[str, str]] = set()
        for ipa in self.phonemes[:count]:
            covered |= diphones(ipa)
        return len(covered), len(covered) / max(1, self.pool_diphones)


def select_sentences(count: int, seed: int, pool_factor: int = 8) -> SentenceSet:
    """Pick ``count`` sentences from a pool of ``count * pool_factor`` by diphone coverage."""
    pool = generate_candidates(max(count * pool_factor, 200), seed)
    normalized = [normalize(s) for s in pool]
    ipa = phonemize(normalized)
    units = [diphones(p) for p in ipa]
    words = [set(n.lower().split()) for n in normalized]
    pool_diphones = len(set().union(*units))

    covered_d: set[tuple[str, str]] = set()
    covered_w: set[str] = set()

    def gain(i: int) -> float:
        return len(units[i] - covered_d) + 0.1 * len(words[i] - covered_w)

    # lazy greedy: gains only shrink, so a stale heap top that still wins after refresh is best
    heap = [(-gain(i), i) for i in range(len(pool))]
    heapq.heapify(heap)
    chosen: list[int] = []
    while heap and len(chosen) < count:
        neg, i = heapq.heappop(heap)
        fresh = gain(i)
        if fresh <= 0:
            heapq.heappush(heap, (0.0, i))
            break
        if heap and fresh < -heap[0][0]:
            heapq.heappush(heap, (-fresh, i))
            continue
        chosen.append(i)
        covered_d |= units[i]
        covered_w |= words[i]
    rest = sorted(set(range(len(pool))) - set(chosen))
    random.Random(seed + 1).shuffle(rest)
    chosen += rest[: count - len(chosen)]
    return SentenceSet(
        texts=tuple(pool[i] for i in chosen),
        normalized=tuple(normalized[i] for i in chosen),
        phonemes=tuple(ipa[i] for i in chosen),
        pool_diphones=pool_diphones,
    )
