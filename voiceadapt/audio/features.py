"""Acoustic features: log-mel spectrogram, F0 with voicing, mu-law companding."""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torchaudio.functional as AF

from voiceadapt.audio.params import MU_LAW_CHANNELS, FeatureParams


@functools.lru_cache(maxsize=8)
def mel_filterbank(params: FeatureParams) -> torch.Tensor:
    """(n_fft // 2 + 1, n_mels) Slaney-normalized mel filterbank; cached per parameter set."""
    return AF.melscale_fbanks(
        n_freqs=params.n_fft // 2 + 1,
        f_min=params.f_min,
        f_max=params.f_max,
        n_mels=params.n_mels,
        sample_rate=params.sample_rate,
        norm="slaney",
        mel_scale="slaney",
    )


@functools.lru_cache(maxsize=8)
def _window(win_length: int) -> torch.Tensor:
    return torch.hann_window(win_length)


def log_mel(samples: np.ndarray | torch.Tensor, params: FeatureParams,
            center: bool = True) -> torch.Tensor:
    """(..., samples) waveform -> (..., n_mels, frames) natural-log mel magnitudes.

    Centered (the default): ``frames == params.num_frames(samples)``, reflect padding, frame
    j centered on sample j * hop. Uncentered: frame j starts at sample j * hop.
    """
    wav = torch.as_tensor(samples, dtype=torch.float32)
    spec = torch.stft(
        wav,
        n_fft=params.n_fft,
        hop_length=params.hop_length,
        win_length=params.win_length,
        window=_window(params.win_length).to(wav.device),
        center=center,
        pad_mode="reflect",
        return_complex=True,
    ).abs()
    mel = torch.matmul(spec.transpose(-1, -2), mel_filterbank(params).to(wav.device))
    return torch.log(torch.clamp(mel, min=params.log_floor)).transpose(-1, -2)


def f0(samples: np.ndarray, params: FeatureParams) -> tuple[np.ndarray, np.ndarray]:
    """WORLD DIO + StoneMask pitch: ``(f0 Hz (frames,), voiced bool (frames,))``.

    Frames line up with :func:`log_mel`; unvoiced frames have F0 0.
    """
    import pyworld

    x = np.ascontiguousarray(samples, dtype=np.float64)
    raw, times = pyworld.dio(x, params.sample_rate, f0_floor=params.f0_floor,
                             f0_ceil=params.f0_ceil, frame_period=params.frame_period_ms)
    refined = pyworld.stonemask(x, raw, times, params.sample_rate)
    frames = params.num_frames(len(samples))
    out = np.zeros(frames, dtype=np.float32)
    n = min(frames, len(refined))
    out[:n] = refined[:n]
    return out, out > 0


def mu_law_encode(samples: np.ndarray | torch.Tensor,
                  channels: int = MU_LAW_CHANNELS) -> torch.Tensor:
    """[-1, 1] float -> integer classes in [0, channels)."""
    x = torch.as_tensor(samples, dtype=torch.float32).clamp(-1.0, 1.0)
    mu = channels - 1
    y = torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)
    return ((y + 1) / 2 * mu + 0.5).floor().long()


def mu_law_decode(classes: np.ndarray | torch.Tensor,
                  channels: int = MU_LAW_CHANNELS) -> torch.Tensor:
    """Integer classes in [0, channels) -> [-1, 1] float."""
    mu = channels - 1
    y = 2 * torch.as_tensor(classes, dtype=torch.float32) / mu - 1
    return torch.sign(y) * ((1 + mu) ** y.abs() - 1) / mu
