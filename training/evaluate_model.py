"""Measure a backbone on this machine's CPUs with the evaluation judges (the ``eval`` extra).

For one training speaker of each base voice in the corpus:

- ``ground_truth``: the speaker's own recordings (training sentences);
- ``copy_synthesis``: those recordings' log-mels through the vocoder (the vocoder's ceiling);
- ``tts``: sentences no training speaker ever said (the corpus's dev-only sentences),
  from text, with the speaker's table embedding.

Each gets pocketsphinx WER and DNSMOS OVRL; TTS also gets the resemblyzer cosine between
its d-vectors and the speaker's real recordings (``similarity``), next to the cosine to the
other speakers' recordings (``similarity_other``). The WaveNet is far too slow for this on
CPUs (see issue 6); pass ``--vocoder wavenet --per-voice 1`` for a small sample.

    python -m training.evaluate_model --model voiceadapt/assets/default.safetensors \\
        --corpus data/corpus --vocoder griffin-lim --out docs/default_model_eval.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from training.corpus.manifest import read_corpus
from training.judges import Judges, score, speaker_embedding
from voiceadapt.audio import load_audio, log_mel
from voiceadapt.inference.synthesize import load, synthesize
from voiceadapt.models.backbone import Backbone
from voiceadapt.models.vocoders import vocode
from voiceadapt.names import VOCODERS


def base_voice(speaker: str) -> str:
    """``flite-awb-s3`` -> ``flite-awb``: the corpus names derived speakers ``<base>-s<k>``."""
    return speaker.rsplit("-s", 1)[0]


def pick_speakers(model: Backbone, corpus_speakers: set[str]) -> list[str]:
    """The first training speaker of each base voice that both the model and corpus know."""
    chosen: dict[str, str] = {}
    for name in model.speakers:
        if name in corpus_speakers:
            chosen.setdefault(base_voice(name), name)
    return [chosen[k] for k in sorted(chosen)]


@torch.no_grad()
def copy_synthesis(model: Backbone, wav: np.ndarray, g: torch.Tensor, vocoder: str,
                   temperature: float = 1.0) -> np.ndarray:
    """A recording's own log-mels through the vocoder (its ceiling); ``g`` (S,) for a WaveNet
    that hears the speaker; ``temperature``: the WaveNet's sampling temperature."""
    mel = model.stats.normalize_mel(log_mel(torch.as_tensor(wav), model.features))[None]
    return vocode(model, mel, g[None], vocoder, generator=torch.Generator().manual_seed(0),
                  temperature=temperature)[0].numpy()


def evaluate(model: Backbone, corpus_root: str, vocoder: str, per_voice: int,
             judges: Judges) -> dict[str, object]:
    corpus = read_corpus(corpus_root)
    train_texts = {u.normalized for u in corpus.split("train")}
    unseen = sorted({u.normalized for u in corpus.split("dev")} - train_texts)[:per_voice]
    speakers = pick_speakers(model, {u.speaker for u in corpus.split("train")})
    rows, gt_vectors = [], {}
    synth_seconds = audio_seconds = 0.0
    for spk in speakers:
        own = [u for u in corpus.split("train") if u.speaker == spk][:per_voice]
        real = [load_audio(corpus.audio_path(u)).samples for u in own]
        copies = [copy_synthesis(model, w, model.speaker_embedding(spk), vocoder) for w in real]
        start = time.perf_counter()
        tts = [synthesize(t, spk, model=model, vocoder=vocoder)[0] for t in unseen]
        synth_seconds += time.perf_counter() - start
        audio_seconds += sum(len(w) for w in tts) / model.features.sample_rate
        gt_vectors[spk] = speaker_embedding(judges, real)
        rows.append({
            "speaker": spk,
            "ground_truth": score(judges, [u.normalized for u in own], real),
            "copy_synthesis": score(judges, [u.normalized for u in own], copies),
            "tts": score(judges, unseen, tts),
            "_tts_vectors": [judges.dvector(w) for w in tts],
        })
    for row in rows:
        vectors = row.pop("_tts_vectors")
        own_cos = [float(v @ gt_vectors[row["speaker"]]) for v in vectors]
        other = [float(v @ e) for v in vectors for s, e in gt_vectors.items() if s != row["speaker"]]
        row["tts"]["similarity"] = float(np.mean(own_cos))
        row["tts"]["similarity_other"] = float(np.mean(other)) if other else None

    def mean(kind: str, key: str) -> float:
        return float(np.mean([r[kind][key] for r in rows]))

    summary = {kind: {"wer": mean(kind, "wer"), "dnsmos_ovrl": mean(kind, "dnsmos_ovrl")}
               for kind in ("ground_truth", "copy_synthesis", "tts")}
    summary["tts"]["similarity"] = mean("tts", "similarity")
    summary["tts"]["similarity_other"] = mean("tts", "similarity_other") if len(rows) > 1 else None
    return {"vocoder": vocoder, "sentences_per_speaker": per_voice,
            "tts_real_time_factor": synth_seconds / max(audio_seconds, 1e-9),
            "summary": summary, "speakers": rows}


def markdown(result: dict[str, object]) -> str:
    lines = ["| speaker | WER real | WER copy-synth | WER TTS | DNSMOS real | DNSMOS copy | "
             "DNSMOS TTS | similarity TTS (other speakers) |", "|---" * 8 + "|"]
    for r in [*result["speakers"], {"speaker": "**mean**", **result["summary"]}]:
        t = r["tts"]
        other = "" if t.get("similarity_other") is None else f" ({t['similarity_other']:.2f})"
        lines.append(f"| {r['speaker']} | {r['ground_truth']['wer']:.2f} | "
                     f"{r['copy_synthesis']['wer']:.2f} | {t['wer']:.2f} | "
                     f"{r['ground_truth']['dnsmos_ovrl']:.2f} | {r['copy_synthesis']['dnsmos_ovrl']:.2f} | "
                     f"{t['dnsmos_ovrl']:.2f} | {t['similarity']:.2f}{other} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="checkpoint (default: the bundled model)")
    parser.add_argument("--corpus", default="data/corpus")
    parser.add_argument("--vocoder", default="griffin-lim", choices=VOCODERS)
    parser.add_argument("--per-voice", type=int, default=5, help="sentences per speaker")
    parser.add_argument("--out", required=True, help="JSON; a markdown table goes beside it")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    result = evaluate(load(args.model), args.corpus, args.vocoder, args.per_voice, Judges())
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    table = markdown(result)
    out.with_suffix(".md").write_text(table + "\n")
    print(table)
    print(f"TTS real-time factor ({args.vocoder}, this machine): {result['tts_real_time_factor']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
