"""Importers: tiny VCTK, LibriTTS and LJSpeech trees built here, read into the common manifest."""

from __future__ import annotations

import pytest
import soundfile as sf
from helpers import speechlike

from training.corpus.importers import import_corpus
from training.corpus.manifest import read_corpus


def _wav(path, seconds=1.5, rate=22_050, fmt=None, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), speechlike(seconds, rate, seed=seed), rate, format=fmt)


def test_vctk_both_layouts(tmp_path):
    src = tmp_path / "VCTK"
    for spk in ("p225", "p226", "p227"):
        for n in (1, 2):
            (src / "txt" / spk).mkdir(parents=True, exist_ok=True)
            (src / "txt" / spk / f"{spk}_{n:03d}.txt").write_text(f"Please call Stella {n} times.\n")
            if spk == "p227":  # the 0.80 layout
                _wav(src / "wav48" / spk / f"{spk}_{n:03d}.wav", rate=48_000)
            else:
                _wav(src / "wav48_silence_trimmed" / spk / f"{spk}_{n:03d}_mic1.flac", rate=48_000)
    (src / "txt" / "p225" / "p225_003.txt").write_text("No audio for this one.")
    corpus, skipped = import_corpus("vctk", src, tmp_path / "out", dev_speakers=1)
    assert len(corpus.utterances) == 6 and skipped == 0
    assert sorted(corpus.speakers) == ["vctk-p225", "vctk-p226", "vctk-p227"]
    assert sum(s.split == "dev" for s in corpus.speakers.values()) == 1
    utt = next(u for u in corpus.utterances if u.id == "vctk-p226_002")
    assert utt.text == "Please call Stella 2 times."
    assert utt.normalized == "Please call Stella two times."
    assert utt.phonemes.startswith("plˈiːz")
    assert utt.duration == pytest.approx(1.5, abs=0.01)
    assert corpus.audio_path(utt).exists()
    assert read_corpus(tmp_path / "out").utterances == corpus.utterances


def test_libritts_prefers_normalized_text(tmp_path):
    src = tmp_path / "LibriTTS" / "train-clean-100"
    for spk, chapter in (("19", "198"), ("26", "495")):
        stem = f"{spk}_{chapter}_000000_000000"
        folder = src / spk / chapter
        _wav(folder / f"{stem}.wav", rate=24_000)
        (folder / f"{stem}.normalized.txt").write_text("Chapter one, in which we begin.")
        (folder / f"{stem}.original.txt").write_text("CHAPTER I. In which we begin.")
    corpus, _ = import_corpus("libritts", tmp_path / "LibriTTS", tmp_path / "out")
    assert sorted(corpus.speakers) == ["libritts-19", "libritts-26"]
    assert {u.text for u in corpus.utterances} == {"Chapter one, in which we begin."}
    assert all(u.split == "train" for u in corpus.utterances)


def test_ljspeech_metadata(tmp_path):
    src = tmp_path / "LJSpeech-1.1"
    rows = [("LJ001-0001", "Printing, in 1450, was new.", "Printing, in fourteen fifty, was new."),
            ("LJ001-0002", "It cost $3.", ""),
            ("LJ001-0003", "Missing audio.", "Missing audio.")]
    (src / "wavs").mkdir(parents=True)
    for uid, _, _ in rows[:2]:
        _wav(src / "wavs" / f"{uid}.wav")
    (src / "metadata.csv").write_text("".join("|".join(r) + "\n" for r in rows))
    corpus, _ = import_corpus("ljspeech", src, tmp_path / "out")
    assert [u.id for u in corpus.utterances] == ["ljspeech-LJ001-0001", "ljspeech-LJ001-0002"]
    assert corpus.utterances[0].normalized == "Printing, in fourteen fifty, was new."
    assert corpus.utterances[1].normalized == "It cost three dollars."
    assert list(corpus.speakers) == ["ljspeech-ljspeech"]


def test_bad_sources_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a folder"):
        import_corpus("vctk", tmp_path / "nope", tmp_path / "out")
    with pytest.raises(ValueError, match="unknown corpus format"):
        import_corpus("timit", tmp_path, tmp_path / "out")
    (tmp_path / "empty" / "txt").mkdir(parents=True)
    with pytest.raises(ValueError, match="found no vctk utterances"):
        import_corpus("vctk", tmp_path / "empty", tmp_path / "out")


def test_undecodable_audio_is_skipped_not_fatal(tmp_path):
    src = tmp_path / "LJ"
    (src / "wavs").mkdir(parents=True)
    _wav(src / "wavs" / "a.wav")
    (src / "wavs" / "b.wav").write_text("not audio")
    (src / "metadata.csv").write_text("a|Good clip.|Good clip.\nb|Broken clip.|Broken clip.\n")
    corpus, skipped = import_corpus("ljspeech", src, tmp_path / "out")
    assert skipped == 1 and len(corpus.utterances) == 1
