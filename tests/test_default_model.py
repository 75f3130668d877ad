"""The bundled default model: intact, loadable from a clean clone, and speaking."""

from __future__ import annotations

import numpy as np
import soundfile as sf

import voiceadapt
from voiceadapt.cli import main
from voiceadapt.files import sha256_file
from voiceadapt.inference import default_model_path
from voiceadapt.models.vocoders import resolve_vocoder


def test_bundled_model_matches_its_checksum_and_budget():
    path = default_model_path()
    assert path.exists(), "voiceadapt/assets/default.safetensors is missing"
    assert path.stat().st_size <= 30 * 1024 * 1024
    assert path.with_suffix(".sha256").read_text().split()[0] == sha256_file(path)


def test_bundled_model_speaks_text_in_its_speakers_voices():
    model = voiceadapt.load()
    assert len(model.speakers) >= 10 and resolve_vocoder(model, "auto") in ("wavenet", "griffin-lim")
    wav, rate = voiceadapt.synthesize("The quick brown fox jumps over the lazy dog.",
                                      model.speakers[0], model=model)
    seconds = len(wav) / rate
    assert rate == 16_000 and 1.5 < seconds < 6.0  # about nine words of speech
    frames = wav[: len(wav) // 400 * 400].reshape(-1, 400)
    rms = np.sqrt((frames**2).mean(1))
    assert rms.max() > 0.02 and (rms > 0.2 * rms.max()).mean() > 0.3  # mostly sound, not silence
    other, _ = voiceadapt.synthesize("The quick brown fox jumps over the lazy dog.",
                                     model.speakers[-1], model=model)
    assert not np.array_equal(wav[: len(other)], other[: len(wav)])  # speakers differ


def test_cli_say_uses_the_bundled_model(tmp_path, capsys):
    out = tmp_path / "hi.wav"
    assert main(["say", "Good morning.", "--speaker", voiceadapt.load().speakers[1],
                 "-o", str(out)]) == 0
    wav, rate = sf.read(out)
    assert rate == 16_000 and len(wav) > 0.4 * rate
