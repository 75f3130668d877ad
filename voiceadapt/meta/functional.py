"""Functional parameters for any ``nn.Module``: the inner loops of the gradient-based
learners run on a dict of tensors through ``torch.func.functional_call``, so the module
itself is never modified and no graph outlives its meta-step."""

from __future__ import annotations

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


def sgd_steps(module: nn.Module, params: Params, x: torch.Tensor, y: torch.Tensor, loss: Loss,
              lr: float, steps: int, second_order: bool = False,
              minibatches: int = 1) -> Params:
    """``steps`` plain SGD steps from ``params``. With ``second_order`` the result stays
    differentiable with respect to ``params`` (the graph through the gradients is kept);
    otherwise each step's gradient is a constant (first-order). ``minibatches`` > 1 cycles
    through that many equal slices of (x, y), one per step."""
    xs, ys = x.chunk(minibatches), y.chunk(minibatches)
    names = list(params)
    for step in range(steps):
        xb, yb = xs[step % minibatches], ys[step % minibatches]
        value = loss_at(module, params, xb, yb, loss)
        grads = torch.autograd.grad(value, [params[n] for n in names],
                                    create_graph=second_order, allow_unused=True)
        params = {n: p if g is None else p - lr * (g if second_order else g.detach())
                  for (n, p), g in zip(params.items(), grads, strict=True)}
    return params


def detached(params: Params, requires_grad: bool = True) -> Params:
    return {n: p.detach().clone().requires_grad_(requires_grad) for n, p in params.items()}


def count(params: Params | nn.Module) -> int:
    values = params.values() if isinstance(params, dict) else params.parameters()
    return sum(p.numel() for p in values)
