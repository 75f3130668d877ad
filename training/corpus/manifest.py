"""The one manifest format every corpus is written in, synthetic or imported.

A corpus folder holds ``manifest.jsonl`` (one utterance a line), ``speakers.json``
(speaker -> split, source, voice parameters) and ``corpus.json`` (how it was made and
its summary). Audio paths are relative to the folder, or absolute for imported
corpora whose audio stays where it is.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from training.corpus.sentences import diphones
from voiceadapt.files import atomic_write_text

SPLITS = ("train", "dev")
MANIFEST, SPEAKERS, INFO = "manifest.jsonl", "speakers.json", "corpus.json"


@dataclass(frozen=True)
class Utterance:
    id: str
    speaker: str
    text: str  # as written
    normalized: str  # as spoken (the text front-end's normalization)
    phonemes: str
    audio: str
    duration: float  # seconds
    split: str
    language: str = "en-us"  # espeak-ng language of the phonemes
    # what the build put the audio through: "" untouched, a codec, or "analog" (room/EQ/noise)
    channel: str = ""

    @property
    def transcribed(self) -> bool:
        """False for a recording whose words are unknown (usable without text only)."""
        return bool(self.phonemes)


@dataclass(frozen=True)
class Speaker:
    name: str
    split: str
    source: str  # "flite-kal" for a derived synthetic speaker, "vctk", "libritts", ...
    params: dict[str, float] = field(default_factory=dict)


@dataclass
class Corpus:
    root: Path
    utterances: list[Utterance]
    speakers: dict[str, Speaker]
    info: dict[str, Any]

    def audio_path(self, utt: Utterance) -> Path:
        path = Path(utt.audio)
        return path if path.is_absolute() else self.root / path

    def split(self, name: str) -> list[Utterance]:
        return [u for u in self.utterances if u.split == name]


def summarize(utterances: list[Utterance], speakers: dict[str, Speaker]) -> dict[str, Any]:
    """Counts, hours and diphone coverage, per split and in total."""
    covered: set[tuple[str, str]] = set()
    for u in utterances:
        covered |= diphones(u.phonemes)
    out: dict[str, Any] = {
        "speakers": len(speakers),
        "utterances": len(utterances),
        "hours": round(sum(u.duration for u in utterances) / 3600, 3),
        "distinct_sentences": len({u.normalized for u in utterances}),
        "distinct_diphones": len(covered),
    }
    for split in SPLITS:
        utts = [u for u in utterances if u.split == split]
        out[split] = {
            "speakers": sum(1 for s in speakers.values() if s.split == split),
            "utterances": len(utts),
            "hours": round(sum(u.duration for u in utts) / 3600, 3),
        }
    return out


def write_corpus(root: Path, utterances: Iterable[Utterance], speakers: dict[str, Speaker],
                 info: dict[str, Any]) -> Corpus:
    utts = sorted(utterances, key=lambda u: (u.speaker, u.id))
    unknown = {u.speaker for u in utts} - set(speakers)
    if unknown:
        raise ValueError(f"utterances name speakers missing from the speaker table: {sorted(unknown)}")
    info = {**info, "summary": summarize(utts, speakers)}
    atomic_write_text(root / MANIFEST, "".join(json.dumps(asdict(u), ensure_ascii=False) + "\n"
                                               for u in utts))
    atomic_write_text(root / SPEAKERS, json.dumps({k: asdict(v) for k, v in sorted(speakers.items())},
                                                  indent=1, ensure_ascii=False))
    atomic_write_text(root / INFO, json.dumps(info, indent=1, ensure_ascii=False))
    return Corpus(root=root, utterances=utts, speakers=speakers, info=info)


def read_corpus(root: str | os.PathLike[str]) -> Corpus:
    root = Path(root)
    if not (root / MANIFEST).exists():
        raise FileNotFoundError(f"{root} holds no {MANIFEST}: build or import a corpus there first")
    with open(root / MANIFEST, encoding="utf-8") as f:
        utts = [Utterance(**json.loads(line)) for line in f if line.strip()]
    speakers = {k: Speaker(**v) for k, v in json.loads((root / SPEAKERS).read_text()).items()}
    info = json.loads((root / INFO).read_text()) if (root / INFO).exists() else {}
    return Corpus(root=root, utterances=utts, speakers=speakers, info=info)
