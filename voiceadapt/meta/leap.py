"""Leap (Flennerhag et al., 2019): meta-learn an initialization that shortens the path
training takes on each task, measured in the joint space of parameters and loss.

For a task trained by SGD from psi through theta_0 = psi, ..., theta_K, the meta-gradient
is approximated (Jacobians taken as identity) by
    -sum_i [ delta_f_i * grad f(theta_i) + (theta_{i+1} - theta_i) ] / d_i
with delta_f_i = f(theta_{i+1}) - f(theta_i) and d_i the segment length (``norm``). The
stabilizer uses -|delta_f_i| in place of delta_f_i, so the loss term always points
downhill even where a step overshot."""

from __future__ import annotations

import torch
from torch import nn

from voiceadapt.meta.functional import detached, loss_at, parameters
from voiceadapt.meta.tasks import Task


class Leap:
    def __init__(self, model: nn.Module, inner_lr: float = 0.01, inner_steps: int = 10,
                 outer_lr: float = 1e-3, norm: bool = True, stabilizer: bool = True,
                 optimizer: torch.optim.Optimizer | None = None) -> None:
        self.model, self.inner_lr, self.inner_steps = model, inner_lr, inner_steps
        self.norm, self.stabilizer = norm, stabilizer
        # the summed path gradient has no fixed scale: Adam's step size does not care
        self.opt = optimizer or torch.optim.Adam(model.parameters(), lr=outer_lr)

    def task_gradient(self, task: Task) -> tuple[dict[str, torch.Tensor], list[float]]:
        """The task's meta-gradient and its training losses along the path."""
        theta = detached(parameters(self.model))
        meta = {n: torch.zeros_like(p) for n, p in theta.items()}
        names = list(theta)
        value = loss_at(self.model, theta, task.support_x, task.support_y, task.loss)
        grads = torch.autograd.grad(value, [theta[n] for n in names])
        losses = [value.item()]
        for _ in range(self.inner_steps):
            nxt = {n: (theta[n] - self.inner_lr * g).detach().requires_grad_(True)
                   for n, g in zip(names, grads, strict=True)}
            nxt_value = loss_at(self.model, nxt, task.support_x, task.support_y, task.loss)
            nxt_grads = torch.autograd.grad(nxt_value, [nxt[n] for n in names])
            delta_f = nxt_value.item() - value.item()
            step = {n: nxt[n].detach() - theta[n].detach() for n in names}
            length = 1.0
            if self.norm:
                length = (sum(float(s.pow(2).sum()) for s in step.values()) + delta_f ** 2) ** 0.5
                length = max(length, 1e-12)
            if self.stabilizer:
                delta_f = -abs(delta_f)
            for n, g in zip(names, grads, strict=True):
                meta[n] -= (delta_f * g + step[n]) / length
            theta, value, grads = nxt, nxt_value, nxt_grads
            losses.append(value.item())
        return meta, losses

    def meta_step(self, tasks: list[Task]) -> float:
        """One outer step over the tasks; returns their mean training-loss area."""
        self.opt.zero_grad(set_to_none=True)
        area = 0.0
        for task in tasks:
            meta, losses = self.task_gradient(task)
            area += sum(losses) / len(tasks)
            for n, p in self.model.named_parameters():
                p.grad = meta[n] / len(tasks) if p.grad is None else p.grad + meta[n] / len(tasks)
        self.opt.step()
        return area


def training_curve(model: nn.Module, task: Task, lr: float, steps: int) -> list[float]:
    """Training losses of plain SGD from the module's parameters (the module is untouched)."""
    theta = detached(parameters(model))
    names = list(theta)
    losses = []
    for _ in range(steps + 1):
        value = loss_at(model, theta, task.support_x, task.support_y, task.loss)
        losses.append(value.item())
        grads = torch.autograd.grad(value, [theta[n] for n in names])
        theta = {n: (theta[n] - lr * g).detach().requires_grad_(True)
                 for n, g in zip(names, grads, strict=True)}
    return losses
