"""The voice's mel offset: a per-channel correction of the acoustic model's output, measured
in closed form on the transcribed reference clips after a fit (``FitConfig.mel_offset``).

A model that has heard only synthesizers has no speaker embedding that gives a real voice its
long-term spectral colour. Given the fitted voice, the acoustic model predicts each reference
clip with the clip's own durations and pitch (teacher-forced, frame for frame in step with the
recording); the mean of recorded minus predicted normalized log-mel over the clips' speech
frames is the bias of the output layer that minimizes the squared error on those frames, all
else fixed. It is stored as a delta of ``acoustic.to_mel.bias`` (80 numbers), so every vocoder
applies it the same way (:func:`voiceadapt.adapt.fit.apply_profile`). The fitted modes
(SEA-EMB, SEA-ALL, PATCH) can add it; SEA-ENC takes no transcript and cannot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from voiceadapt.adapt.profile import VoiceProfile
from voiceadapt.audio import log_mel
from voiceadapt.models import losses as L
from voiceadapt.models.backbone import Backbone

if TYPE_CHECKING:  # fit imports this module
    from voiceadapt.adapt.fit import Clip

OUTPUT_BIAS = "acoustic.to_mel.bias"
#: a frame is speech when its mel energy is within this many dB of the clip's loudest frame
#: (the same margin as the level meter's ``active_frames``, here on mel frames)
SPEECH_BELOW_PEAK_DB = 40.0


def speech_frames(raw_log_mel: torch.Tensor) -> torch.Tensor:
    """(M, T) natural-log mel magnitudes -> (T,) True where the frame holds speech."""
    level_db = 10.0 / np.log(10.0) * torch.logsumexp(2.0 * raw_log_mel, dim=0)
    return level_db > level_db.max() - SPEECH_BELOW_PEAK_DB


@torch.no_grad()
def speech_residual(model: Backbone, clip: Clip, g: torch.Tensor) -> torch.Tensor:
    """Recorded minus teacher-forced predicted normalized log-mel on one transcribed clip's
    speech frames, under voice ``g``: (M, frames), on the CPU. The model is used as it is
    (call it in eval mode)."""
    audio = torch.as_tensor(clip.audio.samples, dtype=torch.float32)
    mel_lens = torch.tensor([len(audio) // model.features.hop_length + 1])
    lang = None if clip.lang is None else torch.tensor([clip.lang])
    predicted = L.teacher_forced_mels(model, clip.ids[None], torch.tensor([len(clip.ids)]),
                                      audio[None], mel_lens, clip.f0[None].float(), g[None],
                                      lang=lang)[0].cpu()
    raw = log_mel(audio, model.features)
    if predicted.shape != raw.shape:
        raise RuntimeError(f"teacher-forced mel {tuple(predicted.shape)} and recorded mel "
                           f"{tuple(raw.shape)} are out of step")
    speech = speech_frames(raw)
    return (model.stats.normalize_mel(raw) - predicted)[:, speech]


@torch.no_grad()
def measure_mel_offset(model: Backbone, clips: Sequence[Clip], g: torch.Tensor) -> torch.Tensor:
    """The mean :func:`speech_residual` per channel over every speech frame of ``clips``, under
    voice ``g`` and ``model`` as the profile leaves it: (M,), on ``g``'s device. One clip at a
    time, so a long reference costs no more memory than its longest clip. (The loudest frame of
    a clip is always speech, so there is always something to average.)"""
    was_training = model.training
    model.eval()
    try:
        residuals = [speech_residual(model, clip, g) for clip in clips]
    finally:
        model.train(was_training)
    return torch.cat(residuals, dim=1).double().mean(1).float().to(g.device)


def with_mel_offset(profile: VoiceProfile, offset: torch.Tensor) -> VoiceProfile:
    """The profile with ``offset`` added to the output bias it leaves the model with: added to
    a PATCH's bias value or a SEA-ALL delta (in its dtype, on its device), or stored as a new
    delta."""
    tensors = dict(profile.tensors)
    for key in (f"patch.{OUTPUT_BIAS}", f"delta.{OUTPUT_BIAS}"):
        if key in tensors:
            value = tensors[key]
            tensors[key] = (value.float() + offset.to(value.device)).to(value.dtype)
            break
    else:
        tensors[f"delta.{OUTPUT_BIAS}"] = offset.detach().float().to(profile.embedding.device)
    return replace(profile, tensors=tensors)
