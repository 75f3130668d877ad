"""A hash-keyed feature cache kept in its own folder, never beside the audio.

Layout: ``ROOT/<params key>/<aa>/<audio sha256>.npz`` where the params key hashes
the feature parameters and :data:`FEATURE_VERSION`, so changing either starts a
fresh cache instead of mixing features. Entries are written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from voiceadapt.audio import FeatureParams, decode, f0, log_mel
from voiceadapt.audio.processing import resample, to_mono
from voiceadapt.files import atomic_path, atomic_write_text, sha256_file

FEATURE_VERSION = 1


def params_key(params: FeatureParams) -> str:
    blob = json.dumps({"version": FEATURE_VERSION, **params.to_dict()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def compute_features(audio_path: Path, params: FeatureParams) -> dict[str, np.ndarray]:
    """``mel`` (n_mels, T) float32, ``f0`` (T,) Hz, ``voiced`` (T,) bool for one file."""
    samples, rate = decode(audio_path)
    mono = resample(to_mono(samples), rate, params.sample_rate)
    hz, voiced = f0(mono, params)
    return {"mel": log_mel(mono, params).numpy(), "f0": hz, "voiced": voiced}


class FeatureCache:
    def __init__(self, root: str | os.PathLike[str], params: FeatureParams | None = None):
        self.params = params or FeatureParams()
        self.dir = Path(root) / params_key(self.params)

    def entry(self, audio_path: Path) -> Path:
        digest = sha256_file(audio_path)
        return self.dir / digest[:2] / f"{digest}.npz"

    def get(self, audio_path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
        """Features of ``audio_path``, computed and stored on first use."""
        audio_path = Path(audio_path)
        entry = self.entry(audio_path)
        if entry.exists():
            with np.load(entry) as data:
                return {k: data[k] for k in data.files}
        feats = compute_features(audio_path, self.params)
        if not (self.dir / "params.json").exists():
            atomic_write_text(self.dir / "params.json", json.dumps(self.params.to_dict(), indent=1))
        with atomic_path(entry) as tmp, open(tmp, "wb") as f:
            np.savez(f, **feats)
        return feats
