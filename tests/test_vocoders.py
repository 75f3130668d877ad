"""Vocoders: Griffin-Lim rebuilds real audio from its log-mel; the choice reaches synthesize."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import compact_backbone, speechlike

import voiceadapt
from voiceadapt.audio import FeatureParams, log_mel
from voiceadapt.models.vocoders import griffin_lim, resolve_vocoder


def _spectral_convergence(a: np.ndarray, b: np.ndarray, params: FeatureParams) -> float:
    ma, mb = torch.exp(log_mel(a, params)), torch.exp(log_mel(b, params))
    return float(torch.linalg.norm(ma - mb) / torch.linalg.norm(ma))


def test_griffin_lim_rebuilds_a_waveform_with_the_same_mel():
    params = FeatureParams()
    wav = speechlike(1.5, f0=140.0)
    mel = log_mel(wav, params)
    out = griffin_lim(mel, params).numpy()
    assert out.shape == (mel.shape[-1] * params.hop_length,)
    assert np.isfinite(out).all() and np.abs(out).max() <= 1.0
    n = min(len(wav), len(out))
    # the reconstruction's mel is close to the original's; noise of the same loudness is not
    assert _spectral_convergence(wav[:n], out[:n], params) < 0.25
    noise = np.random.default_rng(0).standard_normal(n).astype(np.float32) * wav.std()
    assert _spectral_convergence(wav[:n], noise, params) > 0.6
    assert np.array_equal(out, griffin_lim(mel, params).numpy())  # deterministic


def test_vocoder_choice_reaches_synthesize(tmp_path):
    model = compact_backbone(speakers=("anna",)).eval()
    assert resolve_vocoder(model, "auto") == "wavenet"  # no recommendation stored
    model.extra = {"vocoder": "griffin-lim"}
    assert resolve_vocoder(model, "auto") == "griffin-lim"
    with pytest.raises(ValueError, match="unknown vocoder"):
        resolve_vocoder(model, "hifigan")
    gl, rate = voiceadapt.synthesize("Hello there.", "anna", model=model, vocoder="griffin-lim")
    auto, _ = voiceadapt.synthesize("Hello there.", "anna", model=model)
    wn, _ = voiceadapt.synthesize("Hello there.", "anna", model=model, vocoder="wavenet")
    assert rate == 16_000 and gl.dtype == np.float32
    assert np.array_equal(gl, auto) and len(gl) == len(wn) and not np.array_equal(gl, wn)


def test_mel_normalization_round_trips():
    stats = compact_backbone(speakers=("anna",)).stats
    mel = torch.randn(len(stats.mel_mean), 9) * 3 - 6
    assert torch.allclose(stats.denormalize_mel(stats.normalize_mel(mel)), mel, atol=1e-5)
