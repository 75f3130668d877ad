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


class PathGradient:
    """Leap's meta-gradient, accumulated along one training path a point at a time: add each
    point's loss, parameters and gradient in order (the last point's gradient is not used).
    Works for any inner optimizer: the path is where it went, however it got there."""

    def __init__(self, norm: bool = True, stabilizer: bool = True) -> None:
        self.norm, self.stabilizer = norm, stabilizer
        self.total: dict[str, torch.Tensor] = {}
        self.losses: list[float] = []
        self._last: tuple[float, dict[str, torch.Tensor], dict[str, torch.Tensor] | None] | None = None

    def add_point(self, value: float, theta: dict[str, torch.Tensor],
                  grads: dict[str, torch.Tensor] | None) -> None:
        """The path reached ``theta`` (detached) at loss ``value``, with ``grads`` there."""
        if self._last is not None:
            prev_value, prev_theta, prev_grads = self._last
            if prev_grads is None:
                raise ValueError("only the path's last point may come without gradients")
            if set(prev_grads) != set(theta) or set(prev_theta) != set(theta):
                raise ValueError("every point of a path needs the same tensors, with gradients "
                                 f"for each: {sorted(theta)} against {sorted(prev_grads)}")
            delta_f = value - prev_value
            step = {n: theta[n] - prev_theta[n] for n in theta}
            length = 1.0
            if self.norm:
                length = (sum(float(s.pow(2).sum()) for s in step.values()) + delta_f ** 2) ** 0.5
                length = max(length, 1e-12)
            if self.stabilizer:
                delta_f = -abs(delta_f)
            for n in theta:
                segment = (delta_f * prev_grads[n] + step[n]) / length
                self.total[n] = self.total[n] - segment if n in self.total else -segment
        self.losses.append(value)
        self._last = (value, theta, grads)


class Leap:
    def __init__(self, model: nn.Module, inner_lr: float = 0.01, inner_steps: int = 10,
                 outer_lr: float = 1e-3, norm: bool = True, stabilizer: bool = True,
                 optimizer: torch.optim.Optimizer | None = None) -> None:
        self.model, self.inner_lr, self.inner_steps = model, inner_lr, inner_steps
        self.norm, self.stabilizer = norm, stabilizer
        # the summed path gradient has no fixed scale: Adam's step size does not care
        self.opt = optimizer or torch.optim.Adam(model.parameters(), lr=outer_lr)

    def task_gradient(self, task: Task) -> tuple[dict[str, torch.Tensor], list[float]]:
        """The task's meta-gradient and its training losses along the path (plain SGD)."""
        theta = detached(parameters(self.model))
        names = list(theta)
        path = PathGradient(self.norm, self.stabilizer)
        for step in range(self.inner_steps + 1):
            value = loss_at(self.model, theta, task.support_x, task.support_y, task.loss)
            grads = dict(zip(names, torch.autograd.grad(value, [theta[n] for n in names]),
                             strict=True))
            path.add_point(value.item(), {n: t.detach() for n, t in theta.items()}, grads)
            if step < self.inner_steps:
                theta = {n: (theta[n] - self.inner_lr * grads[n]).detach().requires_grad_(True)
                         for n in names}
        meta = {n: path.total.get(n, torch.zeros_like(t)) for n, t in theta.items()}
        return meta, path.losses

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
