"""A FastPitch-like non-autoregressive acoustic model with its own aligner.

phoneme ids + speaker embedding g -> per-token durations and pitch -> frame-rate
log-mel. The speaker vector is added to the input of every FFT block, so an
adapted ``g`` reaches the whole network.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from voiceadapt.models import alignment
from voiceadapt.models.alignment import Aligner


@dataclass(frozen=True)
class AcousticConfig:
    """The acoustic model's size and options (stored in every checkpoint)."""

    n_symbols: int
    n_mels: int = 80
    # the defaults are the "default" model size (backbone.MODEL_SIZES)
    d_model: int = 128
    n_heads: int = 2
    encoder_layers: int = 3
    decoder_layers: int = 3
    ff_channels: int = 512
    ff_kernel: int = 3
    dropout: float = 0.1
    speaker_channels: int = 64
    predictor_channels: int = 128
    predictor_kernel: int = 3
    # the last two speaker channels carry the voice's measured log-F0 mean and spread
    # (:meth:`NormStats.voice_pitch`); the pitch predictor predicts F0 relative to them
    pitch_in_speaker: bool = False
    # > 0: a language embedding (one row per language the model was trained on, the backbone's
    # ``languages``) added to every token, so that the speaker embedding need not say which
    # language is spoken (with the adversarial speaker loss: cross-lingual voices)
    languages: int = 0

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def sequence_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """(B,) lengths -> (B, max_len) True at valid positions."""
    max_len = int(max_len or int(lengths.max()))
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def _positions(length: int, channels: int, device: torch.device) -> torch.Tensor:
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, channels, 2, device=device) * (-math.log(10000.0) / channels))
    pe = torch.zeros(length, channels, device=device)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq)
    return pe


class FFTBlock(nn.Module):
    """Self-attention + convolutional feed-forward, post-norm; speaker added at the input."""

    def __init__(self, cfg: AcousticConfig):
        super().__init__()
        self.spk = nn.Linear(cfg.speaker_channels, cfg.d_model)
        self.attn = nn.MultiheadAttention(cfg.d_model, cfg.n_heads, dropout=cfg.dropout,
                                          batch_first=True)
        self.norm1 = nn.LayerNorm(cfg.d_model)
        self.ff = nn.Sequential(
            nn.Conv1d(cfg.d_model, cfg.ff_channels, cfg.ff_kernel, padding=cfg.ff_kernel // 2),
            nn.ReLU(), nn.Dropout(cfg.dropout),
            nn.Conv1d(cfg.ff_channels, cfg.d_model, 1),
        )
        self.norm2 = nn.LayerNorm(cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """x: (B, L, D); mask: (B, L) True at valid; g: (B, S)."""
        x = x + self.spk(g)[:, None, :]
        a, _ = self.attn(x, x, x, key_padding_mask=~mask, need_weights=False)
        x = self.norm1(x + self.drop(a))
        f = self.ff((x * mask[..., None]).transpose(1, 2)).transpose(1, 2)
        x = self.norm2(x + self.drop(f))
        return x * mask[..., None]


class Predictor(nn.Module):
    """Two conv layers -> one value per position (log-duration or normalized pitch)."""

    def __init__(self, cfg: AcousticConfig):
        super().__init__()
        k, c = cfg.predictor_kernel, cfg.predictor_channels
        self.conv1 = nn.Conv1d(cfg.d_model, c, k, padding=k // 2)
        self.norm1 = nn.LayerNorm(c)
        self.conv2 = nn.Conv1d(c, c, k, padding=k // 2)
        self.norm2 = nn.LayerNorm(c)
        self.out = nn.Linear(c, 1)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x: (B, L, D) -> (B, L)."""
        h = x.transpose(1, 2)
        h = self.drop(self.norm1(F.relu(self.conv1(h)).transpose(1, 2))).transpose(1, 2)
        h = self.drop(self.norm2(F.relu(self.conv2(h)).transpose(1, 2)))
        return self.out(h).squeeze(-1) * mask


def regulate_length(x: torch.Tensor, durations: torch.Tensor, max_frames: int | None = None,
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Repeat each token's vector ``durations`` times: (B, N, D), (B, N) -> (B, T, D), (B,) T."""
    durations = durations.long().clamp(min=0)
    lengths = durations.sum(1)
    t_max = int(max_frames or max(1, int(lengths.max())))
    ends = durations.cumsum(1)  # (B, N)
    frames = torch.arange(t_max, device=x.device)[None, :, None]  # (1, T, 1)
    index = (frames >= ends[:, None, :]).sum(-1).clamp(max=x.shape[1] - 1)  # (B, T)
    out = torch.gather(x, 1, index[..., None].expand(-1, -1, x.shape[-1]))
    out = out * sequence_mask(lengths, t_max)[..., None]
    return out, lengths


class AcousticModel(nn.Module):
    def __init__(self, cfg: AcousticConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.n_symbols, cfg.d_model, padding_idx=0)
        self.encoder = nn.ModuleList(FFTBlock(cfg) for _ in range(cfg.encoder_layers))
        self.duration = Predictor(cfg)
        self.pitch = Predictor(cfg)
        self.pitch_embed = nn.Conv1d(1, cfg.d_model, 3, padding=1)
        self.decoder = nn.ModuleList(FFTBlock(cfg) for _ in range(cfg.decoder_layers))
        self.to_mel = nn.Linear(cfg.d_model, cfg.n_mels)
        self.aligner = Aligner(cfg.d_model, cfg.n_mels)
        if cfg.languages:
            # zeros: a model that gains the embedding (a warm start) speaks as before
            self.language = nn.Embedding(cfg.languages, cfg.d_model)
            nn.init.zeros_(self.language.weight)

    def predict_pitch(self, x: torch.Tensor, mask: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """Per-token normalized log-F0 (B, N); with ``pitch_in_speaker`` the predictor's output
        is relative to the voice (z-scores) and is denormalized with g's last two channels."""
        pitch = self.pitch(x, mask)
        if self.cfg.pitch_in_speaker:
            pitch = (pitch * g[:, -1:] + g[:, -2:-1]) * mask
        return pitch

    def encode(self, ids: torch.Tensor, mask: torch.Tensor, g: torch.Tensor,
               lang: torch.Tensor | None = None) -> torch.Tensor:
        """Token states (B, N, D); ``lang`` (B,) language indexes, for a model with a language
        embedding (None: no language added)."""
        x = self.embed(ids) + _positions(ids.shape[1], self.cfg.d_model, ids.device)
        if lang is not None:
            if not self.cfg.languages:
                raise ValueError("this acoustic model has no language embedding")
            x = x + self.language(lang.to(ids.device))[:, None, :]
        x = x * mask[..., None]
        for block in self.encoder:
            x = block(x, mask, g)
        return x

    def decode(self, x: torch.Tensor, pitch: torch.Tensor, durations: torch.Tensor,
               g: torch.Tensor, max_frames: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Token states + per-token pitch + durations -> (mel (B, M, T), frame lengths (B,))."""
        x = x + self.pitch_embed(pitch[:, None, :]).transpose(1, 2)
        y, lengths = regulate_length(x, durations, max_frames)
        mask = sequence_mask(lengths, y.shape[1])
        y = y + _positions(y.shape[1], self.cfg.d_model, y.device)
        y = y * mask[..., None]
        for block in self.decoder:
            y = block(y, mask, g)
        return self.to_mel(y).transpose(1, 2) * mask[:, None, :], lengths

    @torch.no_grad()
    def infer(self, ids: torch.Tensor, g: torch.Tensor, pace: float = 1.0,
              lengths: torch.Tensor | None = None, lang: torch.Tensor | None = None,
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """ids (B, N), g (B, S) -> (mel (B, M, T), frame lengths (B,)); ``lang`` as for
        :meth:`encode`."""
        if lengths is None:
            lengths = torch.full((ids.shape[0],), ids.shape[1], device=ids.device)
        mask = sequence_mask(lengths, ids.shape[1])
        x = self.encode(ids, mask, g, lang)
        log_dur = self.duration(x, mask)
        durations = torch.clamp(torch.round(torch.expm1(log_dur.clamp(min=0)) / pace), min=1)
        durations = durations * mask
        pitch = self.predict_pitch(x, mask, g)
        return self.decode(x, pitch, durations, g)

    def _aligned(self, ids: torch.Tensor, text_lens: torch.Tensor, mels: torch.Tensor,
                 mel_lens: torch.Tensor, pitch_frames: torch.Tensor, g: torch.Tensor,
                 prior: torch.Tensor | None, lang: torch.Tensor | None = None,
                 ) -> dict[str, torch.Tensor]:
        """Token states and the recording's own alignment: durations and per-token pitch."""
        text_mask = sequence_mask(text_lens, ids.shape[1])
        mel_mask = sequence_mask(mel_lens, mels.shape[-1])
        x = self.encode(ids, text_mask, g, lang)
        logp = self.aligner(self.embed(ids).transpose(1, 2), mels, text_mask, prior)
        logp = logp.masked_fill(~mel_mask[..., None], 0.0)
        hard = alignment.hard_alignment(logp, text_lens, mel_lens)  # (B, T, N)
        voiced = (pitch_frames != 0).float() * mel_mask
        token_voiced = torch.einsum("btn,bt->bn", hard, voiced)
        token_pitch = torch.einsum("btn,bt->bn", hard, pitch_frames * voiced)
        return {"x": x, "text_mask": text_mask, "mel_mask": mel_mask, "logp": logp, "hard": hard,
                "durations": hard.sum(1), "token_pitch": token_pitch / token_voiced.clamp(min=1.0)}

    @torch.no_grad()
    def teacher_forced(self, ids: torch.Tensor, text_lens: torch.Tensor, mels: torch.Tensor,
                       mel_lens: torch.Tensor, pitch_frames: torch.Tensor, g: torch.Tensor,
                       prior: torch.Tensor | None = None, lang: torch.Tensor | None = None,
                       ) -> torch.Tensor:
        """The mel (B, M, T) this model makes for a recording with the recording's own
        durations and pitch (ground-truth aligned): what a vocoder hears at synthesis, frame
        for frame in step with the recording. Arguments as for :meth:`forward`."""
        a = self._aligned(ids, text_lens, mels, mel_lens, pitch_frames, g, prior, lang)
        mel, _ = self.decode(a["x"], a["token_pitch"], a["durations"], g, max_frames=mels.shape[-1])
        return mel

    def forward(self, ids: torch.Tensor, text_lens: torch.Tensor, mels: torch.Tensor,
                mel_lens: torch.Tensor, pitch_frames: torch.Tensor, g: torch.Tensor,
                prior: torch.Tensor | None = None, bin_weight: float = 0.0,
                outputs: dict[str, torch.Tensor] | None = None,
                lang: torch.Tensor | None = None, align_weight: float = 1.0,
                ) -> dict[str, torch.Tensor]:
        """Training losses for one batch.

        ids (B, N); mels (B, M, T) normalized log-mel; pitch_frames (B, T) normalized log-F0
        (0 where unvoiced); g (B, S). Returns a dict of scalar losses with ``total``. A dict
        passed as ``outputs`` receives what further losses need: ``text_mask``, the predicted
        and target mels ``mel_pred``/``mel`` and ``mel_mask``.
        ``lang`` as for :meth:`encode`. With ``align_weight`` 0 the aligner's forward-sum (CTC)
        loss is reported, detached, and left out of ``total``, which can then be differentiated
        twice (CTC has no double backward; second-order MAML needs one).
        """
        a = self._aligned(ids, text_lens, mels, mel_lens, pitch_frames, g, prior, lang)
        x, text_mask, mel_mask = a["x"], a["text_mask"], a["mel_mask"]
        logp, hard, durations, token_pitch = a["logp"], a["hard"], a["durations"], a["token_pitch"]
        log_dur_pred = self.duration(x, text_mask)
        pitch_pred = self.predict_pitch(x, text_mask, g)
        mel_pred, _ = self.decode(x, token_pitch, durations, g, max_frames=mels.shape[-1])
        if outputs is not None:
            outputs.update(text_mask=text_mask, mel_pred=mel_pred, mel=mels, mel_mask=mel_mask)
        n_tokens = text_mask.sum().clamp(min=1)
        n_frames = mel_mask.sum().clamp(min=1)
        losses = {
            "mel": (F.l1_loss(mel_pred, mels, reduction="none") * mel_mask[:, None]).sum()
            / (n_frames * self.cfg.n_mels),
            "duration": (F.mse_loss(log_dur_pred, torch.log1p(durations), reduction="none")
                         * text_mask).sum() / n_tokens,
            "pitch": (F.mse_loss(pitch_pred, token_pitch, reduction="none") * text_mask).sum()
            / n_tokens,
            "align": alignment.forward_sum_loss(logp if align_weight else logp.detach(), text_lens,
                                                mel_lens),
        }
        losses["bin"] = alignment.binarization_loss(hard, logp)
        total = losses["mel"] + 0.1 * losses["duration"] + 0.1 * losses["pitch"]
        if align_weight:
            total = total + align_weight * losses["align"]
        losses["total"] = total + bin_weight * losses["bin"]
        return losses
