"""Corpus presets and the deterministic plan a build follows (speakers, splits, texts).

Three layouts:

- ``v1`` (presets ``default``, ``tiny``): English synthesizer voices, each turned into
  ``speakers_per_voice`` derived speakers, all reading generated English sentences;
  one speaker of each of the first ``dev_speakers`` voices is a dev speaker. Unchanged
  since the bundled model was trained on it.
- ``v2`` (``v2``, ``v2-tiny``): speaker diversity. Speakers are allotted per *person*
  (``speakers`` in all, none over ``max_person_share`` of them) and spread over that
  person's voices; voice parameters are drawn from continuous wide ranges; every
  utterance goes through a channel (codec, room, EQ, noise) drawn from one distribution
  for all sources. Synthesizers read sentences in their own language; recordings give
  their own prompts (transcribed where the text is known, the rest untranscribed for the
  speaker encoder). Held-out persons are refused.
- ``eval`` (``leave-voice-out``): every voice as it is (no transform, no channel), one
  dev speaker each, for the leave-voice-out benchmark: its reference pool, its own held-out
  clips, and English test sentences that no v1/v2 training speaker says.
"""

from __future__ import annotations

import functools
import math
import random
import unicodedata
from dataclasses import asdict, dataclass, field, fields

from training.corpus.channel import Channel, sample_channel
from training.corpus.derive import SpeakerParams, sample_params, sample_wide_params
from training.corpus.sentences import select_sentences
from training.corpus.voices import (
    HELD_OUT_PERSONS,
    TEXTS,
    TRAINING_VOICES,
    BaseVoice,
    recorded_items,
    voice_by_name,
)
from voiceadapt.text import phonemize

LAYOUTS = ("v1", "v2", "eval")


@dataclass(frozen=True)
class CorpusConfig:
    """What to build. Everything else follows from these fields and the seed."""

    voices: tuple[str, ...]
    speakers_per_voice: int
    dev_speakers: int  # v1: one per voice, from the first voices; v2: one per person
    utterances_per_speaker: int
    dev_shared_sentences: int  # extra sentences every dev speaker says, never used in training
    sentences: int  # English sentences selected for diphone coverage
    seed: int = 1234
    layout: str = "v1"
    speakers: int = 0  # v2: training speakers in all
    max_person_share: float = 0.05  # v2: no person above this share of the speakers
    untranscribed_per_speaker: int = 0  # v2/eval: prompts without a transcript, per speaker
    channel_clean_share: float = 0.25  # v2: share of utterances with no channel treatment

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}")
        voices = [voice_by_name(name) for name in self.voices]
        if self.speakers_per_voice < 1 or self.utterances_per_speaker < 1:
            raise ValueError("need at least one speaker per voice and one utterance per speaker")
        if self.sentences < self.utterances_per_speaker + self.dev_shared_sentences:
            raise ValueError("too few sentences for one speaker's share")
        if self.layout == "v1":
            if not 0 <= self.dev_speakers <= len(self.voices):
                raise ValueError("dev_speakers must be between 0 and the number of voices")
            if self.dev_speakers and self.speakers_per_voice < 2 and self.dev_speakers == len(self.voices):
                raise ValueError("every speaker would be a dev speaker: nothing left to train on")
        if self.layout == "v2":
            held = sorted({v.name for v in voices
                           if v.person in HELD_OUT_PERSONS or v.role == "held-out"})
            if held:
                raise ValueError(f"{', '.join(held)} belong to persons held out for evaluation: "
                                 "no training corpus may use them")
            persons = {v.person for v in voices}
            if self.speakers < len(persons) or not 0 < self.max_person_share <= 1:
                raise ValueError("v2 needs at least one speaker per person and a share in (0, 1]")
            if math.ceil(self.speakers / len(persons)) > self.max_person_share * self.speakers \
                    and len(persons) > 1:
                raise ValueError(f"{len(persons)} persons cannot share {self.speakers} speakers with "
                                 f"none above {self.max_person_share:.0%}")

    def to_dict(self) -> dict[str, object]:
        """Fields at their defaults beyond v1's are left out, so v1 folders keep their plan."""
        defaults = {f.name: f.default for f in fields(self) if f.name in _V2_FIELDS}
        return {k: v for k, v in {**asdict(self), "voices": list(self.voices)}.items()
                if k not in defaults or v != defaults[k]}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> CorpusConfig:
        return cls(**{**data, "voices": tuple(data["voices"])})


_V2_FIELDS = ("layout", "speakers", "max_person_share", "untranscribed_per_speaker",
              "channel_clean_share")

_V2_VOICES = tuple(v for v in (
    "flite-kal", "flite-kal16", "flite-awb", "festival-kal-diphone", "festival-ked-diphone",
    "espeak-en-us", "espeak-en-gb-x-rp-f2", "espeak-en-gb-scotland", "espeak-en-029-m3",
    "espeak-en-gb-x-gbclan-f4", "espeak-en-gb-x-gbcwmd-m7", "espeak-en-us-f3", "espeak-en-gb",
    "espeak-en-us-f1", "espeak-en-gb-x-rp-m2", "espeak-en-029-f5", "espeak-en-gb-scotland-f2",
    "espeak-en-gb-x-gbclan-m4",
    "festival-lp-diphone", "festival-pc-diphone", "festival-czech-dita", "festival-czech-krb",
    "festival-czech-machac", "festival-czech-ph", "festival-hy-fi-mv-diphone",
    "festival-msu-ru-nsh-clunits", "festival-upc-ca-ona-hts",
    "asterisk-june", "asterisk-carlo", "asterisk-armelle", "asterisk-es-co", "asterisk-menardi",
    "klettres-ar", "klettres-cs", "klettres-da", "klettres-de", "klettres-en", "klettres-en-gb",
    "klettres-es", "klettres-fr", "klettres-he", "klettres-hu", "klettres-it", "klettres-lt",
    "klettres-ml", "klettres-nb", "klettres-nds", "klettres-nl", "klettres-pt-br", "klettres-ru",
    "klettres-tn", "klettres-uk",
))

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
    # Corpus v2: 1,040 training speakers from every person the machine offers for training.
    "v2": CorpusConfig(
        voices=_V2_VOICES, speakers_per_voice=1, dev_speakers=12, utterances_per_speaker=20,
        dev_shared_sentences=20, sentences=2400, layout="v2", speakers=1040,
        untranscribed_per_speaker=4,
    ),
    # For tests: one synthesizer of another language, one real recording, English.
    "v2-tiny": CorpusConfig(
        voices=("flite-kal", "festival-czech-dita", "asterisk-carlo"), speakers_per_voice=1,
        dev_speakers=1, utterances_per_speaker=2, dev_shared_sentences=1, sentences=4,
        layout="v2", speakers=4, max_person_share=0.5, untranscribed_per_speaker=1,
    ),
    # Leave-voice-out evaluation: whole held-out persons as they are.
    "leave-voice-out": CorpusConfig(
        voices=("flite-rms", "festival-suo-fi-lj-diphone", "asterisk-ru-ivr", "espeak-en-us-nyc",
                "espeak-en-us-nyc-f4"),
        speakers_per_voice=1, dev_speakers=5, utterances_per_speaker=40, dev_shared_sentences=12,
        sentences=2400, layout="eval", untranscribed_per_speaker=24,
    ),
}


@dataclass(frozen=True)
class PlannedSpeaker:
    name: str
    voice: str
    params: SpeakerParams
    split: str


@dataclass(frozen=True)
class SourceText:
    """What a base item says: ``phonemes`` is "" for an untranscribed recording."""

    text: str
    normalized: str
    phonemes: str
    language: str = "en-us"


@dataclass(frozen=True)
class PlannedUtterance:
    id: str
    speaker: str
    item: str  # key of the base item (a sentence or a recording) of the speaker's voice
    channel: Channel | None = None


@dataclass(frozen=True)
class Plan:
    config: CorpusConfig
    speakers: tuple[PlannedSpeaker, ...]
    utterances: tuple[PlannedUtterance, ...]
    # (voice, item) -> what it says
    texts: dict[tuple[str, str], SourceText] = field(default_factory=dict)
    test_sentences: tuple[str, ...] = ()  # eval: English texts every dev speaker is tested on
    info: dict[str, object] = field(default_factory=dict)

    def text_of(self, utt: PlannedUtterance) -> SourceText:
        return self.texts[(self._voices[utt.speaker], utt.item)]

    @functools.cached_property
    def _voices(self) -> dict[str, str]:
        return {s.name: s.voice for s in self.speakers}


def sentence_key(index: int) -> str:
    return f"{index:05d}"


def make_plan(config: CorpusConfig) -> Plan:
    """Deterministic given the config: same seed, same speakers, texts and assignments."""
    if config.layout == "v1":
        return _plan_v1(config)
    if config.layout == "v2":
        return _plan_v2(config)
    return _plan_eval(config)


# -- v1 -------------------------------------------------------------------------------------
def _speakers_v1(config: CorpusConfig) -> list[PlannedSpeaker]:
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


def _plan_v1(config: CorpusConfig) -> Plan:
    sentences = select_sentences(config.sentences, config.seed)
    shared = list(range(config.sentences - config.dev_shared_sentences, config.sentences))
    pool = list(range(config.sentences - config.dev_shared_sentences))
    rng = random.Random(config.seed + 7)
    rng.shuffle(pool)
    speakers = _speakers_v1(config)
    utterances: list[PlannedUtterance] = []
    cursor = 0
    for spk in speakers:
        picks = [pool[(cursor + k) % len(pool)] for k in range(config.utterances_per_speaker)]
        cursor += config.utterances_per_speaker
        if spk.split == "dev":
            picks += shared
        utterances += [PlannedUtterance(id=f"{spk.name}_{k:04d}", speaker=spk.name,
                                        item=sentence_key(s)) for k, s in enumerate(picks)]
    texts = {}
    for i in range(config.sentences):
        text = SourceText(sentences.texts[i], sentences.normalized[i], sentences.phonemes[i])
        for voice in config.voices:
            texts[(voice, sentence_key(i))] = text
    covered, fraction = sentences.coverage()
    info = {"diphone_coverage": {"covered": covered, "pool": sentences.pool_diphones,
                                 "fraction": round(fraction, 4)}}
    return Plan(config=config, speakers=tuple(speakers), utterances=tuple(utterances),
                texts=texts, info=info)


# -- texts of other languages and of recordings ------------------------------------------------
@functools.lru_cache(maxsize=16)
def foreign_sentences(language: str) -> tuple[SourceText, ...]:
    """``texts/<language>.txt`` phonemized in that language (comments and blanks skipped)."""
    path = TEXTS / f"{language.split('-')[0]}.txt"
    lines = [unicodedata.normalize("NFC", line.strip())
             for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [" ".join(line.split()) for line in lines if line and not line.startswith("#")]
    ipa = phonemize(lines, language)
    return tuple(SourceText(t, t, p, language) for t, p in zip(lines, ipa, strict=True))


def _voice_items(voice: BaseVoice, english: dict[str, SourceText],
                 ) -> tuple[dict[str, SourceText], list[str], list[str]]:
    """(item texts, transcribed keys, untranscribed keys) a speaker of ``voice`` draws from."""
    if voice.engine == "recordings":
        recs = recorded_items(voice)
        said = [r for r in recs if r.text]
        ipa = phonemize([r.text for r in said], voice.language) if said else []
        texts = {r.key: SourceText(r.text, r.text, p, voice.language)
                 for r, p in zip(said, ipa, strict=True) if p.strip()}
        texts |= {r.key: SourceText("", "", "", voice.language) for r in recs if not r.text}
        return (texts, [k for k in texts if texts[k].phonemes],
                [k for k in texts if not texts[k].phonemes])
    if voice.language.split("-")[0] == "en":
        return english, list(english), []
    sentences = foreign_sentences(voice.language)
    texts = {f"{voice.language}-{i:04d}": s for i, s in enumerate(sentences)}
    return texts, list(texts), []


def _english_pool(config: CorpusConfig) -> tuple[dict[str, SourceText], list[str]]:
    """(every English sentence by key, the last ``dev_shared_sentences`` keys kept for tests)."""
    sentences = select_sentences(config.sentences, config.seed)
    texts = {sentence_key(i): SourceText(sentences.texts[i], sentences.normalized[i],
                                         sentences.phonemes[i]) for i in range(config.sentences)}
    keys = list(texts)
    return texts, keys[len(keys) - config.dev_shared_sentences:] if config.dev_shared_sentences else []


# -- v2 -------------------------------------------------------------------------------------
def allot_speakers(config: CorpusConfig) -> dict[str, int]:
    """Speakers per voice: ``speakers`` spread evenly over persons, then over each person's voices."""
    voices = [voice_by_name(v) for v in config.voices]
    persons: dict[str, list[str]] = {}
    for v in voices:
        persons.setdefault(v.person, []).append(v.name)
    names = sorted(persons)
    base, extra = divmod(config.speakers, len(names))
    out = {v.name: 0 for v in voices}
    for i, person in enumerate(names):
        count = base + (1 if i < extra else 0)
        mine = persons[person]
        for k in range(count):
            out[mine[k % len(mine)]] += 1
    return out


def _plan_v2(config: CorpusConfig) -> Plan:
    english, shared = _english_pool(config)
    english = {k: v for k, v in english.items() if k not in set(shared)}
    rng = random.Random(config.seed + 11)
    counts = allot_speakers(config)
    speakers: list[PlannedSpeaker] = []
    utterances: list[PlannedUtterance] = []
    texts: dict[tuple[str, str], SourceText] = {}
    dev_persons: set[str] = set()
    person_order = sorted({voice_by_name(v).person for v in config.voices})
    dev_allowed = set(person_order[:: max(1, len(person_order) // max(1, config.dev_speakers))]
                      [: config.dev_speakers])
    for v, name in enumerate(config.voices):
        voice = voice_by_name(name)
        if counts[name] == 0:
            continue
        items, said, unsaid = _voice_items(voice, english)
        if not said:
            raise ValueError(f"{name} has no transcribed item to train on")
        for key in said + unsaid:
            texts[(name, key)] = items[key]
        params = sample_wide_params(counts[name], config.seed * 1000 + v)
        if voice.kind == "recording":
            params[0] = SpeakerParams()  # the real person, as recorded, is one of the speakers
        for i, p in enumerate(params):
            is_dev = voice.person in dev_allowed and voice.person not in dev_persons and i == 1
            if is_dev:
                dev_persons.add(voice.person)
            spk = PlannedSpeaker(name=f"{name}-s{i}", voice=name, params=p,
                                 split="dev" if is_dev else "train")
            speakers.append(spk)
            picks = rng.sample(said, min(len(said), config.utterances_per_speaker))
            picks += rng.sample(unsaid, min(len(unsaid), config.untranscribed_per_speaker))
            utterances += [PlannedUtterance(
                id=f"{spk.name}_{k:04d}", speaker=spk.name, item=key,
                channel=sample_channel(rng, config.channel_clean_share)) for k, key in enumerate(picks)]
    return Plan(config=config, speakers=tuple(speakers), utterances=tuple(utterances), texts=texts)


# -- eval -----------------------------------------------------------------------------------
def _plan_eval(config: CorpusConfig) -> Plan:
    """Each voice as it is: a reference pool, its own held-out clips, English test texts."""
    english, tests = _english_pool(config)
    rng = random.Random(config.seed + 13)
    speakers, utterances = [], []
    texts: dict[tuple[str, str], SourceText] = {}
    for name in config.voices:
        voice = voice_by_name(name)
        items, said, unsaid = _voice_items(voice, english)
        spk = PlannedSpeaker(name=f"{name}-s0", voice=name, params=SpeakerParams(), split="dev")
        speakers.append(spk)
        if items is english:
            said = [k for k in said if k not in tests]
            picks = rng.sample(said, min(len(said), config.utterances_per_speaker)) + tests
        else:
            picks = rng.sample(said, min(len(said), config.utterances_per_speaker))
            picks += rng.sample(unsaid, min(len(unsaid), config.untranscribed_per_speaker))
        for key in picks:
            texts[(name, key)] = items[key]
        utterances += [PlannedUtterance(id=f"{spk.name}_{k:04d}", speaker=spk.name, item=key)
                       for k, key in enumerate(picks)]
    return Plan(config=config, speakers=tuple(speakers), utterances=tuple(utterances), texts=texts,
                test_sentences=tuple(english[k].normalized for k in tests))
