"""SEA-ENC: the encoder predicts the speaker embedding; no transcript, one forward pass."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from voiceadapt.adapt.profile import VoiceProfile, backbone_fingerprint
from voiceadapt.audio import Audio, AudioLimits, check_total_speech, load_audio, log_mel
from voiceadapt.audio.features import f0
from voiceadapt.audio.io import AudioSource
from voiceadapt.models.backbone import Backbone
from voiceadapt.models.padding import pad_right


def embedding_from_references(model: Backbone, references: Sequence[AudioSource],
                              limits: AudioLimits | None = None) -> torch.Tensor:
    """SEA-ENC: reference clips of one speaker -> speaker embedding g (S,). One forward pass."""
    return embedding_from_clips(model, load_references(references, limits))


def clip_name(source: AudioSource) -> str:
    """How an error names a reference clip: its file name, its path string, or "clip"."""
    return source.name if isinstance(source, Path) else str(source) if isinstance(source, str) \
        else "clip"


def load_references(sources: Sequence[AudioSource], limits: AudioLimits | None = None,
                    ) -> list[Audio]:
    """A voice's reference clips, each checked, and enough speech among them together."""
    if not sources:
        raise ValueError("give at least one reference clip")
    clips = [load_audio(source, limits) for source in sources]
    check_total_speech(clips, limits, [clip_name(source) for source in sources])
    return clips


@torch.no_grad()
def encode_mels(model: Backbone, mels: Sequence[torch.Tensor]) -> torch.Tensor:
    """The encoder over every frame of a speaker's normalized log-mels (M, T_i) -> g (S,)."""
    batch, lengths = pad_right([m.cpu() for m in mels])
    mask = torch.arange(batch.shape[-1])[None, :] < lengths[:, None]
    device = model.speaker_table.weight.device
    return model.encoder(batch.to(device), mask.to(device),
                         group=torch.zeros(len(mels), dtype=torch.long, device=device))[0]


@torch.no_grad()
def embedding_from_clips(model: Backbone, clips: Sequence[Audio]) -> torch.Tensor:
    """The encoder over every frame of already loaded clips -> g (S,); a model that carries
    the voice's pitch in g gets it measured from the clips."""
    g = encode_mels(model, [model.stats.normalize_mel(log_mel(audio.samples, model.features))
                            for audio in clips])
    if model.cfg.acoustic.pitch_in_speaker:  # the voice's pitch is measured, not predicted
        f0_hz = torch.from_numpy(np.concatenate([f0(a.samples, model.features)[0] for a in clips]))
        g = model.with_voice_pitch(g[None], f0_hz[None])[0]
    return g


def adapt_sea_enc(model: Backbone, clips: Sequence[AudioSource], name: str = "",
                  limits: AudioLimits | None = None) -> VoiceProfile:
    """Reference clips of one speaker -> a SEA-ENC voice profile."""
    audio = load_references(clips, limits)
    g = embedding_from_clips(model, audio)
    return VoiceProfile(mode="sea-enc", embedding=g.cpu(), backbone=backbone_fingerprint(model),
                        seconds=round(sum(a.seconds for a in audio), 3), name=name)
