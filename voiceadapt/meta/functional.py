"""Functional parameters for any ``nn.Module``: the inner loops of the gradient-based
learners run on a dict of tensors through ``torch.func.functional_call``, so the module
itself is never modified and no graph outlives its meta-step."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn
from torch.func import functional_call

from voiceadapt.meta.tasks import Loss

Params = dict[str, torch.Tensor]


def parameters(module: nn.Module) -> Params:
    return dict(module.named_parameters())


def forward(module: nn.Module, params: Params, x: torch.Tensor) -> torch.Tensor:
    return functional_call(module, params, (x,))


def loss_at(module: nn.Module, params: Params, x: torch.Tensor, y: torch.Tensor,
            loss: Loss) -> torch.Tensor:
    return loss(forward(module, params, x), y)


def gradient_steps(params: Params, value_of: Callable[[Params, int], torch.Tensor],
                   lr: float | Mapping[str, float], steps: int, second_order: bool = False,
                   values: list[float] | None = None) -> Params:
    """``steps`` plain gradient steps from ``params`` on ``value_of(params, step)``, at one
    rate ``lr`` or one per name. With ``second_order`` the result stays differentiable with
    respect to ``params`` (the graph through the gradients is kept); otherwise each step's
    gradient is a constant (first-order). ``values`` receives each step's loss."""
    for step in range(steps):
        value = value_of(params, step)
        if values is not None:
            values.append(float(value.detach()))
        grads = torch.autograd.grad(value, list(params.values()), create_graph=second_order,
                                    allow_unused=True)
        params = {n: p if g is None else
                  p - (lr[n] if isinstance(lr, Mapping) else lr) * (g if second_order else g.detach())
                  for (n, p), g in zip(params.items(), grads, strict=True)}
    return params


def sgd_steps(module: nn.Module, params: Params, x: torch.Tensor, y: torch.Tensor, loss: Loss,
              lr: float, steps: int, second_order: bool = False,
              minibatches: int = 1) -> Params:
    """``steps`` plain SGD steps from ``params`` on ``loss(module(x), y)`` (as
    :func:`gradient_steps`); ``minibatches`` > 1 cycles through that many equal slices of
    (x, y), one per step."""
    xs, ys = x.chunk(minibatches), y.chunk(minibatches)
    return gradient_steps(
        params, lambda p, step: loss_at(module, p, xs[step % minibatches], ys[step % minibatches],
                                        loss), lr, steps, second_order)


def detached(params: Params, requires_grad: bool = True) -> Params:
    return {n: p.detach().clone().requires_grad_(requires_grad) for n, p in params.items()}


def count(params: Params | nn.Module) -> int:
    values = params.values() if isinstance(params, dict) else params.parameters()
    return sum(p.numel() for p in values)
