"""A speaker-conditioned WaveNet vocoder with exact incremental generation.

Dilated causal convolutions, gated tanh/sigmoid units, residual and skip paths,
local conditioning on upsampled frame features (log-mel), global conditioning on
a speaker embedding ``g``, and an 8-bit mu-law categorical output. A softmax over
256 classes is used rather than a mixture of logistics: it trains stably at small
sizes and makes sampling and the exactness test trivial.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class WaveNetConfig:
    """The WaveNet's size and conditioning (stored in every checkpoint)."""

    n_classes: int = 256  # mu-law channels
    residual_channels: int = 64
    gate_channels: int = 128
    skip_channels: int = 64
    kernel_size: int = 2
    layers: int = 20
    stacks: int = 2  # dilations 1..2^(layers/stacks - 1), repeated
    cond_channels: int = 80  # frame feature size (n_mels)
    speaker_channels: int = 64  # size of g; 0 for no global conditioning
    hop_length: int = 200  # samples per frame: the upsampling factor

    def __post_init__(self) -> None:
        if self.layers % self.stacks:
            raise ValueError("layers must be a multiple of stacks")

    @property
    def dilations(self) -> list[int]:
        per_stack = self.layers // self.stacks
        return [2 ** (i % per_stack) for i in range(self.layers)]

    @property
    def receptive_field(self) -> int:
        return (self.kernel_size - 1) * sum(self.dilations) + 1

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class _Layer(nn.Module):
    def __init__(self, cfg: WaveNetConfig, dilation: int):
        super().__init__()
        self.dilation = dilation
        self.kernel_size = cfg.kernel_size
        self.conv = nn.Conv1d(cfg.residual_channels, cfg.gate_channels, cfg.kernel_size,
                              dilation=dilation)
        self.cond = nn.Conv1d(cfg.cond_channels, cfg.gate_channels, 1, bias=False)
        self.spk = (nn.Linear(cfg.speaker_channels, cfg.gate_channels, bias=False)
                    if cfg.speaker_channels else None)
        self.out = nn.Conv1d(cfg.gate_channels // 2, cfg.residual_channels + cfg.skip_channels, 1)
        self.residual_channels = cfg.residual_channels

    @property
    def context(self) -> int:
        return (self.kernel_size - 1) * self.dilation

    def gate(self, z: torch.Tensor, c: torch.Tensor, g_bias: torch.Tensor | None) -> torch.Tensor:
        z = z + self.cond(c)
        if g_bias is not None:
            z = z + g_bias
        a, b = z.chunk(2, dim=1)
        return torch.tanh(a) * torch.sigmoid(b)

    def forward(self, x: torch.Tensor, c: torch.Tensor, g_bias: torch.Tensor | None,
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, R, T) residual stream; c: (B, C, T) upsampled conditioning."""
        z = self.conv(F.pad(x, (self.context, 0)))
        out = self.out(self.gate(z, c, g_bias))
        res, skip = out.split([self.residual_channels, out.shape[1] - self.residual_channels], 1)
        return (x + res) * 0.7071067811865476, skip


class WaveNet(nn.Module):
    """WaveNet(cfg)(audio classes (B, T), frames (B, C, T / hop), g (B, S)) -> logits (B, 256, T).

    The logits at time t depend on samples < t only (input is shifted by one inside).
    """

    def __init__(self, cfg: WaveNetConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.n_classes, cfg.residual_channels)
        # a frame-rate conv, then linear interpolation to the sample rate: cheap and smooth
        # (a transposed conv with kernel 2 x hop would cost 2.5 M parameters at 80 mels)
        self.frame_conv = nn.Conv1d(cfg.cond_channels, cfg.cond_channels, 3, padding=1)
        self.layers = nn.ModuleList(_Layer(cfg, d) for d in cfg.dilations)
        self.head = nn.Sequential(
            nn.ReLU(), nn.Conv1d(cfg.skip_channels, cfg.skip_channels, 1),
            nn.ReLU(), nn.Conv1d(cfg.skip_channels, cfg.n_classes, 1),
        )

    def upsample_frames(self, frames: torch.Tensor, length: int) -> torch.Tensor:
        """(B, C, N) frames -> (B, C, length) per-sample conditioning."""
        h = self.frame_conv(frames)
        up = F.interpolate(h, scale_factor=float(self.cfg.hop_length), mode="linear",
                           align_corners=False)
        if up.shape[-1] < length:
            up = F.pad(up, (0, length - up.shape[-1]), mode="replicate")
        return up[..., :length]

    def _speaker_biases(self, g: torch.Tensor | None) -> list[torch.Tensor | None]:
        if g is None or not self.cfg.speaker_channels:
            return [None] * len(self.layers)
        return [layer.spk(g).unsqueeze(-1) for layer in self.layers]

    def forward(self, audio: torch.Tensor, frames: torch.Tensor, g: torch.Tensor | None = None,
                ) -> torch.Tensor:
        length = audio.shape[1]
        c = self.upsample_frames(frames, length)
        # shift right by one: predict x[t] from x[<t]; the first input is silence (class 128)
        prev = F.pad(audio[:, :-1], (1, 0), value=self.cfg.n_classes // 2)
        x = self.embed(prev).transpose(1, 2)
        skips = 0
        for layer, bias in zip(self.layers, self._speaker_biases(g), strict=True):
            x, skip = layer(x, c, bias)
            skips = skips + skip
        return self.head(skips)


class IncrementalState:
    """Per-layer input caches for one batch of streams: generation costs O(layers) per sample."""

    def __init__(self, net: WaveNet, batch: int, device: torch.device, dtype: torch.dtype):
        self.buffers = [
            torch.zeros(batch, net.cfg.residual_channels, layer.context, device=device, dtype=dtype)
            for layer in net.layers
        ]


@torch.no_grad()
def step(net: WaveNet, state: IncrementalState, prev: torch.Tensor, c_t: torch.Tensor,
         biases: list[torch.Tensor | None]) -> torch.Tensor:
    """One sample: prev (B,) classes, c_t (B, C) conditioning -> logits (B, n_classes)."""
    x = net.embed(prev)  # (B, R)
    skips = 0
    for i, (layer, bias) in enumerate(zip(net.layers, biases, strict=True)):
        buf = state.buffers[i]
        window = torch.cat([buf, x.unsqueeze(-1)], dim=-1)  # (B, R, context + 1)
        # a dilated kernel-k conv at the newest position reads taps spaced by `dilation`
        taps = window[..., :: layer.dilation] if layer.dilation > 1 else window
        z = F.conv1d(taps, layer.conv.weight, layer.conv.bias)  # (B, G, 1)
        gated = layer.gate(z, c_t.unsqueeze(-1), bias)
        out = layer.out(gated).squeeze(-1)
        res, skip = out.split([net.cfg.residual_channels, out.shape[1] - net.cfg.residual_channels], 1)
        state.buffers[i] = window[..., 1:]
        x = (x + res) * 0.7071067811865476
        skips = skips + skip
    return net.head(skips.unsqueeze(-1)).squeeze(-1)


def draw_uniforms(length: int, batch: int, generator: torch.Generator | None,
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """The (length, batch) float64 uniforms that sampling consumes, drawn all at once, so
    every implementation (this one, the compiled kernel, folds) can share them."""
    gen_device = generator.device if generator is not None else "cpu"
    return torch.rand(length, batch, generator=generator, dtype=torch.float64,
                      device=gen_device).to(device)


def sample_inverse_cdf(logits: torch.Tensor, u: torch.Tensor, temperature: float) -> torch.Tensor:
    """The first class whose cumulative softmax(logits / temperature) exceeds u (B,)."""
    scaled = (logits - logits.max(-1, keepdim=True).values).double() / max(temperature, 1e-5)
    cdf = torch.cumsum(torch.exp(scaled), -1)
    target = (u * cdf[:, -1]).unsqueeze(-1)
    return torch.searchsorted(cdf, target, right=True).squeeze(-1).clamp(max=logits.shape[-1] - 1)


@torch.no_grad()
def generate(net: WaveNet, frames: torch.Tensor, g: torch.Tensor | None = None,
             temperature: float = 1.0, generator: torch.Generator | None = None,
             teacher: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Sample audio classes one at a time with cached state.

    frames: (B, C, N). Returns (classes (B, N * hop), None). With ``teacher`` (B, T)
    classes, the given samples are fed back instead of the sampled ones and the logits
    (B, n_classes, T) are returned too: they equal the parallel forward's.
    """
    batch = frames.shape[0]
    length = frames.shape[-1] * net.cfg.hop_length if teacher is None else teacher.shape[1]
    c = net.upsample_frames(frames, length)
    biases = net._speaker_biases(g)
    state = IncrementalState(net, batch, frames.device, frames.dtype)
    prev = torch.full((batch,), net.cfg.n_classes // 2, dtype=torch.long, device=frames.device)
    out = torch.empty(batch, length, dtype=torch.long, device=frames.device)
    all_logits = (torch.empty(batch, net.cfg.n_classes, length, device=frames.device)
                  if teacher is not None else None)
    uniforms = draw_uniforms(length, batch, generator, frames.device)
    for t in range(length):
        logits = step(net, state, prev, c[..., t], biases)
        if all_logits is not None:
            all_logits[..., t] = logits
        if teacher is not None:
            sample = teacher[:, t]
        else:
            sample = sample_inverse_cdf(logits, uniforms[t], temperature)
        out[:, t] = sample
        prev = sample
    return out, all_logits
