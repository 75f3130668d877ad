"""The voice's mel offset: a per-channel correction of the acoustic model's output, measured
in closed form on the transcribed reference clips after a fit.

A model that has heard only synthesizers has no speaker embedding that gives a real voice its
long-term spectral colour. Given the fitted voice, the acoustic model predicts each reference
clip with the clip's own durations and pitch (teacher-forced, frame for frame in step with the
recording); the mean of recorded minus predicted normalized log-mel over the clips' speech
frames is the bias of the output layer that minimizes the squared error on those frames, all
else fixed. It is stored as a delta of ``acoustic.to_mel.bias`` (80 numbers), so every vocoder
and every mode's profile applies it the same way (:func:`voiceadapt.adapt.fit.apply_profile`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

import numpy as np
import torch

from voiceadapt.adapt.profile import VoiceProfile
from voiceadapt.audio import Audio, log_mel
from voiceadapt.models import losses as L
from voiceadapt.models.backbone import Backbone


class Clip(Protocol):
    """A transcribed reference clip (:class:`voiceadapt.adapt.fit.Clip`)."""

    audio: Audio
    ids: torch.Tensor  # (N,)
    f0: torch.Tensor  # (T,) Hz
    lang: int | None


OUTPUT_BIAS = "acoustic.to_mel.bias"
#: a frame is speech when its mel energy is within this many dB of the clip's loudest frame
#: (the level meter's ``active_frames`` uses the same 40 dB)
SPEECH_BELOW_PEAK_DB = 40.0


def speech_frames(raw_log_mel: torch.Tensor) -> torch.Tensor:
    """(M, T) natural-log mel magnitudes -> (T,) True where the frame holds speech."""
    level_db = 10.0 / np.log(10.0) * torch.logsumexp(2.0 * raw_log_mel, dim=0)
    return level_db > level_db.max() - SPEECH_BELOW_PEAK_DB


@torch.no_grad()
def measure_mel_offset(model: Backbone, clips: Sequence[Clip], g: torch.Tensor) -> torch.Tensor:
    """Mean (recorded - teacher-forced prediction) normalized log-mel per channel over the
    speech frames of transcribed ``clips``, under voice
    ``g`` and ``model`` as the profile leaves it: (M,). One clip at a time, so a long
    reference costs no more memory than its longest clip."""
    was_training = model.training
    model.eval()
    device = g.device
    total = torch.zeros(model.features.n_mels, dtype=torch.float64)
    frames = 0
    try:
        for clip in clips:
            audio = torch.as_tensor(clip.audio.samples, dtype=torch.float32)
            mel_lens = torch.tensor([len(audio) // model.features.hop_length + 1])
            lang = None if clip.lang is None else torch.tensor([clip.lang])
            predicted = L.teacher_forced_mels(model, clip.ids[None], torch.tensor([len(clip.ids)]),
                                              audio[None], mel_lens, clip.f0[None].float(),
                                              g[None], lang=lang)[0].cpu()
            raw = log_mel(audio, model.features)
            n = min(predicted.shape[-1], raw.shape[-1], int(mel_lens[0]))
            raw, predicted = raw[:, :n], predicted[:, :n]
            speech = speech_frames(raw)
            recorded = model.stats.normalize_mel(raw)
            total += (recorded - predicted)[:, speech].sum(-1).double()
            frames += int(speech.sum())
    finally:
        model.train(was_training)
    if not frames:
        raise ValueError("the reference clips hold no speech frames to measure the voice on")
    return (total / frames).float().to(device)


def with_mel_offset(profile: VoiceProfile, offset: torch.Tensor) -> VoiceProfile:
    """The profile with ``offset`` added to the output bias it leaves the model with: added to
    a PATCH's bias value or a SEA-ALL delta (in its float16), or stored as a new delta."""
    tensors = dict(profile.tensors)
    offset = offset.detach().cpu()
    if f"patch.{OUTPUT_BIAS}" in tensors:
        value = tensors[f"patch.{OUTPUT_BIAS}"]
        tensors[f"patch.{OUTPUT_BIAS}"] = (value.float() + offset).to(value.dtype)
    elif f"delta.{OUTPUT_BIAS}" in tensors:
        value = tensors[f"delta.{OUTPUT_BIAS}"]
        tensors[f"delta.{OUTPUT_BIAS}"] = (value.float() + offset).to(value.dtype)
    else:
        tensors[f"delta.{OUTPUT_BIAS}"] = offset.float()
    return replace(profile, tensors=tensors)
