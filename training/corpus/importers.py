"""Importers for real corpora into the common manifest; the audio stays where it is.

Layouts understood:

- VCTK: ``txt/<spk>/<spk>_<n>.txt`` with audio in ``wav48_silence_trimmed/<spk>/<spk>_<n>_mic1.flac``
  (0.92) or ``wav48/<spk>/<spk>_<n>.wav`` (0.80).
- LibriTTS / LibriTTS-R: ``<subset>/<spk>/<chapter>/<id>.wav`` beside ``<id>.normalized.txt``
  (or ``<id>.original.txt``).
- LJSpeech: ``metadata.csv`` (``id|text|normalized text``) and ``wavs/<id>.wav``; one speaker.

Dev speakers are picked by a seeded shuffle of the sorted speaker ids.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from pathlib import Path

import soundfile as sf

from training.corpus.manifest import Corpus, Speaker, Utterance, write_corpus
from voiceadapt.text import EmptyTextError, normalize, phonemize

FORMATS = ("vctk", "libritts", "ljspeech")


def _vctk(src: Path) -> Iterator[tuple[str, str, Path, str]]:
    for txt in sorted((src / "txt").glob("*/*.txt")):
        spk, stem = txt.parent.name, txt.stem
        candidates = [
            src / "wav48_silence_trimmed" / spk / f"{stem}_mic1.flac",
            src / "wav48" / spk / f"{stem}.wav",
            src / "wav48_silence_trimmed" / spk / f"{stem}_mic2.flac",
        ]
        audio = next((c for c in candidates if c.exists()), None)
        if audio is not None:
            yield stem, spk, audio, txt.read_text(encoding="utf-8").strip()


def _libritts(src: Path) -> Iterator[tuple[str, str, Path, str]]:
    for wav in sorted(src.rglob("*.wav")):
        stem = wav.name[: -len(".wav")]
        for suffix in (".normalized.txt", ".original.txt"):
            txt = wav.with_name(stem + suffix)
            if txt.exists():
                spk = stem.split("_")[0]
                yield stem, spk, wav, txt.read_text(encoding="utf-8").strip()
                break


def _ljspeech(src: Path) -> Iterator[tuple[str, str, Path, str]]:
    with open(src / "metadata.csv", encoding="utf-8", newline="") as f:
        for row in csv.reader(f, delimiter="|", quoting=csv.QUOTE_NONE):
            if len(row) < 2:
                continue
            text = row[2] if len(row) > 2 and row[2].strip() else row[1]
            wav = src / "wavs" / f"{row[0]}.wav"
            if wav.exists():
                yield row[0], "ljspeech", wav, text.strip()


_READERS = {"vctk": _vctk, "libritts": _libritts, "ljspeech": _ljspeech}


def import_corpus(fmt: str, src: str | Path, out: str | Path, dev_speakers: int = 0,
                  seed: int = 1234) -> tuple[Corpus, int]:
    """Write a manifest for the corpus at ``src`` into ``out``.

    Returns the corpus and the number of entries skipped (no text, unreadable audio).
    """
    if fmt not in _READERS:
        raise ValueError(f"unknown corpus format {fmt!r}; choose one of {', '.join(FORMATS)}")
    src = Path(src).resolve()
    if not src.is_dir():
        raise FileNotFoundError(f"{src} is not a folder")
    entries, skipped = [], 0
    for utt_id, spk, audio, text in _READERS[fmt](src):
        try:
            normalized = normalize(text)
            info = sf.info(str(audio))
        except (EmptyTextError, RuntimeError):
            skipped += 1
            continue
        entries.append((f"{fmt}-{utt_id}", f"{fmt}-{spk}", audio, text, normalized,
                        info.frames / info.samplerate))
    if not entries:
        raise ValueError(f"found no {fmt} utterances under {src}")
    names = sorted({e[1] for e in entries})
    if dev_speakers >= len(names) and dev_speakers > 0:
        raise ValueError(f"asked for {dev_speakers} dev speakers but the corpus has {len(names)}")
    shuffled = names[:]
    random.Random(seed).shuffle(shuffled)
    dev = set(shuffled[:dev_speakers])
    speakers = {n: Speaker(name=n, split="dev" if n in dev else "train", source=fmt) for n in names}
    phonemes = phonemize([e[4] for e in entries])
    utterances = [
        Utterance(id=uid, speaker=spk, text=text, normalized=norm, phonemes=ipa, audio=str(audio),
                  duration=round(dur, 4), split=speakers[spk].split)
        for (uid, spk, audio, text, norm, dur), ipa in zip(entries, phonemes, strict=True)
    ]
    info = {"kind": "imported", "format": fmt, "source": str(src), "dev_speakers": dev_speakers,
            "seed": seed, "skipped": skipped}
    return write_corpus(Path(out), utterances, speakers, info), skipped
