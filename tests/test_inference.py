"""Inference on a compact checkpoint: text in, real audio out, reproducible, SEA-ENC refs."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from helpers import compact_backbone, speechlike

import voiceadapt
from voiceadapt.cli import main
from voiceadapt.inference import embedding_from_references
from voiceadapt.models.checkpoint import save


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "compact.safetensors"
    return save(compact_backbone(speakers=("anna", "bert")), path)


def test_synthesize_long_text_sentence_by_sentence(checkpoint):
    model = voiceadapt.load(checkpoint)
    one, rate = voiceadapt.synthesize("Hello there.", "anna", model=model, seed=1)
    two, _ = voiceadapt.synthesize("Hello there. Hello there.", "anna", model=model, seed=1)
    assert rate == 16_000 and one.dtype == np.float32 and np.abs(one).max() <= 1.0
    assert len(two) == 2 * len(one) + int(0.25 * rate)  # two sentences and a pause
    again, _ = voiceadapt.synthesize("Hello there.", "anna", model=model, seed=1)
    assert np.array_equal(one, again)
    other, _ = voiceadapt.synthesize("Hello there.", "anna", model=model, seed=2)
    assert not np.array_equal(one, other)


def test_unknown_speaker_and_missing_voice_are_clear_errors(checkpoint):
    model = voiceadapt.load(checkpoint)
    with pytest.raises(KeyError, match="unknown speaker 'zoe'"):
        voiceadapt.synthesize("Hi.", "zoe", model=model)
    with pytest.raises(ValueError, match="exactly one of speaker="):
        voiceadapt.synthesize("Hi.", model=model)


def test_sea_enc_embedding_from_reference_clips(checkpoint, tmp_path):
    model = voiceadapt.load(checkpoint)
    clips = []
    for i, f0 in enumerate((110.0, 120.0)):
        path = tmp_path / f"ref{i}.wav"
        sf.write(str(path), speechlike(2.0, 22_050, f0=f0, seed=i), 22_050)
        clips.append(path)
    g = embedding_from_references(model, clips)
    assert g.shape == (model.cfg.speaker_channels,)
    wav, rate = voiceadapt.synthesize("Hi there.", embedding=g, model=model)
    hop = model.features.hop_length  # an untrained model: any length, in whole frames
    assert np.isfinite(wav).all() and len(wav) >= hop and len(wav) % hop == 0
    other, _ = voiceadapt.synthesize("Hi there.", embedding=torch.zeros_like(g), model=model)
    assert not np.array_equal(wav[: len(other)], other[: len(wav)])  # g reaches the output


def test_cli_say_and_speakers(checkpoint, tmp_path, capsys):
    assert main(["speakers", "--model", str(checkpoint)]) == 0
    assert capsys.readouterr().out.split() == ["anna", "bert"]
    out = tmp_path / "say.wav"
    assert main(["say", "Good morning.", "--speaker", "bert", "--model", str(checkpoint),
                 "-o", str(out)]) == 0
    info = sf.info(str(out))
    assert info.samplerate == 16_000 and info.frames > 0
    capsys.readouterr()
    assert main(["say", "Hi.", "--model", str(checkpoint), "-o", str(out)]) == 0
    assert "speaking as the bundled speaker anna" in capsys.readouterr().err  # no voice named


def test_the_model_path_comes_from_the_caller_not_the_environment(monkeypatch, tmp_path):
    from voiceadapt.inference import default_model_path

    monkeypatch.setenv("VOICEADAPT_MODEL", str(tmp_path / "elsewhere.safetensors"))
    assert default_model_path().name == "default.safetensors"  # the library reads no environment
    with pytest.warns(FutureWarning, match="pass the checkpoint's path"), \
            pytest.raises(FileNotFoundError, match="elsewhere"):
        voiceadapt.load()  # the old behaviour, deprecated: still honoured, with a warning
    from voiceadapt.cli import build_parser

    args = build_parser().parse_args(["speakers"])  # the CLI is the edge that reads it
    assert args.model == str(tmp_path / "elsewhere.safetensors")


def test_one_synthesis_path_with_pauses_between_sentences():
    """The library's pieces: each sentence's audio in order, a pause before every sentence but
    the first; processed sentences speak exactly as the raw text does (processed once)."""
    from voiceadapt.inference.synthesize import SENTENCE_PAUSE_S, speech_pieces
    from voiceadapt.text import process

    model = compact_backbone().eval()
    g = model.speaker_embedding("a")
    text = "One two. Three four. Five."
    pieces = list(speech_pieces(text, model, g, vocoder="griffin-lim"))
    assert [p.sentence for p in pieces] == [0, 1, 1, 2, 2]
    assert [p.pause for p in pieces] == [False, True, False, True, False]
    pause = int(SENTENCE_PAUSE_S * model.features.sample_rate)
    assert all(len(p.samples) == pause and not p.samples.any() for p in pieces if p.pause)
    again = list(speech_pieces(process(text, model.symbols), model, g, vocoder="griffin-lim"))
    assert all(np.array_equal(a.samples, b.samples) for a, b in zip(pieces, again, strict=True))
    wav, _ = voiceadapt.synthesize(text, "a", model=model, vocoder="griffin-lim")
    assert np.array_equal(wav, np.concatenate([p.samples for p in pieces]))
