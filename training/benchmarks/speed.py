"""WaveNet generation speed: the naive cached PyTorch step (the baseline), the compiled
kernel, and folded generation, for the default model and two other sizes, in one run.

    python -m training.benchmarks.speed --out docs/generation_speed

Prints and writes a table of samples/s and real-time factor (RTF: seconds of compute per
second of audio at 16 kHz; below 1 is faster than real time), each against the baseline
measured in the same run, plus the latency to the first 100 ms of audio. On a CUDA device
it also times the PyTorch step on the GPU at batch 1, 16, 64 and 256. With the eval
extra, ``--quality`` compares folded with unfolded output of the bundled model (speaker
similarity and WER, both against the unfolded audio's own judges' readings).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

from training.benchmarks.report import write_report
from voiceadapt.models import fastgen
from voiceadapt.models.wavenet import WaveNet, WaveNetConfig, generate

RATE = 16_000
SIZES = {
    "small (10 layers, 32 channels)": WaveNetConfig(layers=10, stacks=1, residual_channels=32,
                                                     gate_channels=64, skip_channels=32),
    "default (20 layers, 64 channels)": WaveNetConfig(),
    "large (30 layers, 96 channels)": WaveNetConfig(layers=30, stacks=3, residual_channels=96,
                                                     gate_channels=192, skip_channels=96),
}


def _inputs(cfg: WaveNetConfig, seconds: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    frames = torch.randn(1, cfg.cond_channels, int(seconds * RATE / cfg.hop_length), generator=gen)
    return frames, torch.randn(1, cfg.speaker_channels, generator=gen)


def naive_rate(net: WaveNet, samples: int) -> float:
    frames, g = _inputs(net.cfg, samples / RATE)
    start = time.perf_counter()
    generate(net, frames, g, generator=torch.Generator().manual_seed(0))
    return frames.shape[-1] * net.cfg.hop_length / (time.perf_counter() - start)


def kernel_rate(net: WaveNet, seconds: float, folds: int) -> tuple[float, float]:
    """(samples/s, seconds to the first 100 ms of audio) for one utterance."""
    frames, g = _inputs(net.cfg, seconds)
    start = time.perf_counter()
    got, first = 0, None
    for piece in fastgen.stream(net, frames, g, generator=torch.Generator().manual_seed(0),
                                folds=folds, chunk=400):
        got += len(piece)
        if first is None and got >= RATE // 10:
            first = time.perf_counter() - start
    return got / (time.perf_counter() - start), first


def gpu_rates(net: WaveNet, batches: tuple[int, ...] = (1, 16, 64, 256),
              steps: int = 400) -> list[dict]:
    """PyTorch cached step on the GPU, eager (no CUDA graph): samples/s per stream and in all."""
    from voiceadapt.models.wavenet import IncrementalState, step

    net = net.cuda()
    out = []
    for batch in batches:
        state = IncrementalState(net, batch, torch.device("cuda"), torch.float32)
        prev = torch.full((batch,), 128, device="cuda")
        c = torch.randn(batch, net.cfg.cond_channels, device="cuda")
        biases = net._speaker_biases(torch.randn(batch, net.cfg.speaker_channels, device="cuda"))
        for _ in range(20):
            step(net, state, prev, c, biases)
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            logits = step(net, state, prev, c, biases)
            prev = logits.argmax(-1)
        torch.cuda.synchronize()
        per_stream = steps / (time.perf_counter() - start)
        out.append({"batch": batch, "per_stream": per_stream, "aggregate": per_stream * batch})
    return out


def run(seconds: float, naive_samples: int, folds: tuple[int, ...]) -> dict:
    torch.manual_seed(0)
    rows = []
    for name, cfg in SIZES.items():
        net = WaveNet(cfg).eval()
        params = sum(p.numel() for p in net.parameters())
        kernel_rate(net, 0.1, 1)  # compile (numba caches to disk) and warm up
        base = naive_rate(net, naive_samples)
        row = {"model": name, "params": params, "naive": base, "kernel": {}, "first_100ms": {}}
        for f in folds:
            rate, first = kernel_rate(net, seconds, f)
            row["kernel"][f] = rate
            row["first_100ms"][f] = first
        if torch.cuda.is_available():
            row["gpu"] = gpu_rates(net)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return {"rows": rows, "seconds": seconds, "cpu_count": os.cpu_count(),
            "threads": torch.get_num_threads(), "numba_threads": fastgen.numba.get_num_threads(),
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None}


def markdown(r: dict) -> str:
    folds = list(r["rows"][0]["kernel"])
    head = ["model", "params", "naive PyTorch step"] + [
        f"kernel, {f} fold{'s' if int(f) > 1 else ''}" for f in folds] + ["first 100 ms"]
    lines = [f"Machine: {r['cpu_count']} CPU cores; {r['seconds']:.1f} s utterances at 16 kHz; "
             "random weights (speed does not depend on training). Each cell: samples/s, RTF, "
             "and speed-up over the naive step measured in the same run.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in r["rows"]:
        cells = [row["model"], f"{row['params'] / 1e6:.2f} M",
                 f"{row['naive']:,.0f}/s, RTF {RATE / row['naive']:.1f}"]
        for f in folds:
            rate = row["kernel"][f]
            cells.append(f"{rate:,.0f}/s, RTF {RATE / rate:.2f}, {rate / row['naive']:.0f}x")
        cells.append(", ".join(f"{int(1000 * row['first_100ms'][f])} ms ({f})" for f in folds))
        lines.append("| " + " | ".join(cells) + " |")
    if any("gpu" in row for row in r["rows"]):
        lines += ["", f"GPU ({r['cuda']}), eager PyTorch step:", "",
                  "| model | batch | samples/s per stream | aggregate | x real time (aggregate) |",
                  "|---|---|---|---|---|"]
        for row in r["rows"]:
            for g in row.get("gpu", []):
                lines.append(f"| {row['model']} | {g['batch']} | {g['per_stream']:,.0f} | "
                             f"{g['aggregate']:,.0f} | {g['aggregate'] / RATE:.1f} |")
    else:
        lines += ["", "No GPU in this run."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="audio per measured utterance")
    parser.add_argument("--naive-samples", type=int, default=3000)
    parser.add_argument("--folds", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--out", help="path prefix for .json and .md")
    args = parser.parse_args(argv)
    result = run(args.seconds, args.naive_samples, tuple(args.folds))
    write_report(args.out, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
