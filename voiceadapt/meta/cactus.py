"""CACTUs (Hsu et al., 2019): meta-learning tasks built from unlabeled data.

Embed the data without labels, run k-means several times (different seeds and feature
scalings) to get several partitions, drop clusters too small to draw an episode from, and
sample N-way K-shot tasks whose classes are clusters of one partition."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from voiceadapt.meta.tasks import Task


def kmeans(x: torch.Tensor, k: int, iterations: int = 50, seed: int = 0) -> torch.Tensor:
    """Cluster labels (k-means++ start, Lloyd iterations)."""
    gen = torch.Generator().manual_seed(seed)
    centers = [x[torch.randint(len(x), (1,), generator=gen)].squeeze(0)]
    for _ in range(1, k):
        d = torch.cdist(x, torch.stack(centers)).min(1).values.pow(2)
        centers.append(x[torch.multinomial(d / d.sum(), 1, generator=gen)].squeeze(0))
    c = torch.stack(centers)
    labels = torch.zeros(len(x), dtype=torch.long)
    for _ in range(iterations):
        labels = torch.cdist(x, c).argmin(1)
        moved = torch.stack([x[labels == j].mean(0) if (labels == j).any() else c[j]
                             for j in range(k)])
        if torch.allclose(moved, c):
            break
        c = moved
    return labels


def pca(x: torch.Tensor, dims: int) -> torch.Tensor:
    """An unsupervised embedding: the top principal components."""
    centered = x - x.mean(0)
    _, _, v = torch.linalg.svd(centered, full_matrices=False)
    return centered @ v[:dims].T


@dataclass
class Partition:
    labels: torch.Tensor  # cluster of each example (-1: in a dropped cluster)
    clusters: list[int]  # clusters big enough for an episode


def partitions(embedding: torch.Tensor, k: int, count: int, min_size: int,
               seed: int = 0) -> list[Partition]:
    """``count`` k-means partitions, each on a randomly rescaled embedding (CACTUs' way to
    get diverse partitions), clusters smaller than ``min_size`` dropped."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(count):
        scale = torch.rand(embedding.shape[1], generator=gen) + 0.5
        labels = kmeans(embedding * scale, k, seed=seed + i)
        sizes = torch.bincount(labels, minlength=k)
        keep = [j for j in range(k) if sizes[j] >= min_size]
        labels = torch.where(torch.isin(labels, torch.tensor(keep)), labels, -1)
        out.append(Partition(labels, keep))
    return out


def purity(labels: torch.Tensor, truth: torch.Tensor) -> float:
    """Share of examples whose cluster's majority true class is their own class."""
    kept = labels >= 0
    correct = 0
    for j in labels[kept].unique():
        correct += int(torch.bincount(truth[labels == j]).max())
    return correct / max(1, int(kept.sum()))


def sample_task(x: torch.Tensor, part: Partition, ways: int, shots: int, queries: int,
                gen: torch.Generator) -> Task:
    """An N-way K-shot episode whose classes are clusters of the partition."""
    chosen = torch.randperm(len(part.clusters), generator=gen)[:ways]
    sx, sy, qx, qy = [], [], [], []
    for new_label, c in enumerate(chosen.tolist()):
        members = (part.labels == part.clusters[c]).nonzero().squeeze(1)
        pick = members[torch.randperm(len(members), generator=gen)[: shots + queries]]
        sx.append(x[pick[:shots]])
        qx.append(x[pick[shots:]])
        sy += [new_label] * shots
        qy += [new_label] * (len(pick) - shots)
    return Task(torch.cat(sx), torch.tensor(sy), torch.cat(qx), torch.tensor(qy),
                F.cross_entropy)
