"""A judge-free early check of adaptation: the generator's loss on held-out clips of a speaker.

For one dev speaker: fit each mode on the first ~N seconds of its clips, then score the
acoustic model's mel L1 and the WaveNet's cross-entropy on clips not used for fitting,
next to the average voice (mean of the training speakers' embeddings) as the floor.
Lower is better; the paper's ordering would read SEA-ALL <= SEA-EMB <= SEA-ENC < floor.

    python -m training.benchmarks.adaptation_loss --model M.safetensors --speaker flite-awb-s5
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from training.corpus.manifest import read_corpus
from voiceadapt import adapt
from voiceadapt.adapt.fit import apply_profile, clip_batch, prepare_clips
from voiceadapt.inference import load
from voiceadapt.models import losses as L
from voiceadapt.models.backbone import Backbone


@torch.no_grad()
def heldout_losses(model: Backbone, batch: dict[str, torch.Tensor], g: torch.Tensor,
                   ) -> dict[str, float]:
    b = batch["ids"].shape[0]
    gb = g[None].expand(b, -1)
    hop = model.features.hop_length
    acoustic = L.acoustic_losses(model, batch["ids"], batch["text_lens"], batch["audio"],
                                 batch["lens"] // hop + 1, batch["f0"], gb, lang=batch.get("lang"))
    segs, ctx = L.cut_segments(batch["audio"], batch["lens"], model.features, 8000,
                               torch.Generator().manual_seed(0))
    return {"mel_l1": round(float(acoustic["mel"]), 4),
            "wavenet_ce": round(float(L.wavenet_loss(model, segs, ctx, gb)), 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--corpus", default="data/corpus")
    parser.add_argument("--speaker", required=True, help="a dev speaker of the corpus")
    parser.add_argument("--seconds", type=float, default=10.0, help="reference audio to fit on")
    parser.add_argument("--test-clips", type=int, default=6)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    model = load(args.model)
    corpus = read_corpus(args.corpus)
    utts = [u for u in corpus.utterances if u.speaker == args.speaker]
    if not utts or corpus.speakers[args.speaker].split != "dev":
        raise SystemExit(f"{args.speaker} is not a dev speaker of {args.corpus}")
    fit, total = [], 0.0
    for u in utts:
        if total >= args.seconds:
            break
        fit.append(u)
        total += u.duration
    test = utts[len(fit) : len(fit) + args.test_clips]
    refs, texts = [corpus.audio_path(u) for u in fit], [u.text for u in fit]
    language = utts[0].language  # one speaker, one language
    test_batch = clip_batch(prepare_clips(model, [corpus.audio_path(u) for u in test],
                                          [u.text for u in test], "test", language=language))
    results = {"speaker": args.speaker, "fit_seconds": round(total, 2), "test_clips": len(test),
               "floor": heldout_losses(model, test_batch, model.speaker_table.weight.mean(0))}
    cfg = adapt.FitConfig(steps=args.steps, language=language)
    for mode in adapt.MODES:
        started = time.perf_counter()
        profile = adapt.adapt(model, mode, refs, texts, cfg=cfg)
        seconds = time.perf_counter() - started
        scored = apply_profile(model, profile)
        results[mode] = heldout_losses(scored, test_batch, profile.embedding) | {
            "fit_s": round(seconds, 1)}
        print(mode, results[mode], flush=True)
    print(json.dumps(results, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
