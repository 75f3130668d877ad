"""Two training losses that push the acoustic model toward voices it never heard.

- **Speaker consistency** (YourTTS, Casanova et al. 2022; defined in
  :mod:`voiceadapt.models.losses`, whose early stopping uses it too): the project's own speaker
  encoder should hear the same voice in the predicted mel as in the recording. The encoder
  judges with its weights detached, so the loss does not move the judge toward the
  prediction; it moves the acoustic model (and, through the g it conditions on, whatever
  made g: the table, or the encoder itself when SEA-ENC's g is used, as for the mel loss).
- **Adversarial speaker loss** (Zhang et al. 2019): a speaker classifier reads the text
  encoder's token states through a gradient reversal layer. The classifier learns to name
  the speaker; the reversed gradient teaches the text encoder to hide it, so the voice comes
  from g alone and a new g is not fighting speaker traces in the text encodings. Our text
  encoder adds g to every block's input, so the classifier must read an encoding made with
  g = 0 (:func:`speaker_free_encoding`): otherwise it would name the speaker from g itself
  and the reversed gradient would push the speakers' embeddings together.

Both are training-only: the classifier is not part of the shipped backbone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


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


def speaker_free_encoding(acoustic: nn.Module, ids: torch.Tensor, text_mask: torch.Tensor,
                          g: torch.Tensor) -> torch.Tensor:
    """The text encoder's token states (B, N, D) with g = 0 and no language row: what the
    phonemes alone say. (Each speaker speaks mostly one language, so a language row would be
    the classifier's best clue, and the reversed gradient would teach that row to hide the
    language it exists to carry.)"""
    return acoustic.encode(ids, text_mask, torch.zeros_like(g))


class SpeakerAdversary(nn.Module):
    """A per-token speaker classifier behind gradient reversal (Zhang et al. 2019). ``clip``
    clamps each element of the reversed gradient (off by default: with the loss weighted and
    averaged over tokens, the elements are far below any useful clamp)."""

    def __init__(self, d_model: int, n_speakers: int, hidden: int = 256, scale: float = 1.0,
                 clip: float | None = None):
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
