"""Forgetting on a stream of speakers: a table (and a plot) from continual runs' results.

Each run folder is one method on the same stream (``python -m training continual``); this
reads their ``results.json`` and puts them side by side: the test loss of every stream
speaker at the start and at the end, what the earlier turns did for a speaker before its own
(forward transfer), what its own turn gained, how much the later speakers took away
(forgetting, on all earlier speakers and on the first half), the components MOLe kept, and
the wall minutes of learning. No judge: this is the generator loss on clips no
method trained on.

    python -m training.benchmarks.continual_speakers --run sgd=runs/continual_sgd_all \\
        --run er=runs/continual_er_all --run mer=runs/continual_mer_all \\
        --run mole=runs/continual_mole_all --out docs/continual_speakers
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from training.benchmarks.report import named_values, write_report


def read_runs(runs: list[tuple[str, Path]]) -> dict[str, dict]:
    out = {}
    for name, folder in runs:
        path = folder / "results.json"
        if not path.exists():
            raise SystemExit(f"{folder} has no results.json: finish the run first "
                             f"(python -m training continual --run-dir {folder})")
        out[name] = json.loads(path.read_text())
    streams = {json.dumps([r["stream"], r["speakers"]], sort_keys=True) for r in out.values()}
    if len(streams) != 1:
        raise SystemExit("the runs did not hear the same stream (speakers, clips, repeats, seed, "
                         "start, parameters); compare like with like")
    return out


def first_speaker_curves(results: dict[str, dict]) -> dict[str, list[float]]:
    """Mean test loss of the first half of the stream, after each speaker's turn from the
    last of them on (how they fare while the later speakers arrive)."""
    out = {}
    for name, r in results.items():
        R = np.asarray(r["loss_matrix"])
        first = int(r["first_speakers"])
        out[name] = [float(R[i, :first].mean()) for i in range(first, len(R))]
    return out


def table(results: dict[str, dict]) -> str:
    any_r = next(iter(results.values()))
    n, first = len(any_r["speakers"]), any_r["first_speakers"]
    lines = [f"Stream: {n} speakers, in order: {', '.join(any_r['speakers'])}. Test loss = the "
             "generator loss of each speaker's test clips under its own g (lower is better); "
             f"forgetting = a speaker's test loss at the end minus right after its turn, over "
             f"the first {n - 1} and over the first {first}.",
             "",
             "| method | shared parameters | arrivals | start: mean test loss | end: mean test loss "
             "| forward transfer | own turn's gain | forgetting (all) | forgetting (first "
             f"{first}) | components | wall min |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        start = float(np.mean(r["loss_matrix"][0]))
        lines.append(f"| {name} | {r['shared_parameters']:,} | {r['arrivals']} | {start:.3f} | "
                     f"{r['mean_test_loss']:.3f} | {r['forward_transfer']:.3f} | "
                     f"{r['own_turn_gain']:.3f} | {r['forgetting']:+.3f} | "
                     f"{r['forgetting_first']:+.3f} | {r.get('components', '-')} | "
                     f"{r['wall_minutes']:.2f} |")
    lines += ["", "Per speaker, test loss right after its turn -> at the end:", "",
              "| speaker | " + " | ".join(results) + " |",
              "|---|" + "---|" * len(results)]
    for j, speaker in enumerate(any_r["speakers"]):
        cells = []
        for r in results.values():
            R = r["loss_matrix"]
            cells.append(f"{R[j + 1][j]:.2f} -> {R[-1][j]:.2f}")
        lines.append(f"| {speaker} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(results: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = first_speaker_curves(results)
    any_r = next(iter(results.values()))
    first = int(any_r["first_speakers"])
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, ys in curves.items():
        ax.plot(range(first, first + len(ys)), ys, marker="o", label=name)
    ax.set_xlabel("speakers learned")
    ax.set_ylabel(f"mean test loss of the first {first}")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", required=True, metavar="NAME=FOLDER",
                        help="a continual run folder under a name; give one per method")
    parser.add_argument("--out", help="path prefix for OUT.json, OUT.md and OUT.png")
    args = parser.parse_args(argv)
    runs = [(name, Path(folder)) for name, folder
            in named_values(parser, args.run, "run", "NAME=FOLDER").items()]
    results = read_runs(runs)
    text = table(results)
    write_report(args.out, {"runs": results, "first_speaker_curves": first_speaker_curves(results)},
                 text)
    if args.out:
        plot(results, Path(args.out).with_suffix(".png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
