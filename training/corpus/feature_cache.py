"""A hash-keyed feature cache kept in its own folder, never beside the audio.

Layout: ``ROOT/<params key>/<aa>/<audio sha256>.npz`` where the params key hashes
the feature parameters and :data:`FEATURE_VERSION`, so changing either starts a
fresh cache instead of mixing features. Entries are written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from voiceadapt.audio import FeatureParams, decode, f0, log_mel
from voiceadapt.audio.processing import resample, to_mono

FEATURE_VERSION = 1


def params_key(params: FeatureParams) -> str:
    blob = json.dumps({"version": FEATURE_VERSION, **params.to_dict()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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
        digest = file_sha256(audio_path)
        return self.dir / digest[:2] / f"{digest}.npz"

    def get(self, audio_path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
        """Features of ``audio_path``, computed and stored on first use."""
        audio_path = Path(audio_path)
        entry = self.entry(audio_path)
        if entry.exists():
            with np.load(entry) as data:
                return {k: data[k] for k in data.files}
        feats = compute_features(audio_path, self.params)
        entry.parent.mkdir(parents=True, exist_ok=True)
        if not (self.dir / "params.json").exists():
            (self.dir / "params.json").write_text(json.dumps(self.params.to_dict(), indent=1))
        fd, tmp = tempfile.mkstemp(dir=entry.parent, suffix=".npz.part")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **feats)
            os.replace(tmp, entry)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return feats
