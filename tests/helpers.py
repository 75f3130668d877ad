"""Helpers the tests share (test modules never import each other or conftest).

``require_synthesizers`` skips a test when the Debian synthesizers are missing, or fails it
under ``--require-synthesizers`` (CI passes it, so CI never skips them silently)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from voiceadapt.audio import FeatureParams
from voiceadapt.models.backbone import Backbone, BackboneConfig, NormStats
from voiceadapt.text import SymbolTable

N_MELS = 20
SYNTHESIZERS = ("flite", "espeak-ng", "text2wave")
#: set by conftest from the --require-synthesizers option
STRICT = {"synthesizers": False}


def speechlike(seconds: float, rate: int = 16_000, f0: float = 120.0, seed: int = 0) -> np.ndarray:
    """A voiced, syllable-rate amplitude-modulated harmonic signal with a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    pitch = f0 * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 20))
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 4 * t)) ** 2
    x = voice * envelope + 0.01 * rng.standard_normal(len(t))
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def compact_backbone(speakers=("a", "b", "c")) -> Backbone:
    """A small, untrained backbone (20 mels, hop 40) for fast tests of the machinery."""
    table = SymbolTable()
    cfg = BackboneConfig.compact(len(table), n_mels=N_MELS, hop_length=40)
    params = FeatureParams(n_mels=N_MELS, hop_length=40, n_fft=256, win_length=160)
    stats = NormStats(mel_mean=tuple([-5.0] * N_MELS), mel_std=tuple([2.0] * N_MELS))
    torch.manual_seed(0)
    return Backbone(cfg, list(speakers), table, params, stats)


def require(what: str, missing: list[str]) -> None:
    """Skip (or, strict, fail) when system packages a test needs are missing."""
    if not missing:
        return
    message = f"{what} missing (install them with .ci/run's apt step): {missing}"
    if STRICT["synthesizers"]:
        pytest.fail(message)
    pytest.skip(message)


def require_synthesizers() -> None:
    require("synthesizers", [tool for tool in SYNTHESIZERS if shutil.which(tool) is None])
