"""Corpus presets and the deterministic plan a build follows (speakers, splits, sentences)."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

from training.corpus.derive import SpeakerParams, sample_params
from training.corpus.sentences import SentenceSet, select_sentences
from training.corpus.voices import TRAINING_VOICES, voice_by_name


@dataclass(frozen=True)
class CorpusConfig:
    """What to build. Everything else follows from these fields and the seed."""

    voices: tuple[str, ...]
    speakers_per_voice: int
    dev_speakers: int  # one per voice, from the first voices in order
    utterances_per_speaker: int
    dev_shared_sentences: int  # extra sentences every dev speaker says, never used in training
    sentences: int
    seed: int = 1234

    def __post_init__(self) -> None:
        for name in self.voices:
            voice_by_name(name)
        if not 0 <= self.dev_speakers <= len(self.voices):
            raise ValueError("dev_speakers must be between 0 and the number of voices")
        if self.speakers_per_voice < 1 or self.utterances_per_speaker < 1:
            raise ValueError("need at least one speaker per voice and one utterance per speaker")
        if self.sentences < self.utterances_per_speaker + self.dev_shared_sentences:
            raise ValueError("too few sentences for one speaker's share")
        if self.dev_speakers and self.speakers_per_voice < 2 and self.dev_speakers == len(self.voices):
            raise ValueError("every speaker would be a dev speaker: nothing left to train on")

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "voices": list(self.voices)}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> CorpusConfig:
        return cls(**{**data, "voices": tuple(data["voices"])})  # type: ignore[arg-type, call-overload]


PRESETS: dict[str, CorpusConfig] = {
    # 12 voices x 6 = 72 speakers (60 train, 12 dev); 2,400 sentences; 40 utterances each.
    "default": CorpusConfig(
        voices=tuple(v.name for v in TRAINING_VOICES),
        speakers_per_voice=6, dev_speakers=12, utterances_per_speaker=40,
        dev_shared_sentences=20, sentences=2400,
    ),
    # For tests: one speaker from each engine, a few utterances.
    "tiny": CorpusConfig(
        voices=("flite-kal", "festival-kal-diphone", "espeak-en-us"),
        speakers_per_voice=1, dev_speakers=1, utterances_per_speaker=3,
        dev_shared_sentences=1, sentences=8,
    ),
}


@dataclass(frozen=True)
class PlannedSpeaker:
    name: str
    voice: str
    params: SpeakerParams
    split: str


@dataclass(frozen=True)
class PlannedUtterance:
    id: str
    speaker: str
    sentence: int  # index into the plan's SentenceSet


@dataclass(frozen=True)
class Plan:
    config: CorpusConfig
    sentences: SentenceSet
    speakers: tuple[PlannedSpeaker, ...]
    utterances: tuple[PlannedUtterance, ...]


def _speakers(config: CorpusConfig) -> list[PlannedSpeaker]:
    out = []
    dev_voices = set(config.voices[: config.dev_speakers])
    for v, voice in enumerate(config.voices):
        params = sample_params(config.speakers_per_voice, config.seed * 1000 + v)
        for i, p in enumerate(params):
            is_dev = voice in dev_voices and i == len(params) - 1
            out.append(PlannedSpeaker(name=f"{voice}-s{i}", voice=voice, params=p,
                                      split="dev" if is_dev else "train"))
    train = [s for s in out if s.split == "train"]
    for dev in (s for s in out if s.split == "dev"):
        nearest = min((dev.params.distance(t.params) for t in train), default=1.0)
        if nearest < 0.02:
            raise RuntimeError(f"dev speaker {dev.name} is too close to a training speaker")
    return out


def make_plan(config: CorpusConfig) -> Plan:
    """Deterministic given the config: same seed, same speakers, sentences and assignments."""
    sentences = select_sentences(config.sentences, config.seed)
    shared = list(range(config.sentences - config.dev_shared_sentences, config.sentences))
    pool = list(range(config.sentences - config.dev_shared_sentences))
    rng = random.Random(config.seed + 7)
    rng.shuffle(pool)
    speakers = _speakers(config)
    utterances: list[PlannedUtterance] = []
    cursor = 0
    for spk in speakers:
        picks = [pool[(cursor + k) % len(pool)] for k in range(config.utterances_per_speaker)]
        cursor += config.utterances_per_speaker
        if spk.split == "dev":
            picks += shared
        utterances += [PlannedUtterance(id=f"{spk.name}_{k:04d}", speaker=spk.name, sentence=s)
                       for k, s in enumerate(picks)]
    return Plan(config=config, sentences=sentences, speakers=tuple(speakers),
                utterances=tuple(utterances))
