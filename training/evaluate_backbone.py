"""Score held-out audio with the evaluation judges (the ``eval`` extra; never the product).

For each held-out utterance of a training speaker: pocketsphinx word error rate and
DNSMOS of the ground-truth recording, of copy-synthesis (WaveNet on the true
log-mel) and of full text-to-speech, from ``training/generate_eval.py``'s output.

    python -m training.evaluate_backbone --audio eval_audio.npz --items gpu/heldout.npz \\
        --corpus data/corpus --out docs/backbone_eval.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from training.corpus.manifest import read_corpus
from training.judges import Judges, score
from training.pack import read_pack
from voiceadapt.audio import FeatureParams, pcm16_to_float


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", required=True)
    parser.add_argument("--items", required=True)
    parser.add_argument("--corpus", default="data/corpus")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    data = np.load(args.audio)
    utt_ids = [str(u) for u in data["utt_ids"]]
    items = {it.utt_id: it for it in read_pack(args.items, FeatureParams())[0]}
    texts = {u.id: u.normalized for u in read_corpus(args.corpus).utterances}

    def ragged(name: str) -> list[np.ndarray]:
        off = data[f"{name}_offsets"]
        return [data[name][off[i] : off[i + 1]] for i in range(len(off) - 1)]

    refs = [texts[u] for u in utt_ids]
    judges = Judges()
    result = {
        "utterances": len(utt_ids),
        "ground_truth": score(judges, refs, [pcm16_to_float(items[u].audio) for u in utt_ids]),
        "copy_synthesis": score(judges, refs, ragged("copy")),
        "tts": score(judges, refs, ragged("tts")),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    for name in ("ground_truth", "copy_synthesis", "tts"):
        print(f"{name:15s} WER {result[name]['wer']:.3f}  DNSMOS OVRL {result[name]['dnsmos_ovrl']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
