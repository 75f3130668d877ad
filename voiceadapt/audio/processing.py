"""Sample-level processing: mono mixdown, resampling, level measurement, trimming, loudness."""

from __future__ import annotations

import numpy as np
import torch
import torchaudio.functional as AF

FRAME_SECONDS = 0.025  # level-meter frame
_EPS = 1e-10


def to_mono(samples: np.ndarray) -> np.ndarray:
    """(samples,) or (samples, channels) -> (samples,) float32, channels averaged."""
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    return np.ascontiguousarray(samples, dtype=np.float32)


def resample(samples: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Band-limited (windowed sinc) resampling of a mono float signal."""
    if orig_rate == new_rate:
        return samples.astype(np.float32, copy=False)
    out = AF.resample(torch.from_numpy(np.ascontiguousarray(samples)), orig_rate, new_rate)
    return out.numpy().astype(np.float32, copy=False)


def frame_dbfs(samples: np.ndarray, rate: int) -> np.ndarray:
    """RMS level in dBFS of consecutive non-overlapping frames of ``FRAME_SECONDS``."""
    size = max(1, int(rate * FRAME_SECONDS))
    count = max(1, len(samples) // size)
    frames = np.zeros((count, size), dtype=np.float64)
    flat = samples[: count * size].astype(np.float64)
    frames.reshape(-1)[: len(flat)] = flat
    rms = np.sqrt(np.mean(frames**2, axis=1))
    return 20.0 * np.log10(rms + _EPS)


def active_frames(samples: np.ndarray, rate: int, silence_dbfs: float,
                  below_peak_db: float = 40.0) -> np.ndarray:
    """Boolean mask of frames that hold sound: louder than ``silence_dbfs`` and within
    ``below_peak_db`` of the loudest frame."""
    levels = frame_dbfs(samples, rate)
    return (levels > silence_dbfs) & (levels > levels.max() - below_peak_db)


def speech_seconds(samples: np.ndarray, rate: int, silence_dbfs: float) -> float:
    """Seconds of the signal above ``silence_dbfs`` (the speech a clip holds)."""
    return float(active_frames(samples, rate, silence_dbfs).sum()) * FRAME_SECONDS


def trim_silence(samples: np.ndarray, rate: int, silence_dbfs: float,
                 pad_seconds: float = 0.1) -> np.ndarray:
    """Cut leading and trailing silence, keeping ``pad_seconds`` of it on each side."""
    mask = active_frames(samples, rate, silence_dbfs)
    if not mask.any():
        return samples[:0]
    size = max(1, int(rate * FRAME_SECONDS))
    first, last = np.flatnonzero(mask)[[0, -1]]
    pad = int(pad_seconds * rate)
    start = max(0, first * size - pad)
    end = min(len(samples), (last + 1) * size + pad)
    return samples[start:end]


def loudness_normalize(samples: np.ndarray, rate: int, target_dbfs: float,
                       silence_dbfs: float, peak_limit: float) -> np.ndarray:
    """Scale so that active speech sits at ``target_dbfs`` RMS, never peaking above
    ``peak_limit`` (a speech level meter in the spirit of ITU-T P.56, without K-weighting)."""
    mask = active_frames(samples, rate, silence_dbfs)
    if not mask.any():
        return samples
    size = max(1, int(rate * FRAME_SECONDS))
    active = np.concatenate([samples[i * size : (i + 1) * size] for i in np.flatnonzero(mask)])
    level = 20.0 * np.log10(np.sqrt(np.mean(active.astype(np.float64) ** 2)) + _EPS)
    gain = 10.0 ** ((target_dbfs - level) / 20.0)
    peak = float(np.abs(samples).max()) * gain
    if peak > peak_limit:
        gain *= peak_limit / peak
    return (samples * gain).astype(np.float32)
