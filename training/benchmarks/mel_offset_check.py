"""Does a voice's mel offset carry to clips it was not measured on? No judge: the generator's own
measure.

For every speaker of a corpus with transcribed clips: SEA-ENC's embedding and the mel offset
(:mod:`voiceadapt.adapt.mel_offset`) from about ``--seconds`` of reference, taken as the
adaptation benchmark takes it; then, on up to ``--query`` *other* transcribed clips of the same
voice, the teacher-forced normalized mel L1 on their speech frames without and with the offset,
and the correlation of the offset with the mean residual those clips would need.

    python -m training.benchmarks.mel_offset_check --corpus data/lvo --out docs/mel_offset_check
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from training.benchmarks.adaptation import split_speaker, take_seconds
from training.corpus.manifest import read_corpus
from voiceadapt.adapt.fit import prepare_clips
from voiceadapt.adapt.mel_offset import measure_mel_offset, speech_residual
from voiceadapt.adapt.sea_enc import embedding_from_clips
from voiceadapt.files import atomic_write_text
from voiceadapt.inference.synthesize import load

#: the adaptation benchmark's held-out test sentences on data/lvo (``--sentences 12``): the
#: reference pool is what they leave
SENTENCES = 12


def check_speaker(model, corpus, speaker: str, seconds: float, query: int,
                  train_texts: set[str], sentences: int = SENTENCES) -> dict:
    pool, _, _ = split_speaker(corpus, speaker, train_texts, sentences)
    refs = take_seconds(pool, seconds)
    others = [u for u in pool if u not in refs][:query]
    if not others:
        raise ValueError(f"{speaker} has no transcribed clip beyond its reference")
    language = refs[0].language

    def clips(utts):
        return prepare_clips(model, [corpus.audio_path(u) for u in utts], [u.text for u in utts],
                             "mel offset", language=language)

    ref_clips = clips(refs)
    g = embedding_from_clips(model, [c.audio for c in ref_clips])  # SEA-ENC, on the clips loaded
    offset = measure_mel_offset(model, ref_clips, g)
    residual = torch.cat([speech_residual(model, c, g) for c in clips(others)], dim=1)
    needed = residual.mean(1)
    return {"speaker": speaker, "reference_s": round(sum(u.duration for u in refs), 2),
            "query_clips": len(others),
            "offset_mean_abs": float(offset.abs().mean()),
            "l1_without": float(residual.abs().mean()),
            "l1_with": float((residual - offset[:, None]).abs().mean()),
            "correlation": float(np.corrcoef(offset.numpy(), needed.numpy())[0, 1])}


def markdown(rows: list[dict], settings: dict) -> str:
    lines = ["# The mel offset on clips it was not measured on (no judge)", "",
             f"`python -m training.benchmarks.mel_offset_check {settings['argv']}`; SEA-ENC's "
             "embedding, the bundled model unless `--model`.", "",
             "| speaker | reference (s) | other clips | mean abs offset | mel L1 without | with | "
             "correlation with what they need |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['speaker']} | {r['reference_s']:.1f} | {r['query_clips']} | "
              f"{r['offset_mean_abs']:.3f} | {r['l1_without']:.3f} | {r['l1_with']:.3f} | "
              f"{r['correlation']:.2f} |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--model", help="checkpoint (default: the bundled model)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--query", type=int, default=8, help="other clips per speaker")
    parser.add_argument("--out", required=True, help="path prefix for .json and .md")
    args = parser.parse_args(argv)
    model = load(args.model).eval()
    corpus = read_corpus(args.corpus)
    train_texts = {u.normalized for u in corpus.split("train")}  # as the benchmark splits
    rows = []
    for speaker in corpus.speakers:
        rows.append(check_speaker(model, corpus, speaker, args.seconds, args.query, train_texts))
        r = rows[-1]
        print(f"{speaker}: L1 {r['l1_without']:.3f} -> {r['l1_with']:.3f}, "
              f"correlation {r['correlation']:.2f}")
    settings = {"argv": " ".join(argv), "seconds": args.seconds, "query": args.query}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out.with_suffix(".json"), json.dumps({"settings": settings, "rows": rows},
                                                           indent=1))
    atomic_write_text(out.with_suffix(".md"), markdown(rows, settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
