"""The product's adaptation judged against its step budget and its fit seconds, every backbone
in one process under the same load.

For every speaker (``--only``: the leave-voice-out persons), every step budget and every
backbone, the product's mode (PATCH by default) fits the same reference clips with
``FitConfig(steps=budget)`` (SEA-EMB's stage and the weight stage each run ``budget`` steps
and keep their best held-out step, as the product's early stopping does), then speaks the test
sentences, which the judges score as ``training/benchmarks/adaptation.py`` does: similarity to
the speaker's own held-out recordings, EER against every speaker's enrollment, WER, DNSMOS.
The fit's wall seconds are measured with nothing else of this process running; every backbone
first fits once unmeasured in each speaker's language (lazy initializations), and the
backbones take turns, the order rotated as a Latin square over (speaker, budget), so a drift in
the machine's load falls on all of them alike: the seconds compare across backbones, which
separate runs on a shared machine did not give.

    python -m training.benchmarks.judged_budgets --corpus data/lvo \\
        --only asterisk-ru-ivr-s0 festival-suo-fi-lj-diphone-s0 --seconds 10 --sentences 12 \\
        --model plain= --model reptile=runs/meta_reptile_patch/step_0000300.safetensors \\
        --budgets 5 10 20 40 60 --out docs/meta_speakers_judged_budgets

Each finished cell (speaker, backbone, budget) is kept in ``OUT.parts/``; a rerun with the same
settings resumes. A resumed cell's seconds are from the earlier run: for comparable seconds,
run it whole. Writes ``OUT.json``, ``OUT.md`` and ``OUT.png``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys
from pathlib import Path

import numpy as np
import torch

from training.benchmarks.adaptation import (
    _score,
    _warm_up,
    enrollment,
    fit,
    measured,
    pooled_eer,
    split_speaker,
    take_seconds,
)
from training.benchmarks.report import named_values, write_report
from training.corpus.manifest import Corpus, read_corpus
from training.judges import Judges
from voiceadapt import adapt
from voiceadapt.audio import load_audio
from voiceadapt.files import atomic_write_text
from voiceadapt.inference.synthesize import load, synthesize
from voiceadapt.models.backbone import Backbone

BUDGETS = (5, 10, 20, 40, 60)


def turns(labels: list[str], index: int) -> list[str]:
    """The backbones' order at the ``index``-th turn: ``labels`` rotated by ``index``."""
    k = index % len(labels) if labels else 0
    return labels[k:] + labels[:k]


def schedule(speakers: list[str], budgets: list[int], labels: list[str]) -> list[tuple[str, int, str]]:
    """(speaker, budget, backbone) in the order they are fitted: every backbone at each
    (speaker, budget), the order rotated by the budget's index plus the speaker's (a Latin
    square), so no backbone always comes first (right after the judges or a new speaker's
    warm-up) or last, whatever the counts."""
    return [(spk, budget, label) for s, spk in enumerate(speakers)
            for b, budget in enumerate(budgets) for label in turns(labels, s + b)]


def run(models: dict[str, Backbone], corpus: Corpus, speakers: list[str], seconds: float,
        budgets: list[int], mode: str, sentences: int, judges, parts: Path | None = None,
        log=print) -> dict:
    train_texts = {u.normalized for u in corpus.split("train")}
    labels = list(models)
    fingerprints = {label: adapt.backbone_fingerprint(m) for label, m in models.items()}
    split, enroll, ceiling = {}, {}, {}
    for spk in speakers:  # every enrollment first: each cell's EER trials score against all
        pool, test, texts = split_speaker(corpus, spk, train_texts, sentences)
        if not pool:
            raise ValueError(f"{spk} has no transcribed clip left for a reference after its "
                             f"{len(test)} held-out ones")
        _, enroll[spk], loo = enrollment(judges, [load_audio(corpus.audio_path(u)).samples
                                                  for u in test])
        ceiling[spk] = float(np.mean(loo))
        split[spk] = (take_seconds(pool, seconds), texts, pool[0].language)
    cells = []
    warmed: set[str] = set()
    for spk, budget, label in schedule(speakers, budgets, labels):
        refs_u, texts, language = split[spk]
        settings = {"backbone": fingerprints[label], "speaker": spk, "seconds": seconds,
                    "budget": budget, "mode": mode, "sentences": sentences,
                    "references": [u.id for u in refs_u]}
        part = parts / f"{spk}__{label}__{budget}.json" if parts is not None else None
        if part is not None and part.exists():
            kept = json.loads(part.read_text())
            if kept["settings"] == settings:
                log(f"{spk} {label} {budget}: kept from {part}")
                cells.append(kept)
                continue
        if spk not in warmed:  # lazy initializations (this speaker's language) out of the timing
            for model in models.values():
                _warm_up(corpus, spk, (mode,), model)
            warmed.add(spk)
        model = models[label]
        cfg = adapt.FitConfig(steps=budget, language=language)
        profile, wall, _ = measured(functools.partial(fit, model, mode,
                                                      [corpus.audio_path(u) for u in refs_u],
                                                      [u.text for u in refs_u], cfg))
        wavs = [synthesize(t, voice=profile, model=model)[0] for t in texts]
        trials: list = []
        row = _score(judges, spk, mode, seconds, texts, wavs, enroll[spk], trials)
        row.update({"backbone": label, "budget": budget, "fit_s": wall, "kept_step": profile.steps,
                    "reference_seconds": round(profile.seconds, 2)})
        cell = {"settings": settings, "row": row,
                "trials": [np.asarray(t[3]).tolist() for t in trials]}
        if part is not None:
            part.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(part, json.dumps(cell, default=float))
        cells.append(cell)
        log(f"{spk} {label:10s} budget {budget:3d}: similarity {row['similarity']:.3f} "
            f"WER {row['wer']:.2f} fit {wall:.1f}s (kept step {profile.steps})")
    result = summarize(cells, enroll, ceiling, labels, budgets, mode, seconds,
                       {label: fingerprints[label] for label in labels})
    # the fit's other settings (steps are the budget, the language each speaker's own)
    fit_cfg = {k: v for k, v in dataclasses.asdict(adapt.FitConfig()).items()
               if k not in ("steps", "language")}
    result["settings"] = {"sentences": sentences, "fit": fit_cfg}
    return result


def summarize(cells: list[dict], enroll: dict[str, np.ndarray], ceiling: dict[str, float],
              labels: list[str], budgets: list[int], mode: str, seconds: float,
              fingerprints: dict[str, str]) -> dict:
    """Per backbone and budget: mean similarity, WER, DNSMOS and fit seconds over the speakers;
    EER over every synthesized utterance scored against every speaker's enrollment."""
    table = []
    for label in labels:
        for budget in budgets:
            mine = [c for c in cells if c["row"]["backbone"] == label and c["row"]["budget"] == budget]
            if not mine:
                continue
            trials = [(c["row"]["speaker"], np.asarray(v, dtype=np.float32))
                      for c in mine for v in c["trials"]]
            entry = {"backbone": label, "budget": budget, "speakers": len(mine),
                     "eer": pooled_eer(enroll, trials), "trials": len(trials)}
            for key in ("similarity", "wer", "dnsmos_ovrl", "fit_s"):
                values = [c["row"][key] for c in mine if c["row"].get(key) is not None]
                entry[key] = float(np.mean(values)) if values else None
            entry["kept_steps"] = {c["row"]["speaker"]: c["row"]["kept_step"] for c in mine}
            entry["per_speaker"] = {c["row"]["speaker"]: c["row"]["similarity"] for c in mine}
            table.append(entry)
    return {"mode": mode, "seconds": seconds, "budgets": budgets, "backbones": fingerprints,
            "speakers": sorted(enroll), "ceiling": ceiling, "table": table,
            "rows": [c["row"] for c in cells]}


def markdown(result: dict) -> str:
    speakers = result["speakers"]
    lines = [f"{result['mode']} at {result['seconds']:g} s of reference, judged; every backbone in "
             f"one process, taking turns. Ceiling (own held-out recordings): "
             + ", ".join(f"{s} {result['ceiling'][s]:.3f}" for s in speakers) + ".", "",
             "| backbone | step budget | fit (s) | similarity | EER | WER | DNSMOS | "
             + " | ".join(speakers) + " | steps kept |", "|---" * (7 + len(speakers)) + "|---|"]
    for e in result["table"]:
        wer = "-" if e["wer"] is None else f"{e['wer']:.2f}"
        lines.append(f"| {e['backbone']} | {e['budget']} | {e['fit_s']:.2f} | {e['similarity']:.3f} | "
                     f"{e['eer']:.1%} | {wer} | {e['dnsmos_ovrl']:.2f} | "
                     + " | ".join(f"{e['per_speaker'][s]:.3f}" if s in e["per_speaker"] else "-"
                                  for s in speakers)
                     + " | " + ", ".join(str(e["kept_steps"].get(s, "-")) for s in speakers) + " |")
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for i, label in enumerate(result["backbones"]):
        pts = sorted((e["fit_s"], e["similarity"], e["eer"], e["budget"])
                     for e in result["table"] if e["backbone"] == label)
        if not pts:
            continue
        xs = [p[0] for p in pts]
        axes[0].plot(xs, [p[1] for p in pts], marker="o", color=f"C{i}", label=label)
        axes[1].plot(xs, [p[2] for p in pts], marker="o", color=f"C{i}", label=label)
        for x, y, _, budget in pts:
            axes[0].annotate(str(budget), (x, y), fontsize=6, textcoords="offset points",
                             xytext=(2, 2))
    axes[0].set_ylabel("speaker similarity (resemblyzer cosine)")
    axes[1].set_ylabel("EER")
    for ax in axes:
        ax.set_xlabel("fit wall seconds (mean over speakers; labels: step budget)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=[],
                        help="LABEL=CHECKPOINT (an empty checkpoint: the bundled model); repeat")
    parser.add_argument("--corpus", default="data/lvo")
    parser.add_argument("--only", nargs="+", required=True, help="dev speakers by name")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--budgets", type=int, nargs="+", default=list(BUDGETS))
    parser.add_argument("--mode", choices=["sea-emb", "sea-all", "patch"], default="patch",
                        help="a mode that takes steps")
    parser.add_argument("--sentences", type=int, default=12)
    parser.add_argument("--out", required=True, help="path prefix for .json, .md and .png")
    parser.add_argument("--parts", help="where finished cells are kept (default: OUT.parts/)")
    args = parser.parse_args(argv)
    specs = named_values(parser, args.model, "model", "LABEL=CHECKPOINT", empty_value=True)
    if not specs:
        parser.error("give at least one --model LABEL=CHECKPOINT (plain= is the bundled model)")
    if args.sentences < 2:
        parser.error("--sentences: 2 or more (the ceiling leaves one recording out)")
    if any(b < 1 for b in args.budgets):
        parser.error("--budgets are step counts >= 1")
    corpus = read_corpus(args.corpus)
    dev = {u.speaker for u in corpus.split("dev")}
    unknown = sorted(set(args.only) - dev)
    if unknown:
        parser.error(f"not dev speakers of {args.corpus}: {', '.join(unknown)}")
    models = {label: load(path or None) for label, path in specs.items()}
    for label, model in models.items():
        if model.recommended_vocoder is None:
            raise SystemExit(f"{label}: {specs[label]} recommends no vocoder (see adaptation.py)")
    torch.manual_seed(0)
    out = Path(args.out)
    parts = Path(args.parts) if args.parts else out.parent / f"{out.name}.parts"
    result = run(models, corpus, sorted(set(args.only)), args.seconds, sorted(set(args.budgets)),
                 args.mode, args.sentences, Judges(), parts=parts)
    result["paths"] = {label: path or "bundled" for label, path in specs.items()}
    write_report(out, result, markdown(result))
    plot(result, out.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
