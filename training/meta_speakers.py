"""Meta-learning on speaker tasks: Reptile, MAML (first and second order), Leap and LEO for voices.

A task is one speaker of a training corpus: its support is whole clips up to a few seconds
(what a user uploads), its query other clips of the same speaker. The inner loop is modelled
on the weight stage of PATCH (or SEA-ALL) in ``voiceadapt/adapt/fit.py``: Adam on g and the
adapted weights at the product's learning rates, on the same generator loss. It differs from
the product's fit in three ways, the same for every method and backbone compared: g starts
from SEA-ENC's estimate (the product first fits it alone, SEA-EMB's stage), it runs a fixed
number of steps on the whole support (the product holds out 10% and keeps its best held-out
step from ``min_steps`` on) and it hears at most ``support_seconds`` (the product samples
12 s a step). The product's PATCH itself is judged on the meta-learned backbones by
``training/benchmarks/adaptation.py --modes patch --model <checkpoint>``.

- Reptile (Nichol et al. 2018): the outer loop moves the adapted weights' start toward the
  tasks' mean adapted weights, the step annealed linearly to 0;
- FOMAML (Finn et al. 2017, first order): Adam on the query gradient at the adapted weights;
- MAML (Finn et al. 2017, second order): the inner loop is plain gradient steps on the
  support, kept in the graph, and Adam follows the query loss's gradient through them to the
  start. F.ctc_loss, the aligner's forward-sum loss, has no double backward, so the inner
  steps leave it out (the hard durations it yields need none) unless
  ``meta.maml_inner_align`` computes it by a twice-differentiable recursion; the query loss
  keeps it;
- Leap (Flennerhag et al. 2019): Adam on the gradient that shortens the inner loop's whole path
  in parameters and support loss (``voiceadapt.meta.leap.PathGradient``; the path is Adam's);
- LEO (Rusu et al. 2019): the backbone frozen, a learned latent space of g; the inner loop
  moves a low-dimensional code (``SpeakerLEO``);
- joint, the control: Adam on the same parameters at the tasks' own loss (support and query
  clips, g from SEA-ENC's estimate), no inner loop: plain multi-speaker fine-tuning on the
  same tasks, which tells a meta-learned start from one that has merely seen more voices.

    python -m training meta --config configs/meta_reptile_patch.toml --run-dir runs/meta_reptile_patch

The run folder is like a backbone run's: ``config.toml``, ``git.txt``, ``metrics.jsonl``,
``tb/``, and ``step_XXXXXXX.safetensors`` (a backbone that the adaptation modes and benchmarks
load as it is) with ``step_XXXXXXX.train.pt`` beside it; running the command again resumes.
SIGTERM saves before stopping.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.func import functional_call
from torch.nn.attention import SDPBackend, sdpa_kernel
from tqdm import tqdm

from training.config import MetaRunConfig, load_meta_config
from training.data import Item
from training.train import (
    find_resume_state,
    git_hash,
    interrupt_on_sigterm,
    load_items,
    prepare_run,
    prune_checkpoints,
    run_folder_arguments,
)
from voiceadapt.adapt.fit import (
    Clip,
    FitConfig,
    clip_batch,
    generator_loss,
    patch_parameter_names,
    uses_wavenet,
)
from voiceadapt.adapt.sea_enc import embedding_from_clips
from voiceadapt.audio import Audio, FeatureParams, pcm16_to_float
from voiceadapt.files import atomic_path, atomic_write_text
from voiceadapt.meta.functional import gradient_steps
from voiceadapt.meta.leap import PathGradient
from voiceadapt.meta.leo import LEOConfig, LinearDecoder, inner_loop
from voiceadapt.meta.leo import outer_loss as leo_outer_loss
from voiceadapt.meta.tasks import Task
from voiceadapt.models.alignment import twice_differentiable_forward_sum
from voiceadapt.models.backbone import Backbone
from voiceadapt.models.checkpoint import save as save_backbone


@dataclass(frozen=True)
class InnerLoop:
    """What one adaptation hears and how fast it moves (the product's values by default)."""

    steps: int = 8
    lr_weights: float = FitConfig.lr_weights
    lr_embedding: float = FitConfig.lr_embedding
    wavenet: bool = False  # through the WaveNet's loss too (a model whose vocoder is the WaveNet)
    segment: int = FitConfig.segment


@dataclass(eq=False)
class SpeakerTask:
    speaker: str
    support: list[Clip]
    query: list[Clip]

    @property
    def support_seconds(self) -> float:
        return sum(c.audio.seconds for c in self.support)


class _GeneratorLoss(nn.Module):
    """The generator loss as a module's forward, so that ``functional_call`` can run it on
    parameters that are not the model's own (MAML's inner steps)."""

    def __init__(self, model: Backbone):
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, torch.Tensor], g: torch.Tensor, inner: InnerLoop,
                generator: torch.Generator, align_weight: float) -> torch.Tensor:
        return generator_loss(self.model, batch, g, inner.segment, generator, inner.wavenet,
                              align_weight=align_weight)


def adapted_names(model: Backbone, adapt: str, wavenet: bool) -> list[str]:
    """The parameters an adaptation mode changes: "patch" (PATCH's norms and biases) or "all"
    (SEA-ALL's every weight); the WaveNet's only when the fit hears its loss."""
    names = patch_parameter_names(model) if adapt == "patch" else [n for n, _ in model.named_parameters()]
    return [n for n in names if wavenet or not n.startswith("wavenet.")]


def item_clip(item: Item, rate: int, lang: int | None) -> Clip:
    """A training utterance as an adaptation clip (what ``prepare_clips`` makes of an upload)."""
    samples = pcm16_to_float(item.audio)
    seconds = len(samples) / rate
    return Clip(Audio(samples, rate, rate, seconds, seconds),
                torch.from_numpy(item.ids.astype(np.int64)),
                torch.from_numpy(item.f0.astype(np.float32)), lang)


def language_row(model: Backbone, language: str) -> int | None:
    """The language embedding's row for a transcript language (None: the model has none)."""
    return model.language_index(language) if model.languages else None


class SpeakerTasks:
    """Speaker tasks drawn from a corpus's items: support = whole clips up to
    ``support_seconds`` (at least one), query = up to ``query_clips`` other clips."""

    def __init__(self, model: Backbone, items: list[Item], speakers: list[str],
                 support_seconds: float, query_clips: int):
        self.model, self.speakers = model, speakers
        self.support_seconds, self.query_clips = support_seconds, query_clips
        by_speaker: dict[int, list[Item]] = defaultdict(list)
        for it in usable_items(model, items):
            by_speaker[it.speaker].append(it)
        self.by_speaker = {s: its for s, its in sorted(by_speaker.items()) if len(its) >= 2}
        if not self.by_speaker:
            raise ValueError("no speaker has two utterances this model can read: a task needs "
                             "a support clip and a query clip of the same speaker")
        self.rate = model.features.sample_rate

    def __len__(self) -> int:
        return len(self.by_speaker)

    def sample(self, rng: np.random.Generator) -> SpeakerTask:
        keys = list(self.by_speaker)
        speaker = keys[int(rng.integers(len(keys)))]
        its = [self.by_speaker[speaker][i] for i in rng.permutation(len(self.by_speaker[speaker]))]
        return self.task(speaker, its)

    def task(self, speaker: int, its: Sequence[Item]) -> SpeakerTask:
        """Support from the front of ``its`` up to the support budget, query from what follows."""
        support, total = [], 0.0
        for it in its[:-1]:  # the last clip is always left for the query
            seconds = len(it.audio) / self.rate
            if support and total + seconds > self.support_seconds:
                break
            support.append(it)
            total += seconds
        query = list(its[len(support):len(support) + self.query_clips])

        def clip(it: Item) -> Clip:
            return item_clip(it, self.rate, language_row(self.model, it.language))

        return SpeakerTask(self.speakers[speaker], [clip(i) for i in support], [clip(i) for i in query])


def usable_items(model: Backbone, items: list[Item]) -> list[Item]:
    """Items whose phonemes the model's symbol table holds and whose language it knows."""
    n = len(model.symbols)
    out = []
    for it in items:
        if len(it.ids) and int(it.ids.max()) >= n:
            continue
        if model.languages:
            try:
                model.language_index(it.language)
            except (ValueError, KeyError):
                continue
        out.append(it)
    return out


@contextmanager
def trainable(model: Backbone, names: Sequence[str]) -> Iterator[dict[str, nn.Parameter]]:
    """Only ``names`` require gradients inside the block; the flags are restored after."""
    params = dict(model.named_parameters())
    flags = {n: p.requires_grad for n, p in params.items()}
    chosen = set(names)
    try:
        for n, p in params.items():
            p.requires_grad_(n in chosen)
        yield {n: params[n] for n in names}
    finally:
        for n, p in params.items():
            p.requires_grad_(flags[n])


def task_loss(model: Backbone, clips: list[Clip], g: torch.Tensor, inner: InnerLoop,
              seed: int) -> torch.Tensor:
    """The generator loss of ``clips`` under g, with seeded WaveNet segments."""
    return generator_loss(model, clip_batch(clips), g, inner.segment,
                          torch.Generator().manual_seed(seed), inner.wavenet)


def inner_fit(model: Backbone, names: Sequence[str], task: SpeakerTask, inner: InnerLoop,
              generator: torch.Generator, g0: torch.Tensor | None = None,
              on_step: Callable[[int, torch.Tensor], None] | None = None,
              on_gradient: Callable[[float, dict[str, nn.Parameter]], None] | None = None,
              ) -> tuple[torch.Tensor, list[float]]:
    """Adapt ``model`` in place to the task's support: Adam on g (from SEA-ENC's estimate) and
    the named weights. Returns the adapted g and the support loss of each step.
    ``on_step(step, g)`` runs after each step; ``on_gradient(loss, params)`` before it, with
    the named weights as they were and their gradients set (Leap's path)."""
    if g0 is None:
        g0 = embedding_from_clips(model, [c.audio for c in task.support])
    g = nn.Parameter(g0.detach().clone())
    batch = clip_batch(task.support)
    losses = []
    with trainable(model, names) as params:
        opt = torch.optim.Adam([{"params": list(params.values()), "lr": inner.lr_weights},
                                {"params": [g], "lr": inner.lr_embedding}])
        for step in range(1, inner.steps + 1):
            loss = generator_loss(model, batch, g, inner.segment, generator, inner.wavenet)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if on_gradient is not None:
                on_gradient(loss.item(), params)
            opt.step()
            losses.append(loss.item())
            if on_step is not None:
                on_step(step, g.detach())
    return g.detach(), losses


def adaptation_curve(model: Backbone, names: Sequence[str], task: SpeakerTask, inner: InnerLoop,
                     at: Sequence[int], seed: int = 0) -> list[dict[str, float]]:
    """Query loss after each step count in ``at`` (0: SEA-ENC's estimate, nothing adapted) of one
    inner loop on a copy of the model, with the wall seconds the fit had taken by then."""
    work = copy.deepcopy(model).eval()
    g0 = embedding_from_clips(work, [c.audio for c in task.support])
    wanted = sorted(set(at))
    out = []
    clock = {"started": time.perf_counter(), "evaluating": 0.0}

    def record(step: int, g: torch.Tensor) -> None:
        if step in wanted:  # the fit's own seconds: the query evaluations are not counted
            now = time.perf_counter()
            spent = now - clock["started"] - clock["evaluating"]
            with torch.no_grad():
                q = float(task_loss(work, task.query, g, inner, seed + 1))
            clock["evaluating"] += time.perf_counter() - now
            out.append({"step": step, "query_loss": q, "fit_seconds": spent})

    record(0, g0)
    steps = max(wanted)
    if steps:
        inner_fit(work, names, task, dataclasses.replace(inner, steps=steps),
                  torch.Generator().manual_seed(seed), g0, record)
    return out


class SpeakerLEO(nn.Module):
    """LEO (Rusu et al. 2019) over speaker embeddings: SEA-ENC's g -> a Gaussian over a
    low-dimensional latent code (encoder); a code -> a Gaussian over the change it makes to g
    (decoder); the inner loop (``voiceadapt.meta.leo.inner_loop``) moves the code down the
    support's generator loss, the backbone frozen. At first the code decodes to nearly no
    change: an untrained LEO speaks like SEA-ENC."""

    def __init__(self, channels: int, latent: int, cfg: LEOConfig, hidden: int = 128):
        super().__init__()
        self.channels, self.latent, self.cfg = channels, latent, cfg
        self.encoder = nn.Sequential(nn.Linear(channels, hidden), nn.Tanh(),
                                     nn.Linear(hidden, 2 * latent))
        self.decoder = LinearDecoder(latent, channels)
        with torch.no_grad():
            for layer, log_std in ((self.encoder[-1], -2.0), (self.decoder.out, -5.0)):
                layer.weight.mul_(0.1)
                layer.bias.zero_()
                layer.bias[layer.bias.shape[0] // 2:] = log_std

    def encode(self, g_enc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.encoder(g_enc).chunk(2)
        return mean, log_std.clamp(-6, 2)

    def adapt(self, model: Backbone, task: SpeakerTask, g_enc: torch.Tensor, inner: InnerLoop,
              generator: torch.Generator, training: bool, steps: int | None = None,
              ) -> dict[str, torch.Tensor]:
        """The task's adapted g (``theta``) and the latents, as ``inner_loop`` returns them."""
        batches = [clip_batch(task.support), clip_batch(task.query)]
        cfg = self.cfg if steps is None else dataclasses.replace(self.cfg, inner_steps=steps)

        def decode(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            change, log_std = self.decoder(z)
            return g_enc + change, log_std

        def predict(theta: torch.Tensor, which: torch.Tensor) -> torch.Tensor:
            return generator_loss(model, batches[int(which)], theta, inner.segment, generator,
                                  inner.wavenet)

        tags = Task(torch.tensor(0), torch.tensor(0), torch.tensor(1), torch.tensor(1),
                    loss=lambda value, _: value)
        with trainable(model, []):
            return inner_loop(lambda x, y: self.encode(g_enc), decode, predict, tags.loss, tags,
                              cfg, training, generator)

    def metadata(self) -> dict[str, object]:
        return {"channels": self.channels, "latent": self.latent,
                "cfg": dataclasses.asdict(self.cfg)}


def save_leo(leo: SpeakerLEO, path: Path, extra: dict[str, object]) -> None:
    from safetensors.torch import save_file

    with atomic_path(path) as tmp:
        save_file({k: v.detach().contiguous() for k, v in leo.state_dict().items()}, str(tmp),
                  metadata={"leo": json.dumps(leo.metadata()), "extra": json.dumps(extra)})


def load_leo(path: str | Path) -> tuple[SpeakerLEO, dict[str, object]]:
    """A LEO file -> (the module, its extra: the backbone fingerprint it was learned on...)."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
        state = {k: f.get_tensor(k) for k in f.keys()}
    info = json.loads(meta["leo"])
    leo = SpeakerLEO(info["channels"], info["latent"], LEOConfig(**info["cfg"]))
    leo.load_state_dict(state)
    return leo.eval(), json.loads(meta["extra"])


def embedding_curve(model: Backbone, task: SpeakerTask, inner: InnerLoop, at: Sequence[int],
                    leo: SpeakerLEO | None = None, prior: float = FitConfig.embedding_prior,
                    seed: int = 0) -> list[dict[str, float]]:
    """Query loss after each step count in ``at`` of fitting g alone (0: SEA-ENC's estimate):
    SEA-EMB's inner loop (Adam on g pulled toward the estimate, the product's rate and prior;
    one fit, read at each count), or with ``leo`` its latent inner loop (a fit per count: LEO's
    steps are plain gradient steps on the code, so n steps are the first n of a longer fit).
    Wall seconds exclude the query evaluations."""
    g_enc = embedding_from_clips(model, [c.audio for c in task.support])
    wanted = sorted(set(at))
    out = []

    def record(steps: int, g: torch.Tensor, spent: float) -> None:
        with torch.no_grad():
            q = float(task_loss(model, task.query, g.detach(), inner, seed + 1))
        out.append({"step": steps, "query_loss": q, "fit_seconds": spent})

    if leo is not None:
        for steps in wanted:
            started = time.perf_counter()
            g = leo.adapt(model, task, g_enc, inner, torch.Generator().manual_seed(seed),
                          training=False, steps=steps)["theta"]
            record(steps, g, time.perf_counter() - started)
        return out
    g = nn.Parameter(g_enc.clone())
    opt = torch.optim.Adam([g], lr=inner.lr_embedding)
    batch = clip_batch(task.support)
    generator = torch.Generator().manual_seed(seed)
    spent = 0.0
    if 0 in wanted:
        record(0, g, 0.0)
    with trainable(model, []):
        for step in range(1, max(wanted) + 1):
            started = time.perf_counter()
            loss = generator_loss(model, batch, g, inner.segment, generator, inner.wavenet)
            loss = loss + prior * ((g - g_enc) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            spent += time.perf_counter() - started
            if step in wanted:
                record(step, g, spent)
    return out


class MetaTrainer:
    """Reptile, FOMAML, MAML, Leap or the joint control over speaker tasks, on the parameters
    one adaptation mode changes; or LEO's networks over the speaker embedding, the backbone frozen."""

    def __init__(self, cfg: MetaRunConfig, run: Path, model: Backbone, items: list[Item],
                 speakers: list[str]):
        self.cfg, self.run = cfg, run
        m = cfg.meta
        self.model = model.eval()
        self.inner = InnerLoop(m.inner_steps, m.lr_weights, m.lr_embedding,
                               uses_wavenet(model, FitConfig()))
        self.leo = None
        if m.method == "leo":  # the backbone stays as it is; LEO's own networks learn
            self.names = []
            torch.manual_seed(m.seed)
            self.leo = SpeakerLEO(model.speaker_table.weight.shape[1], m.latent,
                                  LEOConfig(inner_lr=m.latent_lr, inner_steps=m.inner_steps,
                                            first_order=True))
        else:
            self.names = adapted_names(model, m.adapt, self.inner.wavenet)
        self.params = {n: p for n, p in model.named_parameters() if n in set(self.names)}
        self.tasks = SpeakerTasks(model, items, speakers, m.support_seconds, m.query_clips)
        self.rng = np.random.default_rng(m.seed)
        self.generator = torch.Generator().manual_seed(m.seed)
        learned = (list(self.leo.parameters()) if self.leo is not None
                   else list(self.params.values()))
        self.opt = (torch.optim.Adam(learned, lr=m.outer_lr) if m.method != "reptile" else None)
        self.step = 0
        self.tasks_seen = 0
        self.train_seconds = 0.0
        self.started = 0.0
        self.init_extra = dict(getattr(model, "extra", {}) or {})

    def log(self, message: str) -> None:
        tqdm.write(f"[meta] {message}")

    def _restore(self, state: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for n, p in self.params.items():
                p.copy_(state[n])

    def _draws(self) -> dict[str, object]:
        """Where every random draw stands (tasks; WaveNet segments and LEO's noise): a stopped
        meta-step rewinds to it, so the resumed run draws what an unbroken one would."""
        return {"tasks_seen": self.tasks_seen, "rng": copy.deepcopy(self.rng.bit_generator.state),
                "generator": self.generator.get_state()}

    def _rewind(self, draws: dict[str, object]) -> None:
        self.tasks_seen = int(draws["tasks_seen"])  # type: ignore[call-overload]
        self.rng.bit_generator.state = draws["rng"]
        self.generator.set_state(draws["generator"])  # type: ignore[arg-type]

    def meta_step(self) -> dict[str, float]:
        """One outer update over ``tasks_per_step`` speaker tasks; returns its figures."""
        if self.leo is not None:
            return self._leo_step()
        start = {n: p.detach().clone() for n, p in self.params.items()}
        draws = self._draws()
        try:
            return self._gradient_step(start)
        except BaseException:  # a stop (SIGTERM) inside a task: what is saved must be the start
            self._restore(start)
            self._rewind(draws)
            raise

    def _gradient_step(self, start: dict[str, torch.Tensor]) -> dict[str, float]:
        """Reptile's, FOMAML's, MAML's, Leap's or the joint control's update from ``start``
        (the adapted weights' values now)."""
        m = self.cfg.meta
        total = {n: torch.zeros_like(p) for n, p in self.params.items()}
        before, after, first, last = [], [], [], []
        for _ in range(m.tasks_per_step):
            task = self.tasks.sample(self.rng)
            seed = int(self.rng.integers(2**31))
            self._restore(start)
            g0 = embedding_from_clips(self.model, [c.audio for c in task.support])
            with torch.no_grad():
                before.append(float(task_loss(self.model, task.query, g0, self.inner, seed)))
            if m.method == "joint":  # the control: these clips' loss at the start, no inner loop
                value = self._add_gradient(total, task.support + task.query, g0, seed)
                first.append(float(value.detach()))
                last.append(first[-1])
                after.append(before[-1])
                self.tasks_seen += 1
                continue
            if m.method == "maml":  # its support figures have the CTC loss only if its steps do
                support, query = self._add_maml_gradient(total, task, g0, seed)
                first.append(support[0])
                last.append(support[-1])
                after.append(query)
                self.tasks_seen += 1
                continue
            path = PathGradient() if m.method == "leap" else None
            g, losses = inner_fit(self.model, self.names, task, self.inner, self.generator, g0,
                                  on_gradient=self._path_point(path) if path is not None else None)
            first.append(losses[0])
            last.append(losses[-1])
            if path is not None:  # Leap: the path's gradient, ended at the adapted weights
                with torch.no_grad():
                    end = float(task_loss(self.model, task.support, g, self.inner, seed))
                    after.append(float(task_loss(self.model, task.query, g, self.inner, seed)))
                path.add_point(end, {n: p.detach().clone() for n, p in self.params.items()}, None)
                for n, acc in total.items():
                    if n in path.total:
                        acc += path.total[n]
            elif m.method == "fomaml":  # the query gradient at the adapted weights
                q = self._add_gradient(total, task.query, g, seed)
                after.append(float(q.detach()))
            else:  # Reptile: where the inner loop went
                with torch.no_grad():
                    after.append(float(task_loss(self.model, task.query, g, self.inner, seed)))
                    for n, acc in total.items():
                        acc += self.params[n].detach() - start[n]
            self.tasks_seen += 1
        self._restore(start)
        k = m.tasks_per_step
        if self.opt is not None:
            for n, p in self.params.items():
                p.grad = total[n] / k
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)
            move = None
        else:
            eps = m.outer_lr * (1.0 - self.step / m.meta_steps)
            with torch.no_grad():
                for n, p in self.params.items():
                    p += eps * total[n] / k
            move = float(sum(float((total[n] / k).pow(2).sum()) for n in total) ** 0.5) * eps
        self.step += 1
        out = {"query_before": float(np.mean(before)), "query_after": float(np.mean(after)),
               "support_first": float(np.mean(first)), "support_last": float(np.mean(last))}
        out["query_gain"] = out["query_before"] - out["query_after"]
        if move is not None:
            out["outer_move"] = move
        return out

    @staticmethod
    def _path_point(path: PathGradient) -> Callable[[float, dict[str, nn.Parameter]], None]:
        """``inner_fit``'s gradient hook recording each point of a Leap path."""

        def point(value: float, params: dict[str, nn.Parameter]) -> None:
            path.add_point(value, {n: p.detach().clone() for n, p in params.items()},
                           {n: p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
                            for n, p in params.items()})

        return point

    def _add_gradient(self, total: dict[str, torch.Tensor], clips: list[Clip], g: torch.Tensor,
                      seed: int) -> torch.Tensor:
        """Add the gradient of ``clips``' loss under g, in the adapted weights as they are now,
        to ``total`` (by name); returns the loss."""
        with trainable(self.model, self.names) as params:
            value = task_loss(self.model, clips, g, self.inner, seed)
            # some patch tensors (the encoder's) take no part in the loss
            grads = torch.autograd.grad(value, list(params.values()), allow_unused=True)
        for n, grad in zip(params, grads, strict=True):
            if grad is not None:
                total[n] += grad
        return value

    def _add_maml_gradient(self, total: dict[str, torch.Tensor], task: SpeakerTask,
                           g0: torch.Tensor, seed: int) -> tuple[list[float], float]:
        """Second-order MAML on one task: ``inner_steps`` plain gradient steps on the support
        (the aligner's CTC loss in them only with ``maml_inner_align``, through its
        twice-differentiable recursion), kept in the graph; the query loss at their end,
        differentiated through them to the start, is added to ``total``. Returns the support
        loss of each inner step and the query loss."""
        m = self.cfg.meta
        inner_align = 1.0 if m.maml_inner_align else 0.0
        loss_of = _GeneratorLoss(self.model)
        batch = clip_batch(task.support)

        def loss_at(z: dict[str, torch.Tensor], batch: dict[str, torch.Tensor],
                    generator: torch.Generator, align_weight: float) -> torch.Tensor:
            weights = {n: t for n, t in z.items() if n != "g"}
            return functional_call(loss_of, weights, (batch, z["g"], self.inner, generator,
                                                      align_weight))

        support: list[float] = []
        # the math attention kernel: the fused CPU kernel's backward has no backward (nor has
        # CTC's, so the inner steps' forward-sum, if any, runs as a recursion)
        recursive_ctc = twice_differentiable_forward_sum() if inner_align else nullcontext()
        with trainable(self.model, self.names) as params, sdpa_kernel(SDPBackend.MATH):
            start = {f"model.{n}": p for n, p in params.items()}  # the names loss_of sees
            rates = dict.fromkeys(start, m.maml_lr_weights) | {"g": m.maml_lr_embedding}
            with recursive_ctc:
                end = gradient_steps(start | {"g": g0.detach().clone().requires_grad_(True)},
                                     lambda z, _: loss_at(z, batch, self.generator, inner_align),
                                     rates, self.inner.steps, second_order=True, values=support)
            query = loss_at(end, clip_batch(task.query), torch.Generator().manual_seed(seed), 1.0)
            grads = torch.autograd.grad(query, list(params.values()), allow_unused=True)
        for n, grad in zip(params, grads, strict=True):
            if grad is not None:
                total[n] += grad
        return support, float(query.detach())

    def _leo_step(self) -> dict[str, float]:
        """LEO's outer update: the query loss after the latent inner loop, with its KL,
        encoder and orthogonality terms, through first-order latent steps."""
        assert self.leo is not None and self.opt is not None
        draws = self._draws()
        try:
            return self._leo_tasks()
        except BaseException:  # a stop inside a task: LEO's networks are not stepped yet
            self.opt.zero_grad(set_to_none=True)
            self._rewind(draws)
            raise

    def _leo_tasks(self) -> dict[str, float]:
        assert self.leo is not None and self.opt is not None
        k = self.cfg.meta.tasks_per_step
        before, after, total = [], [], 0.0
        self.opt.zero_grad(set_to_none=True)
        for _ in range(k):
            task = self.tasks.sample(self.rng)
            seed = int(self.rng.integers(2**31))
            g_enc = embedding_from_clips(self.model, [c.audio for c in task.support])
            with torch.no_grad():
                before.append(float(task_loss(self.model, task.query, g_enc, self.inner, seed)))
            out = self.leo.adapt(self.model, task, g_enc, self.inner, self.generator, training=True)
            with trainable(self.model, []):
                query = task_loss(self.model, task.query, out["theta"], self.inner, seed)
                loss = leo_outer_loss(query, out, self.leo.decoder, self.leo.cfg) / k
                loss.backward()
            after.append(float(query.detach()))
            total += float(loss.detach())
            self.tasks_seen += 1
        self.opt.step()
        self.step += 1
        out_figures = {"query_before": float(np.mean(before)), "query_after": float(np.mean(after)),
                       "outer_loss": total}
        out_figures["query_gain"] = out_figures["query_before"] - out_figures["query_after"]
        return out_figures

    # -- run folder -------------------------------------------------------------------------
    def resume(self) -> None:
        state = find_resume_state(self.run, self.log)
        if state is None:
            return
        self.model.load_state_dict(state["model"])
        if self.leo is not None:
            self.leo.load_state_dict(state["leo"])
        if self.opt is not None:
            self.opt.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        self.tasks_seen = int(state["tasks_seen"])
        self.train_seconds = float(state["train_seconds"])
        self.rng.bit_generator.state = state["rng"]
        self.generator.set_state(state["generator"])
        self.log(f"resumed from meta-step {self.step}")

    def _elapsed(self) -> float:
        return time.perf_counter() - self.started if self.started else 0.0

    def save(self) -> None:
        name = f"step_{self.step:07d}"
        m = self.cfg.meta
        seconds = self.train_seconds + self._elapsed()
        # of the init's own notes only its vocoder still holds (its step, weights and
        # provenance describe the init, not this model)
        extra = {**{k: v for k, v in self.init_extra.items() if k == "vocoder"},
                 "step": self.step, "git": git_hash(),
                 "meta": {"method": m.method, "adapt": m.adapt, "meta_steps": self.step,
                          "tasks": self.tasks_seen, "init": m.init or "bundled",
                          "cpu_minutes": round(seconds / 60, 2)}}
        if self.leo is not None:  # the backbone is the init's: LEO's networks are what is new
            from voiceadapt.adapt.profile import backbone_fingerprint

            save_leo(self.leo, self.run / f"{name}.leo.safetensors",
                     {**extra["meta"], "backbone": backbone_fingerprint(self.model)})
        else:
            save_backbone(self.model, self.run / f"{name}.safetensors", extra=extra)
        with atomic_path(self.run / f"{name}.train.pt") as tmp:
            torch.save({"model": self.model.state_dict(), "step": self.step,
                        "leo": self.leo.state_dict() if self.leo is not None else None,
                        "optimizer": self.opt.state_dict() if self.opt is not None else None,
                        "tasks_seen": self.tasks_seen, "train_seconds": seconds,
                        "rng": self.rng.bit_generator.state,
                        "generator": self.generator.get_state()}, tmp)
        atomic_write_text(self.run / "latest", name + "\n")
        prune_checkpoints(self.run, m.keep_checkpoints, (".safetensors", ".leo.safetensors"))

    def fit(self) -> None:
        from torch.utils.tensorboard import SummaryWriter

        m = self.cfg.meta
        writer = SummaryWriter(str(self.run / "tb"))
        bar = tqdm(total=m.meta_steps, initial=self.step, desc=f"meta ({m.method}, {m.adapt})",
                   dynamic_ncols=True)
        self.started = time.perf_counter()
        try:
            while self.step < m.meta_steps:
                if m.max_minutes and self._elapsed() >= 60 * m.max_minutes:
                    self.log(f"time budget of {m.max_minutes} min reached at meta-step {self.step}")
                    break
                figures = self.meta_step()
                bar.update(1)
                if self.step % m.log_every == 0 or self.step == m.meta_steps:
                    bar.set_postfix(gain=f"{figures['query_gain']:.4f}")
                    for k, v in figures.items():
                        writer.add_scalar(f"meta/{k}", v, self.step)
                    with open(self.run / "metrics.jsonl", "a") as f:
                        f.write(json.dumps({"step": self.step, "time": time.time(),
                                            "tasks": self.tasks_seen, **figures}) + "\n")
                if self.step % m.checkpoint_every == 0:
                    self.save()
            self.save()
        except KeyboardInterrupt:  # SIGINT, or SIGTERM (see main): keep what was learned
            self.log(f"stopped at meta-step {self.step}: saving")
            self.save()
            raise
        finally:
            bar.close()
            writer.close()


def corpus_persons(corpus_dir: str) -> dict[str, str] | None:
    """Speaker name -> person, from the corpus manifest (None for a pack: it keeps names only,
    and the corpus it was packed from was checked when built)."""
    if not corpus_dir:
        return None
    from training.corpus.manifest import read_corpus
    from training.corpus.voices import voice_by_name

    corpus = read_corpus(corpus_dir)
    return {name: voice_by_name(sp.source).person for name, sp in corpus.speakers.items()}


def refuse_held_out_speakers(person_of: dict[str, str] | None, speakers: list[str],
                             corpus_dir: str) -> None:
    """Leave-voice-out persons must never be tasks: their voices are how the result is judged."""
    if person_of is None:
        return
    from training.corpus.voices import HELD_OUT_PERSONS

    held = sorted({person_of[s] for s in speakers} & set(HELD_OUT_PERSONS))
    if held:
        raise SystemExit(f"{corpus_dir} has speakers of held-out persons ({', '.join(held)}): "
                         "meta-train on a corpus without them (corpus v2)")


def load_start(init: str) -> Backbone:
    """The backbone the run starts from: a checkpoint, or the bundled model."""
    from voiceadapt.inference import load

    return load(init or None)


def main(argv: list[str] | None = None) -> int:
    run, config = run_folder_arguments(__doc__, argv)
    cfg: MetaRunConfig = prepare_run(run, config, load_meta_config)
    if cfg.meta.threads:
        torch.set_num_threads(cfg.meta.threads)
    model = load_start(cfg.meta.init)
    items, speakers = load_items(cfg.data, FeatureParams())
    corpus = cfg.data.corpus if not cfg.data.pack else ""
    refuse_held_out_speakers(corpus_persons(corpus), speakers, corpus)
    trainer = MetaTrainer(cfg, run, model, items, speakers)
    trainer.log(f"{len(trainer.tasks)} speakers with tasks, {len(trainer.names)} adapted tensors "
                f"({sum(p.numel() for p in trainer.params.values()):,} of "
                f"{sum(p.numel() for p in model.parameters()):,} parameters), "
                f"{cfg.meta.method}, inner {trainer.inner}"
                + (f" as plain steps of {cfg.meta.maml_lr_weights} (weights) and "
                   f"{cfg.meta.maml_lr_embedding} (g), the aligner's CTC loss "
                   f"{'in' if cfg.meta.maml_inner_align else 'out of'} them"
                   if cfg.meta.method == "maml" else ""))
    trainer.resume()
    interrupt_on_sigterm()
    try:
        trainer.fit()
    except KeyboardInterrupt:
        trainer.log(f"stopped by a signal at meta-step {trainer.step}, after saving")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

