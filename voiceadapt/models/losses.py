"""The generator's losses, shared by backbone training and by adaptation (SEA-EMB, SEA-ALL,
PATCH fit a voice by gradient descent on exactly these).

Features are computed here from audio in float32, even inside bf16 autocast, as at inference.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.func import functional_call

from voiceadapt.audio import FeatureParams, log_mel, mu_law_encode
from voiceadapt.models import alignment
from voiceadapt.models.acoustic import sequence_mask
from voiceadapt.models.backbone import Backbone
from voiceadapt.models.encoder import SpeakerEncoder


def _full_precision(device: torch.device) -> torch.autocast:
    return torch.autocast(device.type, enabled=False)


def segment_mels(frame_audio: torch.Tensor, params: FeatureParams, segment: int) -> torch.Tensor:
    """Log-mels of segments cut with ``n_fft // 2`` context on each side: (B, M, segment / hop).

    Frame j is centered on sample j * hop of the segment, as in the full utterance's mel.
    """
    return log_mel(frame_audio, params, center=False)[..., : segment // params.hop_length]


def segment_room(length: int, segment: int, hop: int) -> int:
    """How many frame-aligned starts a ``segment`` has in ``length`` samples (at least one)."""
    return max(0, (length - segment) // hop) + 1


def cut_segment(audio: torch.Tensor, start: int, params: FeatureParams, segment: int,
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """The one place WaveNet training segments are cut: ``segment`` samples of one utterance's
    ``audio`` (L,) from sample ``start``, and the same with the ``n_fft // 2`` samples of
    context on each side its mel frames need; zeros before the start and past the end. Only
    the window is touched, so a caller may pass a whole utterance in any dtype."""
    pad = params.n_fft // 2
    lo, hi = start - pad, start + segment + pad
    window = audio[max(lo, 0) : min(hi, len(audio))]
    ctx = F.pad(window, (max(0, -lo), max(0, hi - len(audio))))
    return ctx[pad : pad + segment], ctx


def cut_segments(audio: torch.Tensor, lengths: torch.Tensor, params: FeatureParams, segment: int,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One random frame-aligned segment per row of ``audio`` (B, L) float (``cut_segment``).

    Returns (segments (B, segment), frame_audio (B, segment + n_fft)) for :func:`wavenet_loss`.
    """
    hop = params.hop_length
    segs, ctx = [], []
    for row, length in zip(audio, lengths, strict=True):
        room = segment_room(int(length), segment, hop)
        seg, with_context = cut_segment(row, hop * int(torch.randint(0, room, (1,), generator=generator)),
                                        params, segment)
        segs.append(seg)
        ctx.append(with_context)
    return torch.stack(segs), torch.stack(ctx)


def wavenet_loss(model: Backbone, segments: torch.Tensor, frame_audio: torch.Tensor,
                 g: torch.Tensor | None, frames: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy (nats per sample) of the WaveNet on audio segments.

    segments (B, S) float; frame_audio (B, S + n_fft) the same with context; g (B, S_g), or
    None for a WaveNet that hears the mels alone; ``frames`` (B, M, S / hop): normalized mels
    to condition on instead of the segments' own (e.g. the acoustic model's teacher-forced ones).
    """
    device = model.speaker_table.weight.device
    with torch.no_grad(), _full_precision(device):
        mels = frames.to(device) if frames is not None else model.stats.normalize_mel(
            segment_mels(frame_audio.to(device), model.features, segments.shape[1]))
        target = mu_law_encode(segments.to(device), model.cfg.wavenet.n_classes)
    logits = model.wavenet(target, mels, g)
    return F.cross_entropy(logits.float(), target)


def _acoustic_inputs(model: Backbone, text_lens: torch.Tensor, audio: torch.Tensor,
                     mel_lens: torch.Tensor, f0_hz: torch.Tensor, device: torch.device,
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(normalized mels, mel lengths, normalized frame pitch, alignment prior)."""
    with torch.no_grad(), _full_precision(device):
        mels = model.stats.normalize_mel(log_mel(audio.to(device), model.features))
        mel_lens = mel_lens.to(device).clamp(max=mels.shape[-1])
        pitch = model.stats.normalize_f0(f0_hz.to(device))[:, : mels.shape[-1]]
        if pitch.shape[-1] < mels.shape[-1]:
            pitch = F.pad(pitch, (0, mels.shape[-1] - pitch.shape[-1]))
        pitch = pitch * sequence_mask(mel_lens, mels.shape[-1])
        prior = alignment.batch_prior(text_lens.tolist(), mel_lens.tolist(), device)
    return mels, mel_lens, pitch, prior


def acoustic_losses(model: Backbone, ids: torch.Tensor, text_lens: torch.Tensor,
                    audio: torch.Tensor, mel_lens: torch.Tensor, f0_hz: torch.Tensor,
                    g: torch.Tensor, bin_weight: float = 1.0,
                    outputs: dict[str, torch.Tensor] | None = None,
                    lang: torch.Tensor | None = None, align_weight: float = 1.0,
                    ) -> dict[str, torch.Tensor]:
    """Acoustic model losses from raw inputs: ids (B, N), audio (B, L) float, f0_hz (B, T');
    ``outputs``, ``lang`` (B,) and ``align_weight`` as for :meth:`AcousticModel.forward`."""
    device = g.device
    mels, mel_lens, pitch, prior = _acoustic_inputs(model, text_lens, audio, mel_lens, f0_hz, device)
    return model.acoustic(ids.to(device), text_lens.to(device), mels, mel_lens, pitch, g,
                          prior=prior, bin_weight=bin_weight, outputs=outputs, lang=lang,
                          align_weight=align_weight)


def teacher_forced_mels(model: Backbone, ids: torch.Tensor, text_lens: torch.Tensor,
                        audio: torch.Tensor, mel_lens: torch.Tensor, f0_hz: torch.Tensor,
                        g: torch.Tensor, lang: torch.Tensor | None = None) -> torch.Tensor:
    """The acoustic model's normalized mels (B, M, T) for recordings, with their own
    durations and pitch: frame t stands where the recording's frame t does."""
    device = g.device
    mels, mel_lens, pitch, prior = _acoustic_inputs(model, text_lens, audio, mel_lens, f0_hz, device)
    return model.acoustic.teacher_forced(ids.to(device), text_lens.to(device), mels, mel_lens,
                                         pitch, g, prior=prior, lang=lang)


def encoder_input(model: Backbone, audio: torch.Tensor, mel_lens: torch.Tensor,
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(normalized mels (B, M, T), mask (B, T)) for the speaker encoder."""
    device = model.speaker_table.weight.device
    with torch.no_grad(), _full_precision(device):
        mels = model.stats.normalize_mel(log_mel(audio.to(device), model.features))
        lens = mel_lens.to(device).clamp(max=mels.shape[-1])
    return mels, sequence_mask(lens, mels.shape[-1])


def speaker_consistency_loss(encoder: SpeakerEncoder, mel_pred: torch.Tensor, mel: torch.Tensor,
                             mel_mask: torch.Tensor) -> torch.Tensor:
    """1 - cos(encoder(predicted mel), encoder(recorded mel)), averaged over the batch.

    mel_pred, mel (B, M, T) normalized log-mel; mel_mask (B, T) True at valid frames. The
    gradient reaches ``mel_pred`` only: the encoder's weights are used detached. Past each
    row's end the prediction takes the recording's frames, so that the encoder's convolutions
    see the same padding in both and a perfect prediction scores 0."""
    frozen = {name: p.detach() for name, p in encoder.named_parameters()}
    with torch.no_grad():
        target = encoder(mel, mel_mask)
    mel_pred = torch.where(mel_mask[:, None, :], mel_pred, mel.to(mel_pred.dtype))
    predicted = functional_call(encoder, frozen, (mel_pred, mel_mask))
    return (1.0 - F.cosine_similarity(predicted.float(), target.float(), dim=-1)).mean()
