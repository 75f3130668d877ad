"""The SEA-ENC speaker encoder: reference log-mel frames (any length, several clips) -> g."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class EncoderConfig:
    """The SEA-ENC speaker encoder's size (stored in every checkpoint)."""

    n_mels: int = 80
    channels: int = 128
    layers: int = 4
    speaker_channels: int = 64

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class SpeakerEncoder(nn.Module):
    """Convolutions over frames, masked mean over every frame of every clip, then an MLP.

    Pooling over all frames of all clips makes the embedding independent of how the
    reference audio is cut into clips and lets more audio refine the estimate.
    """

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        convs = []
        channels = cfg.n_mels
        for _ in range(cfg.layers):
            convs.append(nn.Conv1d(channels, cfg.channels, 5, padding=2))
            channels = cfg.channels
        self.convs = nn.ModuleList(convs)
        self.norms = nn.ModuleList(nn.GroupNorm(1, cfg.channels) for _ in range(cfg.layers))
        self.proj = nn.Sequential(nn.Linear(2 * cfg.channels, cfg.channels), nn.ReLU(),
                                  nn.Linear(cfg.channels, cfg.speaker_channels))

    def frame_features(self, mels: torch.Tensor) -> torch.Tensor:
        h = mels
        for conv, norm in zip(self.convs, self.norms, strict=True):
            h = F.relu(norm(conv(h)))
        return h

    def forward(self, mels: torch.Tensor, mask: torch.Tensor, group: torch.Tensor | None = None,
                ) -> torch.Tensor:
        """mels (B, M, T) normalized log-mel, mask (B, T) True at valid frames.

        ``group`` (B,) assigns clips to speakers (clips with the same id are pooled
        together); by default each row is its own speaker. Returns g (G, S).
        """
        h = self.frame_features(mels) * mask[:, None, :]
        if group is None:
            group = torch.arange(mels.shape[0], device=mels.device)
        n_groups = int(group.max()) + 1
        sums = torch.zeros(n_groups, h.shape[1], device=h.device, dtype=h.dtype)
        sq = torch.zeros_like(sums)
        counts = torch.zeros(n_groups, device=h.device, dtype=h.dtype)
        sums.index_add_(0, group, h.sum(-1))
        sq.index_add_(0, group, (h * h).sum(-1))
        counts.index_add_(0, group, mask.sum(-1).to(h.dtype))
        mean = sums / counts.clamp(min=1)[:, None]
        std = (sq / counts.clamp(min=1)[:, None] - mean**2).clamp(min=1e-6).sqrt()
        return self.proj(torch.cat([mean, std], dim=-1))
