"""MOLe, meta-learning for online learning (Nagabandi et al., 2019).

A mixture of models for a stream whose task switches without notice. Under a Chinese
restaurant process prior (concentration ``alpha``), each new batch of data is explained by
an existing component or by a new one spawned from a meta-learned prior. The component
with the highest posterior (likelihood of the batch times the CRP prior) is updated by SGD;
if that is the new one, it joins the mixture. Old components stay, so a task that recurs
finds its model where it left it."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

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

    def _log_likelihood(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
        with torch.no_grad():
            err = (model(x) - y).pow(2).sum().item()
        return -0.5 * err / self.noise ** 2 - y.numel() * math.log(self.noise)

    def _adapt(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
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

    def observe(self, x: torch.Tensor, y: torch.Tensor) -> int:
        """Assign the batch to a component (possibly a new one), update it; return its index."""
        total = sum(c.count for c in self.components)
        scores = [math.log(c.count / (total + self.alpha)) + self._log_likelihood(c.model, x, y)
                  for c in self.components]
        scores.append(math.log(self.alpha / (total + self.alpha))
                      + self._log_likelihood(self.prior, x, y))
        best = max(range(len(scores)), key=scores.__getitem__)
        if best == len(self.components):
            self.components.append(Component(copy.deepcopy(self.prior)))
        component = self.components[best]
        self._adapt(component.model, x, y)
        component.count += 1
        self.assignments.append(best)
        return best
