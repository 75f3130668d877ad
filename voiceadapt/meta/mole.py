"""MOLe, meta-learning for online learning (Nagabandi et al., 2019).

A mixture of models for a stream whose task switches without notice. Under a Chinese
restaurant process prior (concentration ``alpha``), each new batch of data is explained by
an existing component or by a new one spawned from a meta-learned prior. The component
with the highest posterior (likelihood of the batch times the CRP prior) is updated by SGD;
if that is the new one, it joins the mixture. Old components stay, so a task that recurs
finds its model where it left it.

A batch is whatever ``log_likelihood(model, batch)`` and ``adapt(model, batch)`` read; by
default an (x, y) regression batch under a Gaussian likelihood, adapted by SGD."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass
class Component:
    model: nn.Module
    count: int = 0  # batches assigned


@dataclass
class MOLe:
    prior: nn.Module  # meta-learned initialization for new components
    alpha: float = 1.0  # CRP concentration: how readily new tasks are spawned
    lr: float = 0.01
    steps: int = 1  # SGD steps on each batch for its component
    noise: float = 0.5  # Gaussian likelihood scale of the regression targets
    components: list[Component] = field(default_factory=list)
    assignments: list[int] = field(default_factory=list)
    # a batch's log-likelihood under a model, and the update of a model on it (None: the
    # regression defaults below)
    log_likelihood: Callable[[nn.Module, Any], float] | None = None
    adapt: Callable[[nn.Module, Any], None] | None = None

    def _log_likelihood(self, model: nn.Module, batch: Any) -> float:
        if self.log_likelihood is not None:
            return self.log_likelihood(model, batch)
        x, y = batch
        with torch.no_grad():
            err = (model(x) - y).pow(2).sum().item()
        return -0.5 * err / self.noise ** 2 - y.numel() * math.log(self.noise)

    def _adapt(self, model: nn.Module, batch: Any) -> None:
        if self.adapt is not None:
            self.adapt(model, batch)
            return
        x, y = batch
        opt = torch.optim.SGD(model.parameters(), lr=self.lr)
        for _ in range(self.steps):
            opt.zero_grad(set_to_none=True)
            (model(x) - y).pow(2).mean().backward()
            opt.step()

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Prediction of the component that explained the last batch (the prior at first)."""
        model = self.components[self.assignments[-1]].model if self.assignments else self.prior
        with torch.no_grad():
            return model(x)

    def scores(self, batch: Any) -> list[float]:
        """Each component's log posterior for the batch (CRP prior + likelihood), then a new
        component's (from the prior)."""
        total = sum(c.count for c in self.components)
        scores = [math.log(c.count / (total + self.alpha)) + self._log_likelihood(c.model, batch)
                  for c in self.components]
        scores.append(math.log(self.alpha / (total + self.alpha))
                      + self._log_likelihood(self.prior, batch))
        return scores

    def observe(self, batch: Any) -> int:
        """Assign the batch to a component (possibly a new one), update it; return its index."""
        scores = self.scores(batch)
        best = max(range(len(scores)), key=scores.__getitem__)
        if best == len(self.components):
            self.components.append(Component(copy.deepcopy(self.prior)))
        component = self.components[best]
        self._adapt(component.model, batch)
        component.count += 1
        self.assignments.append(best)
        return best
