"""Prototypical Networks (Snell et al., 2017): classify a query by the nearest class mean
(prototype) of the embedded support set; meta-train the embedding on episodes."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from voiceadapt.meta.tasks import Task


def prototypes(embedded: torch.Tensor, labels: torch.Tensor, classes: int) -> torch.Tensor:
    onehot = F.one_hot(labels, classes).to(embedded.dtype)  # (N, C)
    return (onehot.T @ embedded) / onehot.sum(0)[:, None]


def logits(encoder: nn.Module, task: Task, classes: int | None = None) -> torch.Tensor:
    """Negative squared Euclidean distance of each query to each prototype."""
    classes = classes or int(task.support_y.max()) + 1
    protos = prototypes(encoder(task.support_x), task.support_y, classes)
    return -torch.cdist(encoder(task.query_x), protos).pow(2)


class ProtoNet:
    def __init__(self, encoder: nn.Module, lr: float = 1e-3) -> None:
        self.encoder = encoder
        self.opt = torch.optim.Adam(encoder.parameters(), lr=lr) if any(
            True for _ in encoder.parameters()) else None

    def meta_step(self, tasks: list[Task]) -> float:
        assert self.opt is not None, "an encoder without parameters has nothing to learn"
        self.opt.zero_grad(set_to_none=True)
        total = 0.0
        for task in tasks:
            loss = F.cross_entropy(logits(self.encoder, task), task.query_y) / len(tasks)
            loss.backward()
            total += loss.item()
        self.opt.step()
        return total

    @torch.no_grad()
    def accuracy(self, task: Task) -> float:
        return float((logits(self.encoder, task).argmax(1) == task.query_y).float().mean())


class GaussianClasses:
    """Two unit-variance Gaussian classes in ``dim`` dimensions whose means are ``distance``
    apart. With exact prototypes, nearest-prototype accuracy is Phi(distance / 2)."""

    def __init__(self, distance: float, dim: int = 2, seed: int = 0) -> None:
        self.distance, self.dim = distance, dim
        self.gen = torch.Generator().manual_seed(seed)

    def task(self, shots: int, queries: int) -> Task:
        direction = torch.randn(self.dim, generator=self.gen)
        direction = direction / direction.norm()
        means = torch.stack([-direction, direction]) * self.distance / 2

        def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
            y = torch.arange(2).repeat_interleave(n)
            return means[y] + torch.randn(2 * n, self.dim, generator=self.gen), y

        sx, sy = draw(shots)
        qx, qy = draw(queries)
        return Task(sx, sy, qx, qy, F.cross_entropy)
