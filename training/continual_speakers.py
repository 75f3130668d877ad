"""Adding corpus speakers to a backbone one after another, without losing the earlier ones:
plain sequential fine-tuning, experience replay, MER and MOLe on a stream of speakers.

Only corpus speakers are ever added (a user's consent covers their own voice profile, not the
backbone). The stream is ``speakers`` speakers of different people; each brings its
``train_clips`` clips in its turn, each clip arriving ``repeats`` times. What learns: the
shared weights one adaptation mode changes (PATCH's norms and biases, or all of SEA-ALL's) and
each speaker's own g, which starts from SEA-ENC's estimate of its training clips. All methods
step with one Adam optimizer at the product's rates, its state kept along the stream (MER's
Reptile pulls act on the weights; the paper's SGD has no state to keep):

- ``sgd``: one step on each arriving clip, nothing remembered (the baseline);
- ``er``: one step on the arriving clip with ``batch - 1`` clips replayed from a reservoir;
- ``mer`` (Riemer et al. 2019; ``voiceadapt.meta.continual``): ``batches`` times, single-clip
  steps over ``batch - 1`` replayed clips and the new one, pulled back toward where the batch
  started (``beta``), then toward where the clip started (``gamma``);
- ``mole`` (Nagabandi et al. 2019; ``voiceadapt.meta.mole``): a mixture of backbones; each
  arriving clip goes to the component with the highest posterior (CRP prior times
  exp(-loss / temperature)) or to a new one copied from the start, and steps that one only.
  A speaker is later read by the component that explains its training clips best, which is
  found without its label.

After each speaker, every stream speaker's test clips (never trained on) are scored with its
own g: the loss matrix ``R[i][j]`` (row 0 the start, row i after the i-th speaker's turn; the
j-th speaker's own turn takes row j to row j + 1, counting speakers from 0). Its own turn's
gain is ``R[j][j] - R[j+1][j]``, what the earlier turns did for it (forward transfer)
``R[0][j] - R[j][j]``, and its forgetting ``R[last][j] - R[j+1][j]``, the loss it regained by
the end.

    python -m training continual --config configs/continual_mer_all.toml --run-dir runs/continual_mer_all

The run folder holds ``config.toml``, ``git.txt``, ``metrics.jsonl``, ``tb/``, ``state.pt``
(saved after each speaker: running the command again resumes at the next one) and, at the
end, ``results.json``. SIGTERM stops at once; the speaker in progress is learned again.
"""

from __future__ import annotations

import copy
import json
import random
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from training.config import ContinualRunConfig, load_continual_config
from training.data import Item
from training.meta_speakers import (
    adapted_names,
    corpus_persons,
    item_clip,
    language_row,
    load_start,
    refuse_held_out_speakers,
    usable_items,
)
from training.train import git_hash, interrupt_on_sigterm, load_items, prepare_run, run_folder_arguments
from voiceadapt.adapt.fit import Clip, FitConfig, clip_batch, generator_loss, uses_wavenet
from voiceadapt.adapt.sea_enc import embedding_from_clips
from voiceadapt.audio import FeatureParams
from voiceadapt.files import atomic_path, atomic_write_text
from voiceadapt.meta.continual import ContinualLearner
from voiceadapt.meta.mole import Component, MOLe
from voiceadapt.models.backbone import Backbone


@dataclass(eq=False)
class StreamSpeaker:
    name: str
    train: list[Clip]
    test: list[Clip]


def choose_speakers(model: Backbone, items: list[Item], speakers: list[str], count: int,
                    train_clips: int, test_clips: int, seed: int,
                    person_of: dict[str, str] | None = None) -> list[StreamSpeaker]:
    """``count`` speakers of different people (when ``person_of`` names them), drawn with
    ``seed`` from those with enough clips; their first clips train, the next ones test."""
    by_speaker: dict[int, list[Item]] = defaultdict(list)
    for it in usable_items(model, items):
        by_speaker[it.speaker].append(it)
    need = train_clips + test_clips
    ready = sorted(s for s, its in by_speaker.items() if len(its) >= need)
    rng = np.random.default_rng(seed)
    chosen, people = [], set()
    for s in rng.permutation(ready):
        person = (person_of or {}).get(speakers[s], speakers[s])
        if person in people:
            continue
        people.add(person)
        chosen.append(int(s))
        if len(chosen) == count:
            break
    if len(chosen) < count:
        raise ValueError(f"only {len(chosen)} speakers of different people have {need} usable "
                         f"clips; the stream needs {count}")
    rate = model.features.sample_rate
    out = []
    for s in chosen:
        its = sorted(by_speaker[s], key=lambda it: it.utt_id)
        clips = [item_clip(it, rate, language_row(model, it.language)) for it in its[:need]]
        out.append(StreamSpeaker(speakers[s], clips[:train_clips], clips[train_clips:]))
    return out


def stream_figures(R: list[list[float]], speakers: int) -> dict[str, float | int]:
    """Learning and forgetting from the loss matrix so far (rows: the start, then one after
    each turn; the first half of the stream's ``speakers`` is reported apart)."""
    n = len(R) - 1
    first = max(1, speakers // 2)
    out: dict[str, float | int] = {"speakers_learned": n}
    if n:
        last = R[n]
        out["mean_test_loss"] = float(np.mean(last[:n]))
        out["own_turn_gain"] = float(np.mean([R[j][j] - R[j + 1][j] for j in range(n)]))
        out["forward_transfer"] = float(np.mean([R[0][j] - R[j][j] for j in range(n)]))
    if n >= 2:
        forgetting = [R[n][j] - R[j + 1][j] for j in range(n - 1)]
        out["forgetting"] = float(np.mean(forgetting))
        out["forgetting_first"] = float(np.mean(forgetting[:first]))
        out["first_speakers"] = first
    return out


class SpeakerStream:
    """The learner, its speakers' g and the loss matrix, for one method."""

    def __init__(self, cfg: ContinualRunConfig, model: Backbone, stream: list[StreamSpeaker]):
        self.cfg, self.stream = cfg, stream
        c = cfg.continual
        self.model = model.eval()
        self.wavenet = uses_wavenet(model, FitConfig())
        self.names = adapted_names(model, c.adapt, self.wavenet)
        self.generator = torch.Generator().manual_seed(c.seed)
        with torch.no_grad():
            self.g = nn.ParameterList(
                nn.Parameter(embedding_from_clips(model, [clip.audio for clip in sp.train]))
                for sp in stream)
        self.done = 0  # speakers learned
        self.arrivals = 0
        self.losses: list[list[float]] = []  # R: row 0 the start, row j + 1 after speaker j
        self.train_seconds = 0.0
        for p in model.parameters():
            p.requires_grad_(False)
        if c.method == "mole":
            self.optimizers: list[torch.optim.Optimizer] = []  # one per component, in order
            self.mole = MOLe(prior=model, alpha=c.alpha, log_likelihood=self._log_likelihood,
                             adapt=self._adapt_component)
            self.learner = None
        else:
            self.mole = None
            self.optimizer = self._optimizer(model)
            self.learner = ContinualLearner(self._shared(model) + list(self.g), self._batch_loss,
                                            c.method, memory=c.memory, batch=c.batch,
                                            batches=c.batches, beta=c.beta, gamma=c.gamma,
                                            seed=c.seed, optimizer=self.optimizer)

    # -- what learns ------------------------------------------------------------------------
    def _shared(self, model: Backbone) -> list[nn.Parameter]:
        params = dict(model.named_parameters())
        shared = [params[n] for n in self.names]
        for p in shared:
            p.requires_grad_(True)
        return shared

    def _optimizer(self, model: Backbone) -> torch.optim.Optimizer:
        c = self.cfg.continual
        return torch.optim.Adam([{"params": self._shared(model), "lr": c.lr_weights},
                                 {"params": list(self.g), "lr": c.lr_embedding}])

    def _loss(self, model: Backbone, examples: list[tuple[int, int]]) -> torch.Tensor:
        """The generator loss of (speaker, training clip) examples, each under its speaker's g."""
        clips = [self.stream[j].train[k] for j, k in examples]
        g = torch.stack([self.g[j] for j, _ in examples])
        return generator_loss(model, clip_batch(clips), g,
                              FitConfig.segment, self.generator, self.wavenet)

    def _batch_loss(self, examples: list[tuple[int, int]]) -> torch.Tensor:
        return self._loss(self.model, examples)

    def _log_likelihood(self, model: nn.Module, examples: list[tuple[int, int]]) -> float:
        with torch.no_grad():
            return -float(self._loss(model, examples)) / self.cfg.continual.temperature

    def _adapt_component(self, model: nn.Module, examples: list[tuple[int, int]]) -> None:
        assert self.mole is not None
        index = next(i for i, c in enumerate(self.mole.components) if c.model is model)
        if index == len(self.optimizers):  # a new component: its own Adam
            self.optimizers.append(self._optimizer(model))  # type: ignore[arg-type]
        opt = self.optimizers[index]
        opt.zero_grad(set_to_none=True)
        self._loss(model, examples).backward()
        opt.step()

    # -- the stream -------------------------------------------------------------------------
    def arrivals_of(self, j: int) -> list[tuple[int, int]]:
        """Speaker j's turn: each training clip ``repeats`` times, shuffled per repeat."""
        c = self.cfg.continual
        rng = random.Random(c.seed * 1000 + j)
        order = []
        for _ in range(c.repeats):
            clips = list(range(len(self.stream[j].train)))
            rng.shuffle(clips)
            order += [(j, k) for k in clips]
        return order

    def learn_speaker(self) -> None:
        """The next speaker's turn in the stream."""
        j = self.done
        for example in self.arrivals_of(j):
            if self.mole is not None:
                self.mole.observe([example])
            else:
                assert self.learner is not None
                self.learner.observe(example)
            self.arrivals += 1
        self.done += 1

    def model_for(self, j: int) -> Backbone:
        """The backbone that reads speaker j: the one there is, or MOLe's component that
        explains its training clips best (found without its label)."""
        if self.mole is None or not self.mole.components:
            return self.model
        examples = [(j, k) for k in range(len(self.stream[j].train))]
        scores = [self._log_likelihood(c.model, examples) for c in self.mole.components]
        return self.mole.components[int(np.argmax(scores))].model  # type: ignore[return-value]

    @torch.no_grad()
    def test_losses(self) -> list[float]:
        """Every stream speaker's test loss, under its own g (seeded: the same each time)."""
        out = []
        for j, sp in enumerate(self.stream):
            out.append(float(generator_loss(self.model_for(j), clip_batch(sp.test), self.g[j],
                                            FitConfig.segment, torch.Generator().manual_seed(j),
                                            self.wavenet)))
        return out

    def summary(self) -> dict[str, object]:
        out = {**stream_figures(self.losses, len(self.stream)), "arrivals": self.arrivals}
        if self.mole is not None:
            out["components"] = len(self.mole.components)
        return out

    # -- run folder -------------------------------------------------------------------------
    def state(self) -> dict[str, object]:
        out: dict[str, object] = {"done": self.done, "arrivals": self.arrivals,
                                  "losses": self.losses, "train_seconds": self.train_seconds,
                                  "g": [p.detach().clone() for p in self.g],
                                  "generator": self.generator.get_state()}
        if self.mole is not None:
            out["components"] = [
                {"shared": {n: p.detach().clone() for n, p in c.model.named_parameters()
                            if n in set(self.names)},
                 "count": c.count, "optimizer": opt.state_dict()}
                for c, opt in zip(self.mole.components, self.optimizers, strict=True)]
            out["assignments"] = list(self.mole.assignments)
        else:
            assert self.learner is not None
            memory = self.learner.memory
            out["shared"] = {n: p.detach().clone() for n, p in self.model.named_parameters()
                             if n in set(self.names)}
            out["optimizer"] = self.optimizer.state_dict()
            out["memory"] = {"items": list(memory.items), "seen": memory.seen,
                             "rng": memory.rng.getstate()}
        return out

    def load_state(self, state: dict) -> None:
        self.done, self.arrivals = int(state["done"]), int(state["arrivals"])
        self.losses, self.train_seconds = state["losses"], float(state["train_seconds"])
        self.generator.set_state(state["generator"])
        with torch.no_grad():
            for p, v in zip(self.g, state["g"], strict=True):
                p.copy_(v)
        if self.mole is not None:
            for saved in state["components"]:
                model = copy.deepcopy(self.model)
                with torch.no_grad():
                    params = dict(model.named_parameters())
                    for n, v in saved["shared"].items():
                        params[n].copy_(v)
                opt = self._optimizer(model)
                opt.load_state_dict(saved["optimizer"])
                self.optimizers.append(opt)
                self.mole.components.append(Component(model, int(saved["count"])))
            self.mole.assignments = list(state["assignments"])
        else:
            assert self.learner is not None
            with torch.no_grad():
                params = dict(self.model.named_parameters())
                for n, v in state["shared"].items():
                    params[n].copy_(v)
            self.optimizer.load_state_dict(state["optimizer"])
            memory = self.learner.memory
            memory.items = [tuple(i) for i in state["memory"]["items"]]
            memory.seen = int(state["memory"]["seen"])
            memory.rng.setstate(state["memory"]["rng"])


def run_stream(cfg: ContinualRunConfig, run: Path, stream: SpeakerStream, log=print) -> dict:
    """Learn the stream's speakers from where the run folder stands; returns the results."""
    from torch.utils.tensorboard import SummaryWriter

    state_path = run / "state.pt"
    if state_path.exists():
        stream.load_state(torch.load(state_path, weights_only=False))
        log(f"resumed after speaker {stream.done} of {len(stream.stream)}")
    if not stream.losses:
        stream.losses.append(stream.test_losses())
    writer = SummaryWriter(str(run / "tb"))
    bar = tqdm(total=len(stream.stream), initial=stream.done,
               desc=f"continual ({cfg.continual.method}, {cfg.continual.adapt})", dynamic_ncols=True)
    try:
        while stream.done < len(stream.stream):
            started = time.perf_counter()
            stream.learn_speaker()
            stream.train_seconds += time.perf_counter() - started
            stream.losses.append(stream.test_losses())
            with atomic_path(state_path) as tmp:  # first: a stop after it repeats no row below
                torch.save(stream.state(), tmp)
            figures = stream.summary()
            bar.update(1)
            for k, v in figures.items():
                if isinstance(v, float):
                    writer.add_scalar(f"continual/{k}", v, stream.done)
            writer.add_scalar("continual/first_speaker_loss", stream.losses[-1][0], stream.done)
            with open(run / "metrics.jsonl", "a") as f:
                f.write(json.dumps({"speaker": stream.done, "time": time.time(), **figures}) + "\n")
    finally:
        bar.close()
        writer.close()
    c = cfg.continual
    results = {"method": c.method, "adapt": c.adapt, "git": git_hash(),
               "stream": stream_settings(cfg), "speakers": [sp.name for sp in stream.stream],
               "shared_parameters": sum(p.numel() for n, p in stream.model.named_parameters()
                                        if n in set(stream.names)),
               "loss_matrix": stream.losses,
               "wall_minutes": round(stream.train_seconds / 60, 2),  # learning only, not scoring
               **stream.summary()}
    atomic_write_text(run / "results.json", json.dumps(results, indent=1) + "\n")
    return results


def stream_settings(cfg: ContinualRunConfig) -> dict[str, object]:
    """What makes two runs' streams the same: runs to compare must agree on all of it."""
    c = cfg.continual
    return {"corpus": cfg.data.corpus, "pack": cfg.data.pack, "init": c.init or "bundled",
            "speakers": c.speakers, "train_clips": c.train_clips, "test_clips": c.test_clips,
            "repeats": c.repeats, "seed": c.seed, "adapt": c.adapt}


def main(argv: list[str] | None = None) -> int:
    run, config = run_folder_arguments(__doc__, argv)
    cfg: ContinualRunConfig = prepare_run(run, config, load_continual_config)
    c = cfg.continual
    if c.threads:
        torch.set_num_threads(c.threads)
    model = load_start(c.init)
    items, speakers = load_items(cfg.data, FeatureParams())
    corpus = cfg.data.corpus if not cfg.data.pack else ""
    person_of = corpus_persons(corpus)  # the manifest read once, for both uses
    refuse_held_out_speakers(person_of, speakers, corpus)
    chosen = choose_speakers(model, items, speakers, c.speakers, c.train_clips, c.test_clips,
                             c.seed, person_of)
    stream = SpeakerStream(cfg, model, chosen)

    def log(message: str) -> None:
        tqdm.write(f"[continual] {message}")

    log(f"{len(chosen)} speakers ({', '.join(sp.name for sp in chosen)}), {len(stream.names)} "
        f"shared tensors, {c.method}")
    interrupt_on_sigterm()
    try:
        results = run_stream(cfg, run, stream, log)
    except KeyboardInterrupt:
        log(f"stopped by a signal after speaker {stream.done}; run again to go on")
        return 130
    log(json.dumps({k: v for k, v in results.items() if k != "loss_matrix"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
