"""Continual learning on a stream: MER (Riemer et al., 2019) beside its baselines, plain
SGD and experience replay (ER), with the same reservoir memory.

MER: for each incoming example, ``batches`` times: draw k-1 examples from the reservoir
plus the new one and take SGD steps one example at a time, then pull the weights back
toward where the batch started (within-batch Reptile, ``beta``); after all batches, pull
toward where the example started (across-batch Reptile, ``gamma``). Maximizing transfer
and minimizing interference between examples falls out of the Reptile updates."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from voiceadapt.meta.tasks import Loss

METHODS = ("sgd", "er", "mer")
BatchLoss = Callable[[list[Any]], torch.Tensor]


class Reservoir:
    """Reservoir sampling: every example seen so far is in memory with equal probability."""

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size, self.seen, self.items = size, 0, []
        self.rng = random.Random(seed)

    def add(self, item: Any) -> None:
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(item)
        else:
            j = self.rng.randrange(self.seen)
            if j < self.size:
                self.items[j] = item

    def sample(self, n: int) -> list[Any]:
        return self.rng.sample(self.items, min(n, len(self.items)))


def example_loss(model: nn.Module, loss: Loss) -> BatchLoss:
    """The batch loss of (x, y) examples (x: (D,), y: scalar) for a model of x."""

    def batch_loss(examples: list[Any]) -> torch.Tensor:
        xs = torch.stack([x for x, _ in examples])
        ys = torch.stack([y for _, y in examples])
        return loss(model(xs), ys)

    return batch_loss


class ContinualLearner:
    """``method``: "sgd" (no memory), "er" (new example + replayed batch, one step), or "mer".
    All step ``params`` down ``batch_loss`` (of a list of examples, whatever they are) by SGD
    at ``lr``, or by ``optimizer`` when one is given; the memory holds ``memory`` examples."""

    def __init__(self, params: Iterable[torch.Tensor], batch_loss: BatchLoss, method: str = "mer",
                 lr: float = 0.03, memory: int = 200, batch: int = 10, batches: int = 5,
                 beta: float = 0.1, gamma: float = 1.0, seed: int = 0,
                 optimizer: torch.optim.Optimizer | None = None) -> None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        self.params = list(params)
        self.batch_loss, self.method, self.lr, self.optimizer = batch_loss, method, lr, optimizer
        self.memory = Reservoir(memory, seed)
        self.batch, self.batches, self.beta, self.gamma = batch, batches, beta, gamma

    def _step(self, examples: list[Any]) -> float:
        for p in self.params:
            p.grad = None
        value = self.batch_loss(examples)
        value.backward()
        if self.optimizer is not None:
            self.optimizer.step()
        else:
            with torch.no_grad():
                for p in self.params:
                    if p.grad is not None:
                        p -= self.lr * p.grad
        return value.item()

    def _interpolate(self, start: list[torch.Tensor], weight: float) -> None:
        with torch.no_grad():
            for p, s in zip(self.params, start, strict=True):
                p.copy_(s + weight * (p - s))

    def observe(self, example: Any) -> float:
        """Learn from one example as it arrives; returns the mean loss of the steps taken."""
        if self.method == "sgd":
            losses = [self._step([example])]
        elif self.method == "er":
            losses = [self._step([example] + self.memory.sample(self.batch - 1))]
        else:
            losses = []
            start = [p.detach().clone() for p in self.params]
            for _ in range(self.batches):
                batch_start = [p.detach().clone() for p in self.params]
                for item in self.memory.sample(self.batch - 1) + [example]:
                    losses.append(self._step([item]))
                self._interpolate(batch_start, self.beta)
            self._interpolate(start, self.gamma)
        if self.method != "sgd":
            self.memory.add(example)
        return sum(losses) / len(losses)

    def fit_stream(self, stream: Iterable[Any]) -> None:
        for example in stream:
            self.observe(example)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((model(x).argmax(1) == y).float().mean())
