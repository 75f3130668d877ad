"""Corpus builder: a tiny corpus from the real synthesizers, resumable and deterministic."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
from helpers import require_synthesizers

from training.corpus.build import build_corpus
from training.corpus.derive import SpeakerParams, sample_params, transform
from training.corpus.feature_cache import FeatureCache, params_key
from training.corpus.manifest import read_corpus
from training.corpus.plan import PRESETS, CorpusConfig, make_plan, sentence_key
from training.corpus.sentences import diphones, phones, select_sentences
from training.corpus.voices import TRAINING_VOICES, synthesize_batch, voice_by_name
from voiceadapt.audio import FeatureParams, f0, log_mel

TINY = PRESETS["tiny"]


@pytest.fixture
def tiny(tiny_corpus):
    return tiny_corpus


def test_tiny_corpus_from_real_synthesizers(tiny):
    corpus, stats, _ = tiny
    assert len(corpus.speakers) == 3
    assert {s.source for s in corpus.speakers.values()} == set(TINY.voices)
    assert [s.split for s in corpus.speakers.values()].count("dev") == 1
    assert stats.derived == len(corpus.utterances) == 3 * 3 + 1
    for utt in corpus.utterances:
        info = sf.info(str(corpus.audio_path(utt)))
        assert info.samplerate == 16_000 and info.channels == 1
        assert utt.duration == pytest.approx(info.frames / 16_000, abs=1e-3)
        assert 1.0 < utt.duration < 10.0
        assert utt.phonemes and utt.normalized and utt.split == corpus.speakers[utt.speaker].split
        samples, _ = sf.read(str(corpus.audio_path(utt)))
        assert 0.05 < np.abs(samples).max() <= 0.96  # real sound, level-normalized
    summary = corpus.info["summary"]
    assert summary["speakers"] == 3 and summary["train"]["speakers"] == 2
    assert summary["hours"] > 0


def test_dev_shared_sentences_stay_out_of_training(tiny):
    corpus, _, _ = tiny
    dev_texts = {u.normalized for u in corpus.split("dev")}
    train_texts = {u.normalized for u in corpus.split("train")}
    plan = make_plan(TINY)
    last = sentence_key(TINY.sentences - 1)
    shared = {t.normalized for (_, key), t in plan.texts.items() if key == last}
    assert shared <= dev_texts
    assert not shared & train_texts


def test_manifest_round_trips(tiny):
    corpus, _, _ = tiny
    again = read_corpus(corpus.root)
    assert again.utterances == corpus.utterances
    assert again.speakers == corpus.speakers


def test_resume_redoes_only_what_is_missing_and_is_deterministic(tiny, tmp_path):
    corpus, _, _ = tiny
    copy = tmp_path / "copy"
    shutil.copytree(corpus.root, copy)
    victims = corpus.utterances[:2]
    originals = {u.id: (copy / u.audio).read_bytes() for u in victims}
    for u in victims:
        (copy / u.audio).unlink()
    (copy / "manifest.jsonl").unlink()
    (copy / "wavs" / ".stale.wav.abc.part").write_bytes(b"half a file")  # killed mid-write
    resumed, stats = build_corpus(TINY, copy, workers=1)
    assert stats.derived == 2 and stats.skipped == len(corpus.utterances) - 2
    assert not list(copy.rglob("*.part"))
    assert resumed.utterances == read_corpus(corpus.root).utterances
    for u in victims:
        assert (copy / u.audio).read_bytes() == originals[u.id]


def test_folder_planned_with_other_config_is_refused(tiny):
    corpus, _, _ = tiny
    other = CorpusConfig(**{**TINY.to_dict(), "voices": ("flite-kal", "flite-awb"), "seed": 9})
    with pytest.raises(ValueError, match="another configuration"):
        build_corpus(other, corpus.root)


def test_feature_cache_is_hash_keyed_and_reused(tiny):
    corpus, _, root = tiny
    cache = FeatureCache(root / "cache")
    assert cache.dir.name == params_key(FeatureParams())
    utt = corpus.utterances[0]
    entry = cache.entry(corpus.audio_path(utt))
    assert entry.exists() and corpus.root not in entry.parents  # never beside the audio
    feats = cache.get(corpus.audio_path(utt))
    samples, _ = sf.read(str(corpus.audio_path(utt)), dtype="float32")
    assert np.allclose(feats["mel"], log_mel(samples, FeatureParams()).numpy(), atol=1e-4)
    assert feats["f0"].shape == feats["voiced"].shape == (feats["mel"].shape[1],)
    assert FeatureCache(root / "cache", FeatureParams(hop_length=160)).dir != cache.dir


def test_reserved_voices_are_refused():
    for name in ("flite-slt", "festival-cmu-us-slt-arctic-hts", "festival-cmu_us_slt_arctic_hts",
                 "asterisk-core-sounds-en-g722", "asterisk-core-sounds-es-gsm",
                 "/usr/share/sounds/alsa/Front_Center.wav"):
        with pytest.raises(ValueError, match="reserved for evaluation"):
            voice_by_name(name)
    with pytest.raises(ValueError, match="not a corpus voice"):
        voice_by_name("espeak-mb-us1")
    with pytest.raises(ValueError, match="reserved"):
        CorpusConfig(voices=("flite-slt",), speakers_per_voice=2, dev_speakers=0,
                     utterances_per_speaker=1, dev_shared_sentences=0, sentences=5)


def test_default_preset_meets_the_brief():
    config = PRESETS["default"]
    speakers = len(config.voices) * config.speakers_per_voice
    assert speakers - config.dev_speakers >= 60
    assert config.sentences >= 2000 and config.utterances_per_speaker >= 20
    assert set(config.voices) == {v.name for v in TRAINING_VOICES}


@pytest.mark.synth
def test_derived_speaker_moves_pitch_formants_and_tempo():
    require_synthesizers()
    (base,) = synthesize_batch(voice_by_name("flite-awb"), ["The quiet river drifted past the mill."])
    params = FeatureParams()
    hz, voiced = f0(base, params)
    base_f0 = np.median(hz[voiced])
    higher = transform(base, SpeakerParams(f0_scale=1.5, warp=1.15, rate=1.25))
    hz2, voiced2 = f0(higher, params)
    assert np.median(hz2[voiced2]) / base_f0 == pytest.approx(1.5, rel=0.1)
    assert len(higher) / len(base) == pytest.approx(1 / 1.25, rel=0.05)

    def centroid(x: np.ndarray) -> float:
        spec = np.abs(np.fft.rfft(x))
        return float((spec * np.arange(len(spec))).sum() / spec.sum() * 8000 / len(spec))

    warped = transform(base, SpeakerParams(warp=1.2))
    assert centroid(warped) > centroid(transform(base, SpeakerParams())) * 1.08


def test_sampled_parameters_are_spread_and_deterministic():
    a, b = sample_params(6, 3), sample_params(6, 3)
    assert a == b
    scales = sorted(p.f0_scale for p in a)
    assert scales[0] < 0.85 and scales[-1] > 1.35
    assert min(p.distance(q) for i, p in enumerate(a) for q in a[i + 1 :]) > 0.02


def test_phone_tokens_and_diphones():
    assert phones("ðə kwˈɪk, bɹˈaʊn.") == ["#", "ð", "ə", "k", "w", "ɪ", "k", "#", "b", "ɹ", "a",
                                          "ʊ", "n", "#"]
    assert phones("fˈɑːks") == ["#", "f", "ɑː", "k", "s", "#"]
    assert ("#", "f") in diphones("fˈɑːks")


def test_sentence_selection_is_deterministic_and_covers_more_than_chance():
    chosen = select_sentences(60, seed=5)
    assert chosen == select_sentences(60, seed=5)
    assert len(set(chosen.texts)) == 60
    greedy, _ = chosen.coverage(20)
    # the same number of sentences from the random tail covers fewer diphones
    tail = set().union(*(diphones(p) for p in chosen.phonemes[-20:]))
    assert greedy > len(tail)
    assert not any(ch.isdigit() for ch in "".join(chosen.normalized))


def test_corpus_json_records_coverage(tiny):
    corpus, _, _ = tiny
    info = json.loads((corpus.root / "corpus.json").read_text())
    assert 0 < info["diphone_coverage"]["fraction"] <= 1
    assert info["config"] == TINY.to_dict()
