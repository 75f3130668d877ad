"""LEO, Latent Embedding Optimization (Rusu et al., 2019).

An encoder (with a relation network over the support set) maps the task to a latent
code z; a decoder maps z to the parameters theta of a small predictor. The inner loop
runs gradient descent on z (a low-dimensional space), then fine-tunes theta directly. The
outer loss is the query loss plus a KL term on the latent distribution, a penalty keeping
the encoder's z near the adapted z, and an orthogonality penalty on the decoder.

The pieces are plain callables, so the algorithm can be checked with toy ones: with
identity encoder and decoder, predict(theta, x) = theta^2 * x and loss = the prediction,
the latent starting at 4 with x = 4 and lr 0.1 goes 4 -> 0.8 -> 0.16 -> 0.032.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from voiceadapt.meta.tasks import Loss, Task

Encode = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
Decode = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
Predict = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class LEOConfig:
    inner_lr: float = 1.0  # on the latent code
    inner_steps: int = 5
    finetune_lr: float = 1e-3  # on the decoded parameters
    finetune_steps: int = 0
    kl_weight: float = 1e-3
    encoder_penalty: float = 1e-9
    orthogonality_penalty: float = 1e-3
    # no second derivatives through the inner loop: each latent step's gradient is taken as a
    # constant, so the outer gradient reaches the encoder through z0 and the decoder at the
    # adapted z (for predictors too costly to differentiate twice, such as a TTS backbone)
    first_order: bool = False


def _sample(mean: torch.Tensor, log_std: torch.Tensor, stochastic: bool,
            generator: torch.Generator | None = None) -> torch.Tensor:
    if not stochastic:
        return mean
    noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
    return mean + noise * log_std.exp()


def inner_loop(encode: Encode, decode: Decode, predict: Predict, loss: Loss, task: Task,
               cfg: LEOConfig, training: bool, generator: torch.Generator | None = None,
               ) -> dict[str, torch.Tensor]:
    """Adapt one task. Returns the adapted theta, the latents and the regularizers' inputs.
    ``training`` samples the stochastic latents (from ``generator``: torch's global one when
    None) and keeps the graph for the outer loss."""
    def leaf(t: torch.Tensor) -> torch.Tensor:  # outside training: no graph across steps
        return t if training else t.detach().requires_grad_(True)

    mean, log_std = encode(task.support_x, task.support_y)
    z0 = _sample(mean, log_std, training, generator)
    z = leaf(z0)
    for _ in range(cfg.inner_steps):
        at = z.detach().requires_grad_(True) if cfg.first_order else z
        theta = _sample(*decode(at), training, generator)
        value = loss(predict(theta, task.support_x), task.support_y)
        (g,) = torch.autograd.grad(value, at, create_graph=training and not cfg.first_order)
        z = leaf(z - cfg.inner_lr * g)
    theta = leaf(_sample(*decode(z), training, generator))
    for _ in range(cfg.finetune_steps):
        value = loss(predict(theta, task.support_x), task.support_y)
        (g,) = torch.autograd.grad(value, theta, create_graph=training)
        theta = leaf(theta - cfg.finetune_lr * g)
    return {"theta": theta, "z0": z0, "z": z, "mean": mean, "log_std": log_std}


def outer_loss(query: torch.Tensor, adapted: dict[str, torch.Tensor], decoder: LinearDecoder,
               cfg: LEOConfig) -> torch.Tensor:
    """LEO's meta-objective: the query loss after ``inner_loop``, plus the KL of the latent
    against N(0, 1), a penalty keeping the encoder's z near the adapted z, and the decoder's
    orthogonality penalty."""
    prior = torch.distributions.Normal(0.0, 1.0)
    posterior = torch.distributions.Normal(adapted["mean"], adapted["log_std"].exp())
    kl = (posterior.log_prob(adapted["z0"]) - prior.log_prob(adapted["z0"])).mean()
    encoder_penalty = (adapted["z"].detach() - adapted["z0"]).pow(2).mean()
    w = decoder.out.weight
    w = w / w.norm(dim=0, keepdim=True)
    gram = w.T @ w
    ortho = (gram - torch.eye(gram.shape[0], device=gram.device)).pow(2).mean()
    return (query + cfg.kl_weight * kl + cfg.encoder_penalty * encoder_penalty
            + cfg.orthogonality_penalty * ortho)


class RelationEncoder(nn.Module):
    """Support pairs (x, y) -> per-example codes -> relation network over all pairs ->
    mean -> latent Gaussian (mean, log std). For regression or one-hot classification."""

    def __init__(self, x_dim: int, y_dim: int, latent: int, hidden: int = 64) -> None:
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(x_dim + y_dim, hidden), nn.ReLU(),
                                   nn.Linear(hidden, hidden))
        self.relation = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU(),
                                      nn.Linear(hidden, 2 * latent))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.embed(torch.cat([x, y], -1))
        n = h.shape[0]
        pairs = torch.cat([h[:, None].expand(n, n, -1), h[None].expand(n, n, -1)], -1)
        mean, log_std = self.relation(pairs).mean((0, 1)).chunk(2)
        return mean, log_std.clamp(-6, 2)


class LinearDecoder(nn.Module):
    """z -> Gaussian over theta (mean, log std)."""

    def __init__(self, latent: int, params: int) -> None:
        super().__init__()
        self.out = nn.Linear(latent, 2 * params)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.out(z).chunk(2)
        return mean, log_std.clamp(-8, 0)


class LEORegressor(nn.Module):
    """LEO for regression: theta is the linear head (weights and bias) over features of a
    meta-learned network."""

    def __init__(self, x_dim: int = 1, features: int = 40, latent: int = 8,
                 cfg: LEOConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or LEOConfig()
        self.features = nn.Sequential(nn.Linear(x_dim, 40), nn.ReLU(), nn.Linear(40, features),
                                      nn.ReLU())
        self.encoder = RelationEncoder(x_dim, 1, latent)
        self.decoder = LinearDecoder(latent, features + 1)
        self.opt = torch.optim.Adam(self.parameters(), lr=1e-3)

    def predict(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.features(x) @ theta[:-1, None] + theta[-1]

    def adapt(self, task: Task, training: bool = False) -> dict[str, torch.Tensor]:
        return inner_loop(self.encoder, self.decoder, self.predict, task.loss, task, self.cfg,
                          training)

    def outer_loss(self, task: Task) -> torch.Tensor:
        out = self.adapt(task, training=True)
        query = task.loss(self.predict(out["theta"], task.query_x), task.query_y)
        return outer_loss(query, out, self.decoder, self.cfg)

    def meta_step(self, tasks: list[Task]) -> float:
        self.opt.zero_grad(set_to_none=True)
        total = 0.0
        for task in tasks:
            loss = self.outer_loss(task) / len(tasks)
            loss.backward()
            total += loss.item()
        self.opt.step()
        return total

    def query_loss(self, task: Task) -> float:
        with torch.enable_grad():
            theta = self.adapt(task)["theta"].detach()
        with torch.no_grad():
            return float(task.loss(self.predict(theta, task.query_x), task.query_y))
