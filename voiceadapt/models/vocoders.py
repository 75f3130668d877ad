"""Frame features -> waveform: the WaveNet, or Griffin-Lim phase reconstruction.

The WaveNet is the backbone's vocoder and the one adaptation fits. Griffin-Lim needs no
training: it inverts the mel filterbank (least squares, clamped at zero) and iterates
STFT phase estimates (fast Griffin-Lim with momentum, deterministic start). It is about
a hundred times faster than real time on a CPU and intelligible wherever the acoustic
model is, at the price of a phasey, buzzy timbre. A checkpoint names the vocoder it
recommends in its ``extra["vocoder"]``; ``"auto"`` follows it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator

import numpy as np
import torch
import torchaudio.functional as AF

from voiceadapt.audio import FeatureParams
from voiceadapt.audio.features import mel_filterbank
from voiceadapt.models import fastgen
from voiceadapt.models.backbone import Backbone
from voiceadapt.names import VOCODER_NAMES, VOCODERS

GRIFFIN_LIM_ITERS = 48


def resolve_vocoder(model: Backbone, vocoder: str) -> str:
    """``auto`` -> the checkpoint's recommendation (WaveNet when it names none)."""
    if vocoder not in VOCODER_NAMES:
        raise ValueError(f"unknown vocoder {vocoder!r}; choose one of {', '.join(VOCODER_NAMES)}")
    if vocoder == "auto":
        vocoder = model.recommended_vocoder or "wavenet"
        if vocoder not in VOCODERS:
            raise ValueError(f"the checkpoint recommends an unknown vocoder {vocoder!r}")
    return vocoder


@functools.lru_cache(maxsize=4)
def _mel_inverse(params: FeatureParams) -> torch.Tensor:
    """(n_freqs, n_mels) least-squares inverse of the mel filterbank."""
    return torch.linalg.pinv(mel_filterbank(params).T)


def griffin_lim(log_mel: torch.Tensor, params: FeatureParams, n_iter: int = GRIFFIN_LIM_ITERS,
                ) -> torch.Tensor:
    """(..., n_mels, T) natural-log mel (unnormalized) -> (..., T * hop) waveform in [-1, 1]."""
    magnitude = (_mel_inverse(params).to(log_mel.device) @ torch.exp(log_mel.float())).clamp(min=0)
    window = torch.hann_window(params.win_length, device=log_mel.device)
    frames = log_mel.shape[-1]
    # (frames - 1) * hop samples give back exactly ``frames`` centered frames; the last hop of
    # the WaveNet-length output is silence
    wav = AF.griffinlim(magnitude, window, params.n_fft, params.hop_length, params.win_length,
                        power=1.0, n_iter=n_iter, momentum=0.99,
                        length=(frames - 1) * params.hop_length, rand_init=False)
    return torch.nn.functional.pad(wav, (0, params.hop_length)).clamp(-1.0, 1.0)


def default_folds() -> int:
    """WaveNet folds per utterance when the caller names none: one per core, at most 4.
    Callers pass their own setting (the server's ``wavenet_folds``, the CLI's ``--folds``);
    the library reads no environment (``VOICEADAPT_WAVENET_FOLDS=0`` read here once meant
    one unfolded fold, the slowest path, where the server's setting says one per core)."""
    return max(1, min(4, os.cpu_count() or 1))


@torch.no_grad()
def vocode_stream(model: Backbone, mel: torch.Tensor, g: torch.Tensor, vocoder: str,
                  generator: torch.Generator | None = None, temperature: float = 1.0,
                  folds: int | None = None) -> Iterator[np.ndarray]:
    """(1, M, T) normalized mel + (1, S) embedding -> waveform pieces in order, each as soon
    as it is made. The WaveNet runs the compiled kernel (``fastgen``), ``folds`` pieces side
    by side (``folds=1``: exactly the reference generation's samples)."""
    vocoder = resolve_vocoder(model, vocoder)
    if vocoder == "griffin-lim":
        yield griffin_lim(model.stats.denormalize_mel(mel), model.features)[0].cpu().numpy()
        return
    yield from fastgen.stream(model.wavenet, mel.cpu(), g.cpu(), temperature, generator,
                              folds=default_folds() if folds is None else folds)


@torch.no_grad()
def vocode(model: Backbone, mel: torch.Tensor, g: torch.Tensor, vocoder: str,
           generator: torch.Generator | None = None, temperature: float = 1.0,
           folds: int | None = None) -> torch.Tensor:
    """(B, M, T) normalized mels + (B, S) speaker embeddings -> (B, T * hop) waveforms."""
    vocoder = resolve_vocoder(model, vocoder)
    if vocoder == "griffin-lim":
        return griffin_lim(model.stats.denormalize_mel(mel), model.features)
    return torch.stack([torch.from_numpy(np.concatenate(list(vocode_stream(
        model, mel[i:i + 1], g[i:i + 1], vocoder, generator, temperature, folds))))
        for i in range(mel.shape[0])])
