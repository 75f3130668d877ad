"""Two training losses that push the acoustic model toward voices it never heard.

- **Speaker consistency** (YourTTS, Casanova et al. 2022): the project's own speaker
  encoder should hear the same voice in the predicted mel as in the recording. The encoder
  is a fixed judge for this loss (its weights get no gradient from it), so the acoustic
  model must move toward the voice rather than the encoder toward the prediction.
- **Adversarial speaker loss** (Zhang et al. 2019): a speaker classifier reads the text
  encoder's token states through a gradient reversal layer. The classifier learns to name
  the speaker; the reversed gradient teaches the text encoder to hide it, so the voice comes
  from g alone and a new g is not fighting speaker traces in the text encodings.

Both are training-only: the classifier is not part of the shipped backbone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from voiceadapt.models.encoder import SpeakerEncoder


def speaker_consistency_loss(encoder: SpeakerEncoder, mel_pred: torch.Tensor, mel: torch.Tensor,
                             mel_mask: torch.Tensor) -> torch.Tensor:
    """1 - cos(encoder(predicted mel), encoder(recorded mel)), averaged over the batch.

    mel_pred, mel (B, M, T) normalized log-mel; mel_mask (B, T) True at valid frames. The
    gradient reaches ``mel_pred`` only: the encoder's weights are used detached."""
    frozen = {name: p.detach() for name, p in encoder.named_parameters()}
    with torch.no_grad():
        target = encoder(mel, mel_mask)
    predicted = functional_call(encoder, frozen, (mel_pred, mel_mask))
    return (1.0 - F.cosine_similarity(predicted.float(), target.float(), dim=-1)).mean()


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor, scale: float,
                clip: float | None) -> torch.Tensor:
        ctx.scale, ctx.clip = scale, clip
        return x.view_as(x)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor,
                 ) -> tuple[torch.Tensor, None, None]:
        if ctx.clip is not None:
            grad = grad.clamp(-ctx.clip, ctx.clip)
        return -ctx.scale * grad, None, None


def reverse_gradient(x: torch.Tensor, scale: float = 1.0, clip: float | None = None,
                     ) -> torch.Tensor:
    """The identity forward; backward, the gradient clamped to [-clip, clip] (if given) and
    multiplied by ``-scale``."""
    return _ReverseGradient.apply(x, scale, clip)


class SpeakerAdversary(nn.Module):
    """A per-token speaker classifier behind gradient reversal (Zhang et al. 2019, who also
    clip the reversed gradient, at 0.5: the text encoder is pushed, never thrown)."""

    def __init__(self, d_model: int, n_speakers: int, hidden: int = 256, scale: float = 1.0,
                 clip: float | None = 0.5):
        super().__init__()
        self.scale, self.clip = scale, clip
        self.net = nn.Sequential(nn.Linear(d_model, hidden), nn.ReLU(),
                                 nn.Linear(hidden, n_speakers))

    def forward(self, x: torch.Tensor, mask: torch.Tensor, speakers: torch.Tensor) -> torch.Tensor:
        """x (B, N, D) token states, mask (B, N) True at valid tokens, speakers (B,) ->
        the classifier's cross-entropy over valid tokens (chance is log(n_speakers))."""
        logits = self.net(reverse_gradient(x, self.scale, self.clip)).float()
        labels = speakers.to(x.device)[:, None].expand(-1, x.shape[1])
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                             reduction="none").view_as(mask.float())
        return (ce * mask).sum() / mask.sum().clamp(min=1)
