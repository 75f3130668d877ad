"""The bundled default model: intact, loadable from a clean clone, and speaking."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

import voiceadapt
from voiceadapt.cli import main
from voiceadapt.files import sha256_file
from voiceadapt.inference import default_model_path, embedding_from_references
from voiceadapt.models.vocoders import resolve_vocoder

ROOT = Path(__file__).resolve().parent.parent


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="WAV")
    return buf.getvalue()


def base_voice(speaker: str) -> str:
    """The corpus speaker's base voice: its name without the derived-speaker suffix."""
    return speaker.rsplit("-s", 1)[0]


def test_bundled_model_matches_its_checksum_and_budget():
    path = default_model_path()
    assert path.exists(), "voiceadapt/assets/default.safetensors is missing"
    assert path.stat().st_size <= 30 * 1024 * 1024
    assert path.with_suffix(".sha256").read_text().split()[0] == sha256_file(path)


def test_bundled_model_names_the_vocoder_its_model_card_recommends():
    model = voiceadapt.load()
    named = model.extra.get("vocoder")
    assert named in ("wavenet", "griffin-lim")  # named, so "auto" never falls back silently
    assert resolve_vocoder(model, "auto") == named
    card = (ROOT / "MODEL_CARD.md").read_text()
    shown = {"wavenet": "**WaveNet**", "griffin-lim": "**Griffin-Lim**"}[named]
    assert f"| recommended vocoder | {shown}" in card


def test_bundled_model_speaks_text_in_its_speakers_voices():
    model = voiceadapt.load()
    assert len(model.speakers) >= 10
    text = "The quick brown fox jumps over the lazy dog."
    first = model.speakers[0]
    other = next(s for s in model.speakers if base_voice(s) != base_voice(first))
    wav, rate = voiceadapt.synthesize(text, first, model=model)
    seconds = len(wav) / rate
    assert rate == 16_000 and 1.5 < seconds < 6.0  # about nine words of speech
    frames = wav[: len(wav) // 400 * 400].reshape(-1, 400)
    rms = np.sqrt((frames**2).mean(1))
    assert rms.max() > 0.02 and (rms > 0.2 * rms.max()).mean() > 0.3  # mostly sound, not silence
    # speakers differ as the model's own encoder hears them: one speaker's two sentences are
    # nearer each other than either is to another base voice's speaker
    again, _ = voiceadapt.synthesize("A few seconds of speech are enough to make a new voice.",
                                     first, model=model)
    theirs, _ = voiceadapt.synthesize(text, other, model=model)
    g = {k: embedding_from_references(model, [wav_bytes(w, rate)]) for k, w in
         (("first", wav), ("again", again), ("other", theirs))}
    same = float(torch.cosine_similarity(g["first"], g["again"], dim=0))
    assert same > float(torch.cosine_similarity(g["first"], g["other"], dim=0))
    assert same > float(torch.cosine_similarity(g["again"], g["other"], dim=0))


def test_cli_say_uses_the_bundled_model(tmp_path, capsys):
    out = tmp_path / "hi.wav"
    assert main(["say", "Good morning.", "--speaker", voiceadapt.load().speakers[1],
                 "-o", str(out)]) == 0
    wav, rate = sf.read(out)
    assert rate == 16_000 and len(wav) > 0.4 * rate
