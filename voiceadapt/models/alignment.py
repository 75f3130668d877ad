"""Unsupervised text-to-speech alignment (RAD-TTS / FastPitch 1.1 style).

A small text encoder and mel encoder give an attention over text for every mel
frame; a beta-binomial prior keeps it near the diagonal early in training; the
forward-sum (CTC) loss sums over all monotonic paths; monotonic alignment search
(MAS) turns the soft attention into hard durations. The same module aligns a
user's transcribed reference clips at adaptation time.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import betaln
from torch import nn


class Aligner(nn.Module):
    """Aligner(text_emb (B, D, N), mels (B, M, T)) -> log attention (B, T, N), masked."""

    def __init__(self, text_channels: int, n_mels: int, channels: int = 80,
                 temperature: float = 0.0005):
        super().__init__()
        self.temperature = temperature
        self.key = nn.Sequential(
            nn.Conv1d(text_channels, 2 * text_channels, 3, padding=1), nn.ReLU(),
            nn.Conv1d(2 * text_channels, channels, 1),
        )
        self.query = nn.Sequential(
            nn.Conv1d(n_mels, 2 * n_mels, 3, padding=1), nn.ReLU(),
            nn.Conv1d(2 * n_mels, n_mels, 1), nn.ReLU(),
            nn.Conv1d(n_mels, channels, 1),
        )

    def forward(self, text_emb: torch.Tensor, mels: torch.Tensor, text_mask: torch.Tensor,
                prior: torch.Tensor | None = None) -> torch.Tensor:
        """text_mask: (B, N) True at real tokens; prior: (B, T, N) log prior or None."""
        k = self.key(text_emb)  # (B, C, N)
        q = self.query(mels)  # (B, C, T)
        dist = (q.unsqueeze(-1) - k.unsqueeze(2)).pow(2).sum(1)  # (B, T, N)
        logits = -self.temperature * dist
        logp = F.log_softmax(logits.masked_fill(~text_mask[:, None, :], -1e4), dim=-1)
        if prior is not None:
            logp = F.log_softmax(logp + prior, dim=-1).masked_fill(~text_mask[:, None, :], -1e4)
        return logp


@functools.lru_cache(maxsize=8192)
def beta_binomial_prior(n_text: int, n_mel: int, scaling: float = 1.0) -> np.ndarray:
    """(n_mel, n_text) log prior favouring the diagonal (RAD-TTS)."""
    k = np.arange(n_text)
    out = np.zeros((n_mel, n_text), dtype=np.float32)
    for t in range(1, n_mel + 1):
        a, b = scaling * t, scaling * (n_mel + 1 - t)
        logpmf = (betaln(k + a, n_text - 1 - k + b) - betaln(a, b)
                  + _log_binom(n_text - 1, k))
        out[t - 1] = logpmf
    return out


def _log_binom(n: int, k: np.ndarray) -> np.ndarray:
    from scipy.special import gammaln

    return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)


def batch_prior(text_lens: list[int], mel_lens: list[int], device: torch.device) -> torch.Tensor:
    n_max, t_max = max(text_lens), max(mel_lens)
    out = torch.zeros(len(text_lens), t_max, n_max, device=device)
    for i, (n, t) in enumerate(zip(text_lens, mel_lens, strict=True)):
        out[i, :t, :n] = torch.from_numpy(beta_binomial_prior(n, t))
    return out


_TWICE_DIFFERENTIABLE: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "forward_sum_twice_differentiable", default=False)


@contextlib.contextmanager
def twice_differentiable_forward_sum():
    """Inside this block :func:`forward_sum_loss` runs its own log-space recursion instead of
    ``F.ctc_loss``, whose backward has no backward in PyTorch 2.11: same value and gradient,
    slower, and it can be differentiated twice (second-order MAML's inner steps)."""
    token = _TWICE_DIFFERENTIABLE.set(True)
    try:
        yield
    finally:
        _TWICE_DIFFERENTIABLE.reset(token)


def forward_sum_loss(logp: torch.Tensor, text_lens: torch.Tensor, mel_lens: torch.Tensor,
                     ) -> torch.Tensor:
    """CTC over the token sequence 1..N with a blank: every monotonic path counts.

    logp: (B, T, N) log attention. Batched: one ``ctc_loss`` call for the whole batch (or one
    recursion, inside :func:`twice_differentiable_forward_sum`).
    """
    n_max = logp.shape[-1]
    at_least_float = logp.to(torch.promote_types(logp.dtype, torch.float32))
    padded = F.pad(at_least_float, (1, 0), value=math.log(1e-1))  # column 0 is the blank
    columns = torch.arange(n_max + 1, device=logp.device)[None, None, :]
    invalid = columns > text_lens[:, None, None]
    lp = F.log_softmax(padded.masked_fill(invalid, -1e4), dim=-1)
    if _TWICE_DIFFERENTIABLE.get():
        return _sequential_ctc(lp, text_lens, mel_lens)
    targets = torch.arange(1, n_max + 1, device=logp.device)[None, :].expand(logp.shape[0], -1)
    return F.ctc_loss(lp.transpose(0, 1), targets, mel_lens, text_lens, zero_infinity=True)


_IMPOSSIBLE = -1e30  # finite, so that no gradient meets exp(-inf - -inf)


def _sequential_ctc(lp: torch.Tensor, text_lens: torch.Tensor, mel_lens: torch.Tensor,
                    ) -> torch.Tensor:
    """``F.ctc_loss(lp, targets 1..N, mel_lens, text_lens, zero_infinity=True)``, reduction
    "mean", for lp (B, T, N + 1) log-probabilities with column 0 the blank, as a forward
    recursion built from differentiable operations.

    The lattice has 2N + 1 states: blanks at even indices, token k at 2k - 1. Every token
    differs from the one before it, so a token state is reached from itself, the blank before
    it and the token before that blank."""
    b, t_max, n_plus = lp.shape
    states = 2 * (n_plus - 1) + 1
    s = torch.arange(states, device=lp.device)
    emission_column = torch.where(s % 2 == 1, (s + 1) // 2, 0)
    emit = lp[:, :, emission_column].unbind(1)  # T x (B, S): one backward for all frames
    token_state = (s % 2 == 1)[None, :]
    skip_allowed = token_state & (s >= 3)[None, :]
    alpha = emit[0].masked_fill((s >= 2)[None, :], _IMPOSSIBLE)
    history = [alpha]
    for t in range(1, t_max):
        stay = alpha
        step = F.pad(alpha, (1, 0), value=_IMPOSSIBLE)[:, :-1]
        skip = F.pad(alpha, (2, 0), value=_IMPOSSIBLE)[:, :-2].masked_fill(~skip_allowed, _IMPOSSIBLE)
        alpha = torch.logsumexp(torch.stack([stay, step, skip]), dim=0) + emit[t]
        history.append(alpha)
    alphas = torch.stack(history, dim=1)  # (B, T, S)
    rows = torch.arange(b, device=lp.device)
    last = alphas[rows, (mel_lens - 1).clamp(min=0).long()]  # (B, S)
    final_blank = (2 * text_lens).long()
    final_token = last[rows, (final_blank - 1).clamp(min=0)].masked_fill(text_lens == 0, _IMPOSSIBLE)
    log_likelihood = torch.logsumexp(torch.stack([last[rows, final_blank], final_token]), dim=0)
    feasible = (log_likelihood > _IMPOSSIBLE / 2) & (mel_lens > 0) & (mel_lens >= text_lens)
    per_item = torch.where(feasible, -log_likelihood, torch.zeros_like(log_likelihood))
    return (per_item / text_lens.clamp(min=1).to(per_item.dtype)).mean()


def monotonic_alignment_search(logp: np.ndarray, n_text: int, n_mel: int) -> np.ndarray:
    """Best monotonic path through ``logp`` (T, N): every token gets at least one frame.

    Returns hard attention (T, N) of 0/1 floats. Requires ``n_mel >= n_text``.
    """
    lp = logp[:n_mel, :n_text].astype(np.float64)
    neg = -1e30
    q = np.full((n_mel, n_text), neg)
    q[0, 0] = lp[0, 0]
    for t in range(1, n_mel):
        stay = q[t - 1]
        move = np.concatenate([[neg], q[t - 1, :-1]])
        q[t] = np.maximum(stay, move) + lp[t]
    path = np.zeros((n_mel, n_text), dtype=np.float32)
    i = n_text - 1
    for t in range(n_mel - 1, -1, -1):
        path[t, i] = 1.0
        if t > 0 and i > 0 and (i == t or q[t - 1, i - 1] >= q[t - 1, i]):
            i -= 1
    return path


@torch.no_grad()
def hard_alignment(logp: torch.Tensor, text_lens: torch.Tensor, mel_lens: torch.Tensor,
                   ) -> torch.Tensor:
    """Batched MAS on the tensor's own device: (B, T, N) log attention -> (B, T, N) 0/1.

    Same path as :func:`monotonic_alignment_search`, vectorized over the batch.
    """
    lp = logp.detach().float()
    b, t_max, n_max = lp.shape
    neg = -1e30
    tokens = torch.arange(n_max, device=lp.device)[None, :]
    lp = lp.masked_fill(tokens[:, None, :] >= text_lens[:, None, None], neg)
    q = torch.full_like(lp, neg)
    q[:, 0, 0] = lp[:, 0, 0]
    for t in range(1, t_max):
        prev = q[:, t - 1]
        moved = F.pad(prev[:, :-1], (1, 0), value=neg)
        q[:, t] = torch.maximum(prev, moved) + lp[:, t]
    path = torch.zeros_like(lp)
    rows = torch.arange(b, device=lp.device)
    idx = (text_lens - 1).clone()
    for t in range(t_max - 1, -1, -1):
        active = t < mel_lens
        path[rows, t, idx] = active.to(path.dtype)  # no boolean indexing: no host sync per frame
        if t == 0:
            break
        stay = q[rows, t - 1, idx]
        move = q[rows, t - 1, (idx - 1).clamp(min=0)]
        go = active & (idx > 0) & ((idx == t) | (move >= stay))
        idx = idx - go.long()
    return path


def binarization_loss(hard: torch.Tensor, logp: torch.Tensor) -> torch.Tensor:
    """Pull the soft attention towards its own hard path."""
    return -(hard * logp).sum() / hard.sum().clamp(min=1.0)
