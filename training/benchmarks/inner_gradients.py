"""How large the inner loop's gradients are at a start: sizes MAML's plain inner steps.

Second-order MAML (``meta.method = "maml"``) adapts with plain gradient steps where the
product adapts with Adam. Adam's first step moves every element the loss reaches by its
learning rate; a plain step moves it by the rate times the gradient. This prints the RMS of
the support loss's gradient (the aligner's CTC loss left out, as in MAML's inner steps, unless
``--align``, as with ``meta.maml_inner_align``) over the adapted weights the loss reaches and
over g, on speaker tasks drawn from a training corpus, and the plain step sizes whose first
step matches Adam's in RMS: lr / median RMS. Training speakers only; no judge.

    python -m training.benchmarks.inner_gradients --corpus data/corpus_v2 --cache data/cache
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from training.config import DataConfig
from training.meta_speakers import SpeakerTasks, adapted_names, load_start, trainable
from training.train import load_items
from voiceadapt.adapt.fit import FitConfig, clip_batch, generator_loss, uses_wavenet
from voiceadapt.adapt.sea_enc import embedding_from_clips
from voiceadapt.models.backbone import Backbone


def gradient_rms(model: Backbone, tasks: SpeakerTasks, names: list[str], count: int, seed: int,
                 align_weight: float = 0.0) -> list[tuple[str, float, float]]:
    """(speaker, RMS over the named weights the loss reaches, RMS over g) of ``count`` sampled
    tasks' support gradients at the model as it is (the WaveNet's loss included when the
    model speaks through it, as the meta-trainer's inner loop does; the aligner's forward-sum
    term at ``align_weight``)."""
    wavenet = uses_wavenet(model, FitConfig())
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        task = tasks.sample(rng)
        g = embedding_from_clips(model, [c.audio for c in task.support]).clone().requires_grad_(True)
        with trainable(model, names) as params:
            loss = generator_loss(model, clip_batch(task.support), g, FitConfig.segment,
                                  torch.Generator().manual_seed(i), wavenet, align_weight=align_weight)
            grads = torch.autograd.grad(loss, [*params.values(), g], allow_unused=True)
        reached = [d for d in grads[:-1] if d is not None]  # Adam moves no other weight either
        size = sum(d.numel() for d in reached)
        square = sum(float(d.pow(2).sum()) for d in reached)
        out.append((task.speaker, (square / size) ** 0.5, float(grads[-1].pow(2).mean()) ** 0.5))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="", help="checkpoint (default: the bundled model)")
    parser.add_argument("--corpus", default="data/corpus_v2")
    parser.add_argument("--cache", default="data/cache")
    parser.add_argument("--adapt", default="patch", choices=["patch", "all"])
    parser.add_argument("--tasks", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--support-seconds", type=float, default=8.0)
    parser.add_argument("--align", action="store_true",
                        help="keep the aligner's forward-sum term (meta.maml_inner_align)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = load_start(args.model).eval()
    items, speakers = load_items(DataConfig(corpus=args.corpus, cache=args.cache), model.features)
    tasks = SpeakerTasks(model, items, speakers, args.support_seconds, 2)
    names = adapted_names(model, args.adapt, uses_wavenet(model, FitConfig()))
    rows = gradient_rms(model, tasks, names, args.tasks, args.seed, 1.0 if args.align else 0.0)
    for speaker, weights, g in rows:
        print(f"{speaker:40s} weights {weights:.2e}  g {g:.2e}")
    weights, g = float(np.median([r[1] for r in rows])), float(np.median([r[2] for r in rows]))
    print(f"median RMS: weights {weights:.2e}, g {g:.2e}")
    print(f"plain steps matching Adam's first step: maml_lr_weights ~ "
          f"{FitConfig.lr_weights / weights:.3g}, maml_lr_embedding ~ {FitConfig.lr_embedding / g:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
