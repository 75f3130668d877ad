"""Model patches ("K for the price of 1", Mudrakarta et al., 2019): adapt a shared network
to a new task by learning only a small per-task patch (the normalization layers' scales
and biases, plus a task head); everything else stays frozen and shared."""

from __future__ import annotations

import torch
from torch import nn

from voiceadapt.meta.tasks import Task

NORMS = (nn.LayerNorm, nn.BatchNorm1d, nn.GroupNorm)


def patch_names(model: nn.Module, head: str) -> list[str]:
    """Parameters of the normalization layers and of the module named ``head``."""
    names = []
    for mod_name, module in model.named_modules():
        if isinstance(module, NORMS) or mod_name == head:
            names += [f"{mod_name}.{p}" for p, _ in module.named_parameters(recurse=False)]
    return names


def fit(model: nn.Module, task: Task, trainable: list[str] | None, steps: int = 200,
        lr: float = 1e-2) -> nn.Module:
    """Fine-tune ``trainable`` parameters (None: all) on the support set; returns the model."""
    params = dict(model.named_parameters())
    chosen = list(params) if trainable is None else trainable
    for n, p in params.items():
        p.requires_grad_(n in chosen)
    opt = torch.optim.Adam([params[n] for n in chosen], lr=lr)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        task.loss(model(task.support_x), task.support_y).backward()
        opt.step()
    for p in params.values():
        p.requires_grad_(True)
    return model


def patch_share(model: nn.Module, head: str) -> float:
    names = set(patch_names(model, head))
    sizes = {n: p.numel() for n, p in model.named_parameters()}
    return sum(sizes[n] for n in names) / sum(sizes.values())
