"""The WaveNet's sampling temperature, chosen without the judges (issue 14).

Copy synthesis of held-out utterances of *training* speakers (``data/relay_heldout.npz``,
which relay packs leave out since relay 5; before, only 24 of them were, so earlier relays'
vocoder may have heard some; clean recordings only): each recording's
log-mel through the relayed WaveNet at each temperature of a grid fixed in advance, and the
log-mel of what comes out compared with the recording's, frame by frame (L1 in the model's
normalized units, the acoustic model's own loss). Sampling noise (the hiss) raises the quiet
bins and the high band; a temperature too low flattens the fine structure. Griffin-Lim's
figure is printed beside as a reference point. No dev voice, leave-voice-out voice or judge
takes part: the judges give the vocoder one go/no-go afterwards, at the chosen temperature.

    python -m training.benchmarks.vocoder_temperature --out docs/vocoder_temperature
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from voiceadapt.audio import log_mel, pcm16_to_float
from voiceadapt.files import atomic_write_text

GRID = (1.0, 0.9, 0.8, 0.7)  # fixed before the first run
HIGH_BAND_MELS = 20  # the top 20 of 80 mel bands: about 4-8 kHz at 16 kHz


def mel_distance(model, wav: np.ndarray, reference: torch.Tensor) -> tuple[float, float]:
    """(mean L1, mean L1 of the high band) between ``wav``'s normalized log-mel and
    ``reference`` (M, T), over the frames both have."""
    mel = model.stats.normalize_mel(log_mel(torch.as_tensor(wav, dtype=torch.float32),
                                            model.features))
    t = min(mel.shape[-1], reference.shape[-1])
    diff = (mel[:, :t] - reference[:, :t]).abs()
    return float(diff.mean()), float(diff[-HIGH_BAND_MELS:].mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocoder-file", default="training/relay_weights/vocoder.safetensors")
    parser.add_argument("--heldout", default="data/relay_heldout.npz")
    parser.add_argument("--utterances", type=int, default=24, help="clean held-out utterances")
    parser.add_argument("--temperatures", type=float, nargs="+", default=list(GRID))
    parser.add_argument("--out", required=True, help="path prefix for .json and .md")
    args = parser.parse_args(argv)

    from training.pack import read_pack
    from training.vocoder import install, load_vocoder
    from voiceadapt.inference.synthesize import load
    from voiceadapt.models.vocoders import vocode

    vocoder = load_vocoder(args.vocoder_file)
    model = install(load(), vocoder)
    items, speakers = read_pack(args.heldout, model.features)
    clean = [it for it in items if it.clean][: args.utterances]
    if not clean:
        raise SystemExit(f"{args.heldout} holds no clean utterance")
    g = torch.zeros(1, model.cfg.speaker_channels)  # the universal WaveNet hears mels alone
    # the recordings' own log-mels: each system's input and the reference it is scored against
    mels = [model.stats.normalize_mel(log_mel(torch.as_tensor(pcm16_to_float(it.audio)),
                                              model.features)) for it in clean]
    rows: list[dict[str, object]] = []
    systems: list[tuple[str, str, float]] = [("griffin-lim", "griffin-lim", 1.0)]
    systems += [(f"wavenet T={t:g}", "wavenet", t) for t in args.temperatures]
    for name, kind, temperature in systems:
        l1, high, seconds, audio_s = [], [], 0.0, 0.0
        for i, mel in enumerate(mels):
            start = time.perf_counter()
            out = vocode(model, mel[None], g, kind, generator=torch.Generator().manual_seed(i),
                         temperature=temperature)[0].numpy()
            seconds += time.perf_counter() - start
            audio_s += len(out) / model.features.sample_rate
            a, b = mel_distance(model, out, mel)
            l1.append(a)
            high.append(b)
        row = {"system": name, "temperature": temperature if kind == "wavenet" else None,
               "mel_l1": float(np.mean(l1)), "mel_l1_high": float(np.mean(high)),
               "utterances": len(clean), "audio_s": round(audio_s, 1),
               "compute_s": round(seconds, 1)}
        rows.append(row)
        print(f"{name:16s} mel L1 {row['mel_l1']:.4f}  4-8 kHz {row['mel_l1_high']:.4f}  "
              f"({seconds:.0f} s for {audio_s:.0f} s of audio)", flush=True)
    wavenet = [r for r in rows if r["temperature"] is not None]
    best = min(wavenet, key=lambda r: float(r["mel_l1"]))
    result = {"vocoder_file": args.vocoder_file, "vocoder_updates": vocoder.extra.get("updates"),
              "heldout": args.heldout, "speakers": len({speakers[it.speaker] for it in clean}),
              "utterances": [it.utt_id for it in clean],
              "rows": rows, "chosen_temperature": best["temperature"]}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out.with_suffix(".json"), json.dumps(result, indent=2) + "\n")
    lines = ["| system | mel L1 | mel L1, 4-8 kHz | compute s / audio s |", "|---|---|---|---|"]
    lines += [f"| {r['system']} | {r['mel_l1']:.4f} | {r['mel_l1_high']:.4f} | "
              f"{r['compute_s']} / {r['audio_s']} |" for r in rows]
    atomic_write_text(out.with_suffix(".md"), "\n".join(lines) + "\n")
    print(f"lowest mel L1 at T={best['temperature']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
