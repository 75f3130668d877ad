"""Gradient-based meta-learners on functional parameters: MAML (second order, or first
order), Reptile. Each has ``meta_step(tasks)`` (one outer update over a batch of tasks),
``meta_gradient(task)`` (the outer gradient one task contributes) and ``adapt(task)``
(parameters fitted to one task, the module untouched)."""

from __future__ import annotations

import torch
from torch import nn

from voiceadapt.meta.functional import Params, detached, forward, loss_at, parameters, sgd_steps
from voiceadapt.meta.tasks import Task


class MAML:
    """Finn et al. (2017). ``first_order``: drop the second derivatives (FOMAML)."""

    def __init__(self, model: nn.Module, inner_lr: float = 0.01, inner_steps: int = 1,
                 outer_lr: float = 1e-3, first_order: bool = False,
                 optimizer: torch.optim.Optimizer | None = None) -> None:
        self.model, self.inner_lr, self.inner_steps = model, inner_lr, inner_steps
        self.first_order = first_order
        self.opt = optimizer or torch.optim.Adam(model.parameters(), lr=outer_lr)

    def query_loss(self, task: Task) -> torch.Tensor:
        """The query loss after the inner loop, differentiable in the initial parameters."""
        fitted = sgd_steps(self.model, parameters(self.model), task.support_x, task.support_y,
                           task.loss, self.inner_lr, self.inner_steps,
                           second_order=not self.first_order)
        return loss_at(self.model, fitted, task.query_x, task.query_y, task.loss)

    def meta_gradient(self, task: Task) -> Params:
        names, values = zip(*self.model.named_parameters(), strict=True)
        grads = torch.autograd.grad(self.query_loss(task), values)
        return dict(zip(names, grads, strict=True))

    def meta_step(self, tasks: list[Task]) -> float:
        self.opt.zero_grad(set_to_none=True)
        total = 0.0
        for task in tasks:  # one task's graph at a time: memory does not grow with the batch
            loss = self.query_loss(task) / len(tasks)
            loss.backward()
            total += loss.item()
        self.opt.step()
        return total

    def adapt(self, task: Task, steps: int | None = None, lr: float | None = None) -> Params:
        fitted = sgd_steps(self.model, detached(parameters(self.model)), task.support_x,
                           task.support_y, task.loss, lr or self.inner_lr,
                           self.inner_steps if steps is None else steps)
        return detached(fitted, requires_grad=False)

    def predict(self, params: Params, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return forward(self.model, params, x)


class Reptile:
    """Nichol et al. (2018): SGD on the task, then move the initialization toward the result.
    ``minibatches``: the inner steps cycle through that many slices of the support set."""

    def __init__(self, model: nn.Module, inner_lr: float = 0.02, inner_steps: int = 5,
                 outer_lr: float = 0.1, minibatches: int = 1) -> None:
        self.model, self.inner_lr, self.inner_steps = model, inner_lr, inner_steps
        self.outer_lr, self.minibatches = outer_lr, minibatches

    def _fit(self, task: Task, steps: int, lr: float) -> Params:
        return sgd_steps(self.model, detached(parameters(self.model)), task.support_x,
                         task.support_y, task.loss, lr, steps, minibatches=self.minibatches)

    def meta_gradient(self, task: Task) -> Params:
        """(phi - phi~) / inner_lr: the sum of the gradients along the inner path."""
        fitted = self._fit(task, self.inner_steps, self.inner_lr)
        return {n: (p.detach() - fitted[n].detach()) / self.inner_lr
                for n, p in self.model.named_parameters()}

    def meta_step(self, tasks: list[Task]) -> float:
        """phi <- phi + outer_lr * mean(phi~ - phi); returns the mean squared move."""
        moves = [self.meta_gradient(t) for t in tasks]
        with torch.no_grad():
            for n, p in self.model.named_parameters():
                p -= self.outer_lr * self.inner_lr * torch.stack([m[n] for m in moves]).mean(0)
        return float(sum(sum(float(m.pow(2).sum()) for m in mv.values()) for mv in moves)
                     * self.inner_lr ** 2 / len(moves))

    def adapt(self, task: Task, steps: int | None = None, lr: float | None = None) -> Params:
        fitted = self._fit(task, self.inner_steps if steps is None else steps, lr or self.inner_lr)
        return detached(fitted, requires_grad=False)

    def predict(self, params: Params, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return forward(self.model, params, x)


def evaluate(learner: MAML | Reptile, tasks: list[Task], steps: int,
             lr: float | None = None) -> torch.Tensor:
    """Query loss of each task after ``steps`` adaptation steps."""
    out = []
    for task in tasks:
        params = learner.adapt(task, steps, lr)
        out.append(task.loss(learner.predict(params, task.query_x), task.query_y).detach())
    return torch.stack(out)
