"""Adaptation curves on held-out voices: does a meta-learned start adapt faster than the plain one?

For every speaker of an evaluation corpus (data/lvo: the held-out voices, two of them
leave-voice-out persons) and every amount of
reference audio, the inner loop that meta-training optimizes (``training/meta_speakers.py``:
Adam on g from SEA-ENC's estimate and PATCH's or SEA-ALL's weights, at the product's learning
rates) adapts each backbone on the reference clips; the generator loss on held-out clips of the
same speaker (the query, never a reference) is read after each step count, with the fit's wall
seconds by then. Same clips, seeds and step counts for every backbone. No judge is involved:
this is the loss the methods optimize; ``training/benchmarks/adaptation.py --modes patch
--model <backbone>`` gives the judged figures of the product's PATCH.

    python -m training.benchmarks.meta_speakers --corpus data/lvo \\
        --model plain= --model reptile=runs/meta_reptile_patch/step_0000300.safetensors \\
        --seconds 5 10 30 --steps 0 5 10 20 40 60 --out docs/meta_speakers_patch
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import torch

from training.benchmarks.adaptation import speaker_group, split_speaker, take_seconds
from training.benchmarks.report import named_values, write_report
from training.corpus.manifest import read_corpus
from training.meta_speakers import (
    InnerLoop,
    SpeakerTask,
    adaptation_curve,
    adapted_names,
    embedding_curve,
    load_leo,
)
from voiceadapt.adapt.fit import FitConfig, prepare_clips, uses_wavenet
from voiceadapt.adapt.profile import backbone_fingerprint
from voiceadapt.files import atomic_write_text, sha256_file
from voiceadapt.inference.synthesize import load

QUERY_CLIPS = 6


def speaker_task(model, corpus, speaker: str, seconds: float, train_texts: set[str]) -> SpeakerTask:
    """The pool's last ``QUERY_CLIPS`` transcribed clips as the query, and from the clips
    before them the reference, in order up to ``seconds`` (as the adaptation benchmark takes
    it): a query clip is never a reference."""
    pool, _, _ = split_speaker(corpus, speaker, train_texts, 12)
    query_u, support_pool = pool[-QUERY_CLIPS:], pool[:-QUERY_CLIPS]
    support_u = take_seconds(support_pool, seconds)
    language = pool[0].language

    def clips(us):
        return prepare_clips(model, [corpus.audio_path(u) for u in us], [u.text for u in us],
                             "patch", language=language)

    return SpeakerTask(speaker, clips(support_u), clips(query_u))


def run(models: dict[str, str], corpus_dir: str, seconds: list[float], steps: list[int],
        adapt: str, parts: Path | None = None, leos: dict[str, str] | None = None,
        log=print) -> dict:
    """Every backbone's curves (``adapt`` "embedding": SEA-EMB's; with ``leos``, LABEL ->
    a LEO file, also LEO's on the backbone it was learned on). With ``parts``, each curve set
    is kept there (keyed by the backbone's fingerprint, the LEO file and the settings), and a
    rerun reuses them: add a backbone without measuring the others again."""
    corpus = read_corpus(corpus_dir)
    train_texts = {u.normalized for u in corpus.split("train")}
    speakers = sorted({u.speaker for u in corpus.split("dev")})
    rows, infos = [], []
    entries = [(label, path, None) for label, path in models.items()]
    entries += [(label, "", leo_path) for label, leo_path in (leos or {}).items()]
    for label, path, leo_path in entries:
        leo, leo_extra = load_leo(leo_path) if leo_path else (None, {})
        model = load(path or None)
        fingerprint = backbone_fingerprint(model)
        if leo is not None and leo_extra.get("backbone") != fingerprint:
            raise SystemExit(f"{leo_path} was learned on another backbone than {path or 'the bundled one'}")
        inner = InnerLoop(lr_weights=FitConfig.lr_weights, lr_embedding=FitConfig.lr_embedding,
                          wavenet=uses_wavenet(model, FitConfig()))
        leo_sum = sha256_file(leo_path)[:16] if leo_path else ""
        settings = {"backbone": fingerprint, "leo": leo_sum, "corpus": str(corpus_dir),
                    "seconds": seconds, "steps": steps, "adapt": adapt, "query": QUERY_CLIPS,
                    "inner": dataclasses.asdict(inner)}
        key = fingerprint[:16] + (f"-leo-{leo_sum}" if leo_path else "")
        part = parts / f"{adapt}-{key}.json" if parts is not None else None
        infos.append({"model": label, "path": path or "bundled", "leo": leo_path or None,
                      "meta": leo_extra or model.extra.get("meta", {})})
        if part is not None and part.exists() and json.loads(part.read_text())["settings"] == settings:
            log(f"{label}: kept from {part}")
            rows += [r | {"model": label} for r in json.loads(part.read_text())["rows"]]
            continue
        names = adapted_names(model, adapt, inner.wavenet) if adapt != "embedding" else []
        mine = []
        for spk in speakers:
            group = speaker_group(corpus, spk, model.speakers)
            for amount in seconds:
                torch.manual_seed(0)
                task = speaker_task(model, corpus, spk, amount, train_texts)
                curve = (embedding_curve(model, task, inner, steps, leo) if adapt == "embedding"
                         else adaptation_curve(model, names, task, inner, steps))
                mine += [{"model": label, "speaker": spk, "group": group, "seconds": amount,
                          "reference_seconds": round(task.support_seconds, 2), **point}
                         for point in curve]
                log(f"{label:10s} {spk:32s} {amount:4.0f}s: query loss "
                    f"{curve[0]['query_loss']:.4f} -> {curve[-1]['query_loss']:.4f} "
                    f"in {curve[-1]['step']} steps, {curve[-1]['fit_seconds']:.1f}s")
        if part is not None:
            part.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(part, json.dumps({"settings": settings, "rows": mine}))
        rows += mine
    return {"adapt": adapt, "seconds": seconds, "steps": steps, "query_clips": QUERY_CLIPS,
            "rows": rows, "models": infos}


def markdown(result: dict) -> str:
    steps = result["steps"]
    lines = [f"Query generator loss (lower is better) after n inner steps of {result['adapt']} "
             f"adaptation, mean over each group's speakers; {result['query_clips']} held-out "
             "clips per speaker.", ""]
    for group in sorted({r["group"] for r in result["rows"]}):
        lines += [f"### {group}", "",
                  "| model | reference (s) | " + " | ".join(f"step {s}" for s in steps) + " |",
                  "|---|---|" + "---|" * len(steps)]
        for r_model in [m["model"] for m in result["models"]]:
            for amount in result["seconds"]:
                pts = [r for r in result["rows"] if r["group"] == group and r["model"] == r_model
                       and r["seconds"] == amount]
                if not pts:
                    continue
                by_step = {s: np.mean([p["query_loss"] for p in pts if p["step"] == s]) for s in steps}
                lines.append(f"| {r_model} | {amount:g} | "
                             + " | ".join(f"{by_step[s]:.4f}" for s in steps) + " |")
        lines.append("")
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = sorted({r["group"] for r in result["rows"]})
    fig, axes = plt.subplots(1, len(groups), figsize=(6 * len(groups), 4), squeeze=False)
    for ax, group in zip(axes[0], groups, strict=True):
        for i, m in enumerate(result["models"]):  # a colour per model, a line style per amount
            for j, amount in enumerate(result["seconds"]):
                pts = [r for r in result["rows"] if r["group"] == group and r["model"] == m["model"]
                       and r["seconds"] == amount]
                if not pts:
                    continue
                steps = sorted({p["step"] for p in pts})
                ax.plot(steps, [np.mean([p["query_loss"] for p in pts if p["step"] == s])
                                for s in steps], marker="o", color=f"C{i}",
                        linestyle=("-", "--", ":", "-.")[j % 4], label=f"{m['model']}, {amount:g} s")
        ax.set_title(group, fontsize=9)
        ax.set_xlabel("adaptation steps")
        ax.set_ylabel("query generator loss")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=[],
                        help="LABEL=CHECKPOINT (an empty checkpoint: the bundled model); repeat")
    parser.add_argument("--corpus", default="data/lvo")
    parser.add_argument("--seconds", type=float, nargs="+", default=[5.0, 10.0, 30.0])
    parser.add_argument("--steps", type=int, nargs="+", default=[0, 5, 10, 20, 40, 60])
    parser.add_argument("--adapt", choices=["patch", "all", "embedding"], default="patch",
                        help="the parameters fitted: PATCH's, SEA-ALL's, or g alone (SEA-EMB, LEO)")
    parser.add_argument("--leo", action="append", default=[],
                        help="LABEL=LEO_FILE (from a meta run with method leo), on the bundled "
                        "model; repeat; with --adapt embedding")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--out", required=True, help="path prefix for .json, .md and .png")
    parser.add_argument("--parts", help="where each backbone's curves are kept for reruns "
                        "(default: OUT.parts/)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    # an empty path: the bundled model (--model plain=)
    models = named_values(parser, args.model, "model", "LABEL=CHECKPOINT", empty_value=True)
    leos = named_values(parser, args.leo, "leo", "LABEL=LEO_FILE")
    if set(models) & set(leos):
        parser.error(f"--model and --leo share the label(s) {', '.join(sorted(set(models) & set(leos)))}")
    if leos and args.adapt != "embedding":
        parser.error("--leo fits g: use it with --adapt embedding")
    out = Path(args.out)
    parts = Path(args.parts) if args.parts else out.parent / f"{out.name}.parts"
    result = run(models, args.corpus, args.seconds, sorted(set(args.steps)), args.adapt, parts, leos)
    write_report(out, result, markdown(result))
    plot(result, out.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
