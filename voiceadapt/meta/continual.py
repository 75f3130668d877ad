"""Continual learning on a stream: MER (Riemer et al., 2019) beside its baselines, plain
SGD and experience replay (ER), with the same reservoir memory.

MER: for each incoming example, ``batches`` times: draw k-1 examples from the reservoir
plus the new one and take SGD steps one example at a time, then pull the weights back
toward where the batch started (within-batch Reptile, ``beta``); after all batches, pull
toward where the example started (across-batch Reptile, ``gamma``). Maximizing transfer
and minimizing interference between examples falls out of the Reptile updates."""

from __future__ import annotations

import random
from collections.abc import Iterable

import torch
from torch import nn

from voiceadapt.meta.tasks import Loss


class Reservoir:
    """Reservoir sampling: every example seen so far is in memory with equal probability."""

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size, self.seen, self.items = size, 0, []
        self.rng = random.Random(seed)

    def add(self, item: tuple[torch.Tensor, torch.Tensor]) -> None:
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(item)
        else:
            j = self.rng.randrange(self.seen)
            if j < self.size:
                self.items[j] = item

    def sample(self, n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return self.rng.sample(self.items, min(n, len(self.items)))


def _sgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: Loss, lr: float) -> None:
    model.zero_grad(set_to_none=True)
    loss(model(x), y).backward()
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p -= lr * p.grad


def _interpolate(model: nn.Module, start: list[torch.Tensor], weight: float) -> None:
    with torch.no_grad():
        for p, s in zip(model.parameters(), start, strict=True):
            p.copy_(s + weight * (p - s))


class ContinualLearner:
    """``method``: "sgd" (no memory), "er" (new example + replayed batch, one SGD step), or
    "mer". All use SGD with ``lr``; the memory holds ``memory`` examples."""

    def __init__(self, model: nn.Module, loss: Loss, method: str = "mer", lr: float = 0.03,
                 memory: int = 200, batch: int = 10, batches: int = 5, beta: float = 0.1,
                 gamma: float = 1.0, seed: int = 0) -> None:
        assert method in ("sgd", "er", "mer")
        self.model, self.loss, self.method, self.lr = model, loss, method, lr
        self.memory = Reservoir(memory, seed)
        self.batch, self.batches, self.beta, self.gamma = batch, batches, beta, gamma

    def observe(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Learn from one example (x: (D,), y: scalar class) as it arrives."""
        if self.method == "sgd":
            _sgd(self.model, x[None], y[None], self.loss, self.lr)
        elif self.method == "er":
            replay = self.memory.sample(self.batch - 1)
            xs = torch.stack([x] + [r[0] for r in replay])
            ys = torch.stack([y] + [r[1] for r in replay])
            _sgd(self.model, xs, ys, self.loss, self.lr)
        else:
            start = [p.detach().clone() for p in self.model.parameters()]
            for _ in range(self.batches):
                batch_start = [p.detach().clone() for p in self.model.parameters()]
                items = self.memory.sample(self.batch - 1) + [(x, y)]
                for xi, yi in items:
                    _sgd(self.model, xi[None], yi[None], self.loss, self.lr)
                _interpolate(self.model, batch_start, self.beta)
            _interpolate(self.model, start, self.gamma)
        if self.method != "sgd":
            self.memory.add((x, y))

    def fit_stream(self, stream: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> None:
        for x, y in stream:
            self.observe(x, y)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((model(x).argmax(1) == y).float().mean())
