"""Plot a run's loss curves from metrics.jsonl files into a PNG (for the model card).

    python -m training.plot_metrics runs/default/metrics.jsonl --out docs/backbone_loss.png
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
    parser.add_argument("metrics", nargs="+", help="metrics.jsonl files, in training order")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    rows: dict[int, dict[str, float]] = {}
    for path in args.metrics:
        with open(path) as f:
            for line in f:
                row = json.loads(line)
                rows[int(row["step"])] = row  # a resumed run's rows replace the older ones
    steps = sorted(rows)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for key in ("mel", "duration", "pitch", "align", "enc_mse"):
        axes[0].plot(steps, [rows[s][key] for s in steps], label=key)
    axes[0].set_yscale("log")
    axes[0].set_title("acoustic model and encoder")
    axes[1].plot(steps, [rows[s]["wavenet"] for s in steps], color="black")
    axes[1].set_title("WaveNet cross-entropy (nats per sample)")
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out} ({len(steps)} points, steps {steps[0]}-{steps[-1]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
