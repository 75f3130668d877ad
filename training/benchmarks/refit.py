"""Does fitting again on every clip, after early stopping chose the steps, generalize better?

SEA-ALL and PATCH hold out part of the reference to choose how many steps to keep; with
``FitConfig.refit`` they then fit again from the start, on every clip, for the chosen
steps. This measures both on corpus v2 *training* speakers, one per person in turn (of the 12
taken, 10 are people the bundled model never heard; flite awb and an espeak-ng variant it
did), a set no evaluation uses (never the leave-voice-out voices, no judge): for each
speaker, reference clips in order up to 5 and 10 s, and the generator loss on 6 other clips
of the same speaker (the query) under each fitted profile, the loss early stopping itself
scores.

    python -m training.benchmarks.refit --corpus data/corpus_v2 --speakers 12 \\
        --seconds 5 10 --modes patch sea-all --out docs/refit
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from training.benchmarks.adaptation import take_seconds
from training.benchmarks.report import write_report
from training.corpus.manifest import read_corpus
from training.corpus.voices import voice_by_name
from voiceadapt.adapt import FitConfig, adapt_patch, adapt_sea_all, apply_profile
from voiceadapt.adapt.fit import _held_loss, clip_batch, prepare_clips, uses_wavenet
from voiceadapt.inference.synthesize import load

QUERY_CLIPS = 6
FITS = {"patch": adapt_patch, "sea-all": adapt_sea_all}


def transcribed_by_speaker(corpus) -> dict[str, list]:
    """Each speaker's transcribed utterances, in manifest order (the corpus read once)."""
    out: dict[str, list] = {}
    for u in corpus.utterances:
        if u.transcribed:
            out.setdefault(u.speaker, []).append(u)
    return out


def pick_speakers(corpus, by_speaker: dict[str, list], count: int,
                  query_clips: int = QUERY_CLIPS) -> list[str]:
    """``count`` training speakers spread over the corpus's persons (in name order, one of
    each person in turn), each with at least twice ``query_clips`` transcribed clips."""
    by_person: dict[str, list[str]] = {}
    for name, spk in sorted(corpus.speakers.items()):
        if spk.split == "train" and len(by_speaker.get(name, [])) >= 2 * query_clips:
            by_person.setdefault(voice_by_name(spk.source).person, []).append(name)
    queues = [names for _, names in sorted(by_person.items())]
    out: list[str] = []
    while len(out) < count and any(queues):
        for q in queues:
            if q and len(out) < count:
                out.append(q.pop(0))
    return out


def run(corpus_dir: str, speakers: int, seconds: list[float], modes: list[str],
        query_clips: int = QUERY_CLIPS, steps: int = FitConfig.steps) -> dict:
    model = load()
    corpus = read_corpus(corpus_dir)
    by_speaker = transcribed_by_speaker(corpus)
    rows = []
    for spk in pick_speakers(corpus, by_speaker, speakers, query_clips):
        utts = by_speaker[spk]
        query_u, pool = utts[-query_clips:], utts[:-query_clips]
        language = utts[0].language

        def clips(us):
            return [corpus.audio_path(u) for u in us], [u.text for u in us]

        query = clip_batch(prepare_clips(model, *clips(query_u), "patch", language=language))
        for amount in seconds:
            refs = take_seconds(pool, amount)
            for mode in modes:
                for refit in (False, True):
                    cfg = FitConfig(language=language, refit=refit, steps=steps)
                    started = time.perf_counter()
                    profile = FITS[mode](model, *clips(refs), cfg=cfg)
                    spent = time.perf_counter() - started
                    adapted = apply_profile(model, profile)
                    loss = _held_loss(adapted, query, profile.embedding, cfg,
                                      uses_wavenet(model, cfg))
                    rows.append({"speaker": spk, "language": language, "seconds": amount,
                                 "reference_seconds": profile.seconds, "mode": mode,
                                 "refit": refit, "steps": profile.steps,
                                 "query_loss": loss, "fit_seconds": round(spent, 2)})
                    print(f"{spk:40s} {amount:4g}s {mode:8s} refit={refit!s:5s} steps "
                          f"{profile.steps:3d} query {loss:.4f} ({spent:.1f} s)", flush=True)
    return {"corpus": corpus_dir, "query_clips": query_clips, "rows": rows}


def markdown(result: dict) -> str:
    rows = result["rows"]
    lines = ["Query generator loss (lower is better) of SEA-ALL/PATCH profiles fitted with and "
             "without the refit on every clip; corpus v2 training speakers (one per person in "
             f"turn: {', '.join(sorted({r['speaker'] for r in rows}))}), "
             f"{result['query_clips']} query clips each. Mean over speakers; "
             "'refit better' counts the speakers whose query loss fell.", "",
             "| mode | reference | without refit | with refit | refit better | fit seconds without / with |",
             "|---|---|---|---|---|---|"]
    for mode in sorted({r["mode"] for r in rows}):
        for amount in sorted({r["seconds"] for r in rows}):
            sel = [r for r in rows if r["mode"] == mode and r["seconds"] == amount]
            off = {r["speaker"]: r for r in sel if not r["refit"]}
            on = {r["speaker"]: r for r in sel if r["refit"]}
            both = sorted(set(off) & set(on))
            better = sum(on[s]["query_loss"] < off[s]["query_loss"] for s in both)
            lines.append(
                f"| {mode} | {amount:g} s | {np.mean([off[s]['query_loss'] for s in both]):.4f} | "
                f"{np.mean([on[s]['query_loss'] for s in both]):.4f} | {better} of {len(both)} | "
                f"{np.mean([off[s]['fit_seconds'] for s in both]):.1f} / "
                f"{np.mean([on[s]['fit_seconds'] for s in both]):.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="data/corpus_v2")
    parser.add_argument("--speakers", type=int, default=12)
    parser.add_argument("--seconds", type=float, nargs="+", default=[5.0, 10.0])
    parser.add_argument("--modes", nargs="+", default=["patch"], choices=sorted(FITS))
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--out", required=True, help="path prefix for .json and .md")
    parser.add_argument("--from-json", action="store_true",
                        help="only write OUT.md again from OUT.json")
    args = parser.parse_args(argv)
    if args.from_json:
        result = json.loads(Path(args.out).with_suffix(".json").read_text())
        write_report(Path(args.out), result, markdown(result))
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run(args.corpus, args.speakers, args.seconds, args.modes)
    write_report(Path(args.out), result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
