"""Tasks (support set, query set, loss) and the toy task families the learners are checked on."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def mse(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(pred, y)


def half_sse(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """1/2 ||pred - y||^2: a linear model under it is a quadratic with Hessian X^T X."""
    return 0.5 * ((pred - y) ** 2).sum()


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, y)


@dataclass
class Task:
    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor
    loss: Loss = mse


def stack(tasks: list[Task]) -> tuple[torch.Tensor, ...]:
    """(support_x, support_y, query_x, query_y) with a leading task dimension, for vmap."""
    return tuple(torch.stack([getattr(t, k) for t in tasks])
                 for k in ("support_x", "support_y", "query_x", "query_y"))


class Sinusoids:
    """Finn et al. (2017): y = A sin(x - phase), A in [0.1, 5], phase in [0, pi], x in [-5, 5]."""

    # the best task-agnostic predictor (zero) has an expected MSE of E[A^2]/2 (about 4.2);
    # the "3.0" is the reference the adapted models must be far below
    def __init__(self, shots: int = 10, queries: int = 10, seed: int = 0) -> None:
        self.shots, self.queries = shots, queries
        self.gen = torch.Generator().manual_seed(seed)

    def _uniform(self, n: int, lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=self.gen)

    def task(self) -> Task:
        amp = self._uniform(1, 0.1, 5.0)
        phase = self._uniform(1, 0.0, math.pi)
        x = self._uniform(self.shots + self.queries, -5.0, 5.0)[:, None]
        y = amp * torch.sin(x - phase)
        return Task(x[: self.shots], y[: self.shots], x[self.shots:], y[self.shots:], mse)

    def tasks(self, n: int) -> list[Task]:
        return [self.task() for _ in range(n)]


def mlp(sizes: tuple[int, ...] = (1, 40, 40, 1)) -> torch.nn.Sequential:
    layers: list[torch.nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def mean_interval(values: torch.Tensor) -> tuple[float, float]:
    """(mean, half-width of its 95% interval)."""
    values = values.double()
    return float(values.mean()), float(1.96 * values.std() / math.sqrt(len(values)))
