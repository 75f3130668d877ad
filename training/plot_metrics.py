"""Plot a run's loss curves from metrics.jsonl files into a PNG (for the model card).

    python -m training.plot_metrics runs/default/metrics.jsonl --out docs/backbone_loss.png

Several training stages (a run, then a run started from its weights): one argument per
stage, a stage's files joined by commas; each stage's steps continue the previous one's.

    python -m training.plot_metrics gpu/part1.jsonl,gpu/part2.jsonl runs/acoustic/metrics.jsonl \
        --out docs/default_model_loss.png
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stages", nargs="+",
                        help="metrics.jsonl files: one argument per stage, files joined by commas")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    rows: dict[int, dict[str, float]] = {}
    boundaries, offset = [], 0
    for stage in args.stages:
        stage_rows: dict[int, dict[str, float]] = {}
        for path in stage.split(","):
            with open(path) as f:
                for line in f:
                    row = json.loads(line)
                    stage_rows[int(row["step"])] = row  # a resumed run's rows replace older ones
        rows.update({offset + s: r for s, r in stage_rows.items()})
        offset += max(stage_rows)
        boundaries.append(offset)
    steps = sorted(rows)
    wavenet_steps = [s for s in steps if rows[s].get("wavenet", 0.0) > 0]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for key in ("mel", "duration", "pitch", "align", "enc_mse"):
        axes[0].plot(steps, [rows[s][key] for s in steps], label=key)
    axes[0].set_yscale("log")
    axes[0].set_title("acoustic model and encoder")
    axes[1].plot(wavenet_steps, [rows[s]["wavenet"] for s in wavenet_steps], color="black")
    axes[1].set_xlim(0, steps[-1])
    axes[1].set_title("WaveNet cross-entropy (nats per sample)")
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        for b in boundaries[:-1]:
            ax.axvline(b, color="gray", linestyle="--", linewidth=1)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out} ({len(steps)} points, steps {steps[0]}-{steps[-1]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
