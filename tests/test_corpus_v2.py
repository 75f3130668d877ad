"""Corpus v2: other languages' synthesizers, real people's recordings, wide speaker
transforms, channel augmentation, held-out persons, the leave-voice-out split and the
versioned symbol tables."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers import require_synthesizers

from training.benchmarks.adaptation import speaker_group, split_speaker
from training.corpus.build import _check_plan_file, plan_digest
from training.corpus.channel import CODECS, Channel, apply_channel, sample_channel
from training.corpus.derive import SpeakerParams, sample_wide_params, transform
from training.corpus.manifest import Corpus, Speaker, Utterance
from training.corpus.plan import PRESETS, CorpusConfig, allot_speakers, make_plan
from training.corpus.voices import (
    HELD_OUT_VOICES,
    VOICES,
    BaseVoice,
    debian_packages,
    decode_recording,
    is_reserved,
    recorded_items,
    synthesize_batch,
    voice_by_name,
)
from training.data import load_corpus_items
from voiceadapt.audio import FeatureParams
from voiceadapt.text import SymbolTable, phonemize
from voiceadapt.text.errors import SymbolTableMismatch
from voiceadapt.text.symbols import SYMBOL_TABLES, registered_table

V2_TINY = PRESETS["v2-tiny"]


def test_v2_tiny_speaks_czech_and_real_italian(v2_tiny_corpus):
    corpus, stats, _ = v2_tiny_corpus
    sources = {s.source for s in corpus.speakers.values()}
    assert sources == set(V2_TINY.voices)
    by_lang = {u.language for u in corpus.utterances}
    assert by_lang == {"en-us", "cs", "it"}
    table = SymbolTable()
    for u in corpus.utterances:
        info = sf.info(str(corpus.audio_path(u)))
        assert info.samplerate == 16_000 and info.channels == 1 and u.duration > 0.2
        samples, _ = sf.read(str(corpus.audio_path(u)))
        assert 0.05 < np.abs(samples).max() <= 0.96
        if u.transcribed:  # every phoneme has an id in the newest table: nothing dropped
            assert table.decode(table.encode(u.phonemes, add_boundaries=False)) == u.phonemes
    czech = [u for u in corpus.utterances if u.language == "cs"]
    assert any(ch in u.text for u in czech for ch in "ěščřžýáíéůú")  # read in Czech, not ASCII
    italian = [u for u in corpus.utterances if u.language == "it"]
    assert any(not u.transcribed for u in italian) and any(u.transcribed for u in italian)
    build = json.loads((corpus.root / "build.json").read_text())
    assert build["runs"] == 1 and build["derived"] == len(corpus.utterances)


def test_recorded_person_keeps_their_own_voice(v2_tiny_corpus):
    """Speaker s0 of a real recording is the person as recorded (no WORLD resynthesis)."""
    corpus, _, _ = v2_tiny_corpus
    assert corpus.speakers["asterisk-carlo-s0"].params["f0_scale"] == 1.0
    utt = next(u for u in corpus.utterances if u.speaker == "asterisk-carlo-s0")
    planned = next(u for u in make_plan(V2_TINY).utterances if u.id == utt.id)
    item = next(r for r in recorded_items(voice_by_name("asterisk-carlo")) if r.key == planned.item)
    original = decode_recording(item.path)
    if planned.channel is not None:  # heard through the same channel the build used
        original = apply_channel(original, planned.channel)
    built, _ = sf.read(str(corpus.audio_path(utt)), dtype="float32")
    # the build trims silence and levels loudness: compare shapes at their best alignment
    corr = np.correlate(original, built, mode="valid") if len(original) >= len(built) else \
        np.correlate(built, original, mode="valid")
    norm = np.linalg.norm(original) * np.linalg.norm(built)
    assert corr.max() / norm > 0.9


def test_training_items_skip_untranscribed_recordings(v2_tiny_corpus):
    corpus, _, root = v2_tiny_corpus
    items, speakers = load_corpus_items(corpus.root, root / "cache", FeatureParams(), "train")
    said = [u for u in corpus.split("train") if u.transcribed]
    assert len(items) == len(said) < len(corpus.split("train"))
    assert max(int(i.ids.max()) for i in items) < len(SymbolTable())


def test_changed_inputs_are_refused_on_resume(v2_tiny_corpus):
    corpus, _, _ = v2_tiny_corpus
    plan = make_plan(V2_TINY)
    _check_plan_file(corpus.root, V2_TINY, plan_digest(plan))  # unchanged: accepted
    key = next(iter(plan.texts))
    edited = dataclasses.replace(plan, texts={**plan.texts, key: dataclasses.replace(
        plan.texts[key], normalized="something else entirely", phonemes="sʌmθɪŋ")})
    with pytest.raises(ValueError, match="other inputs"):
        _check_plan_file(corpus.root, V2_TINY, plan_digest(edited))


def test_v2_preset_meets_the_brief():
    config = PRESETS["v2"]
    counts = allot_speakers(config)
    persons: dict[str, int] = {}
    for name, n in counts.items():
        person = voice_by_name(name).person
        persons[person] = persons.get(person, 0) + n
    assert sum(counts.values()) - config.dev_speakers >= 1000
    assert len(persons) >= 25
    assert max(persons.values()) <= config.max_person_share * sum(counts.values())
    kinds = {voice_by_name(v).kind for v in config.voices}
    assert kinds == {"synthesizer", "recording"}
    languages = {voice_by_name(v).language.split("-")[0] for v in config.voices}
    assert {"en", "it", "cs", "fi", "ru", "ca", "fr"} <= languages


def test_held_out_persons_never_train():
    for name in ("flite-rms", "festival-suo-fi-lj-diphone", "asterisk-ru-ivr", "espeak-en-us-nyc"):
        with pytest.raises(ValueError, match="held out"):
            CorpusConfig(voices=("flite-kal", name), speakers_per_voice=1, dev_speakers=0,
                         utterances_per_speaker=1, dev_shared_sentences=0, sentences=2,
                         layout="v2", speakers=2, max_person_share=1.0)
    held = {v.name for v in HELD_OUT_VOICES} | {"flite-rms"}
    assert set(PRESETS["leave-voice-out"].voices) == held
    assert not held & set(PRESETS["v2"].voices)


def test_reserved_recordings_are_refused():
    for folder in ("asterisk/en_US_f_Allison", "asterisk/es_MX_f_Allison"):
        with pytest.raises(ValueError, match="reserved"):
            recorded_items(BaseVoice("recordings", folder, person="x", label="x"))


def test_every_voice_names_the_debian_package_it_comes_from():
    # a fresh machine learns what to install from here; CI installs what the tests' presets need
    ci = (Path(__file__).parents[1] / ".ci" / "run").read_text()
    for name, preset in PRESETS.items():
        packages = debian_packages([voice_by_name(v) for v in preset.voices])
        assert packages and not [p for p in packages if is_reserved(p)], name
        if name in ("tiny", "v2-tiny"):
            assert all(p in ci.split() for p in packages), (name, packages)
    assert "festvox-suopuhe-lj" in debian_packages(list(VOICES))
    assert debian_packages([voice_by_name("asterisk-ru-ivr")]) == ["asterisk-core-sounds-ru-g722"]


def test_a_build_missing_a_voice_names_the_package_to_install(monkeypatch, tmp_path):
    import training.corpus.voices as voices
    from training.corpus.build import build_corpus

    monkeypatch.setattr(voices, "FESTIVAL_VOICES", tmp_path)  # festival without its voices
    with pytest.raises(RuntimeError, match=r"czech_dita.*apt-get install .*festvox-czech-dita"):
        build_corpus(PRESETS["v2-tiny"], tmp_path / "corpus")
    assert not (tmp_path / "corpus").exists()


def test_leave_voice_out_tests_are_never_training_sentences():
    """The eval test sentences are the last of the shared English selection, which the
    default corpus keeps for its dev speakers and corpus v2 leaves out."""
    lvo, default, v2 = PRESETS["leave-voice-out"], PRESETS["default"], PRESETS["v2"]
    assert lvo.sentences == default.sentences == v2.sentences and lvo.seed == default.seed == v2.seed
    assert lvo.dev_shared_sentences <= min(default.dev_shared_sentences, v2.dev_shared_sentences)
    assert lvo.layout == "eval" and lvo.dev_speakers == len(lvo.voices)


def test_eval_split_enrolls_on_own_clips():
    def utt(i: int, spk: str, text: str, lang: str = "en-us") -> Utterance:
        return Utterance(id=f"{spk}_{i}", speaker=spk, text=text, normalized=text,
                         phonemes="x" if text else "", audio="a.wav", duration=2.0, split="dev",
                         language=lang)

    tests = ["Test one.", "Test two."]
    en = [utt(0, "en", "Ref a."), utt(1, "en", "Ref b."), utt(2, "en", tests[1]), utt(3, "en", tests[0])]
    ru = [utt(0, "ru", "один", "ru"), utt(1, "ru", "два", "ru"), utt(2, "ru", "", "ru"),
          utt(3, "ru", "три", "ru")]
    corpus = Corpus(root=Path("."), utterances=en + ru,
                    speakers={"en": Speaker("en", "dev", "flite-rms"),
                              "ru": Speaker("ru", "dev", "asterisk-ru-ivr")},
                    info={"test_sentences": tests})
    pool, real, texts = split_speaker(corpus, "en", set(), 2)
    assert texts == tests and [u.normalized for u in real] == tests
    assert [u.text for u in pool] == ["Ref a.", "Ref b."]
    assert speaker_group(corpus, "ru", ["flite-kal-s0"]) == "held-out persons (leave-voice-out)"
    assert "heard by this model" in speaker_group(corpus, "en", ["flite-rms-s3", "flite-kal-s0"])
    pool, real, texts = split_speaker(corpus, "ru", set(), 2)
    assert texts == tests
    assert [u.id for u in real] == ["ru_2", "ru_3"]  # untranscribed first, then the last clips
    assert [u.text for u in pool] == ["один", "два"]


def test_wide_params_cross_sex_and_stay_deterministic():
    params = sample_wide_params(200, 7)
    assert params == sample_wide_params(200, 7)
    f0 = [p.f0_scale for p in params]
    assert min(f0) < 0.6 and max(f0) > 1.8
    assert {p.warp for p in params} > {1.0} and any(p.warp == 1.0 for p in params)
    assert SpeakerParams().identity and not params[0].identity
    assert set(SpeakerParams(f0_scale=1.2).to_dict()) == {"f0_scale", "warp", "rate", "breathiness"}


@pytest.mark.synth
def test_f0_range_and_tilt_change_the_voice():
    require_synthesizers()
    (base,) = synthesize_batch(voice_by_name("flite-awb"), ["The quiet river drifted past the mill."])
    import pyworld

    def f0_spread(x: np.ndarray) -> float:  # 10-90% range of log-F0: robust to octave errors
        f0, _ = pyworld.harvest(x.astype(np.float64), 16_000, frame_period=10)
        log_f0 = np.log(f0[f0 > 0])
        return float(np.percentile(log_f0, 90) - np.percentile(log_f0, 10))

    def high_share(x: np.ndarray) -> float:
        spec = np.abs(np.fft.rfft(x)) ** 2
        return float(spec[len(spec) // 4:].sum() / spec.sum())

    flat = transform(base, SpeakerParams(f0_range=0.4))
    lively = transform(base, SpeakerParams(f0_range=1.8))
    assert f0_spread(flat) < 0.5 * f0_spread(lively)
    dark = transform(base, SpeakerParams(tilt_db=-5.0))
    bright = transform(base, SpeakerParams(tilt_db=4.0))
    assert high_share(dark) < 0.5 * high_share(bright)


def test_channels_keep_length_band_limit_and_are_even_across_sources():
    rng = np.random.default_rng(0)
    x = (0.2 * rng.standard_normal(16_000)).astype(np.float32)  # white: energy up to 8 kHz
    for codec in CODECS:
        y = apply_channel(x, Channel(codec=codec, seed=1, low_shelf_db=-1.0))
        assert y.shape == x.shape and y.dtype == np.float32 and np.isfinite(y).all()
    spec = np.abs(np.fft.rfft(apply_channel(x, Channel(codec="gsm-8k", seed=1, high_shelf_db=-0.1)))) ** 2
    assert spec[len(spec) // 2 + 200:].sum() < 0.01 * spec.sum()  # nothing above 4 kHz
    noisy = apply_channel(np.zeros(16_000, np.float32) + 0.1 * np.sin(np.arange(16_000) / 5,
                          dtype=np.float32), Channel(snr_db=10.0, seed=3))
    assert np.std(noisy - 0.1 * np.sin(np.arange(16_000) / 5)) > 0.01
    assert Channel(seed=5).clean and np.array_equal(apply_channel(x, Channel(seed=5)), x)
    draws = [sample_channel(random.Random(i)) for i in range(2000)]
    codecs = [c.codec for c in draws if not c.clean]
    shares = [codecs.count(c) / len(codecs) for c in CODECS]
    assert max(shares) - min(shares) < 0.06  # one distribution, codecs drawn evenly


def test_symbol_tables_are_versioned_and_append_only():
    old, new = SYMBOL_TABLES["en-ipa-1"], SYMBOL_TABLES["ipa-2"]
    assert new[: len(old)] == old  # an en-ipa-1 model's ids mean the same in ipa-2
    assert SymbolTable().version == "ipa-2"
    registered_table("en-ipa-1").check_compatible(SymbolTable(version="en-ipa-1", symbols=old))
    with pytest.raises(SymbolTableMismatch, match="unknown to this code"):
        registered_table("ipa-9")
    with pytest.raises(SymbolTableMismatch, match="symbol table mismatch"):
        registered_table("en-ipa-1").check_compatible(SymbolTable(version="en-ipa-1", symbols=new))
    (czech,) = phonemize(["Příští rok pojedu do Těšína."], "cs")
    (russian,) = phonemize(["Съешь же ещё этих мягких булок."], "ru")
    for ipa in (czech, russian):
        assert all(ch in new for ch in ipa)
    assert any(ch not in old for ch in czech + russian)


def test_checkpoint_with_unknown_table_is_refused(tmp_path, bundled_model):
    from voiceadapt.models.checkpoint import load, save

    path = tmp_path / "m.safetensors"
    model = bundled_model
    original = model.symbols
    try:
        model.symbols = SymbolTable(version="ipa-9", symbols=original.symbols)
        save(model, path)
    finally:
        model.symbols = original
    with pytest.raises(SymbolTableMismatch, match="unknown to this code"):
        load(path)
