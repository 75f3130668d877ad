"""Two models' adaptation benchmark results side by side, per speaker and per group.

    python -m training.benchmarks.adaptation_compare \\
        --old docs/adaptation_benchmark_lvo_bundled.json --new docs/adaptation_benchmark_lvo_v2.json \\
        --names bundled v2 --out docs/adaptation_benchmark_lvo_compare

Each run must come from ``training.benchmarks.adaptation`` on the same corpus and settings.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from training.benchmarks.report import write_report

LVO = "held-out persons (leave-voice-out)"
REFERENCE_KEYS = ("ceiling", "copy GL", "copy WaveNet", "same-sex floor")


def _fmt(v: object) -> str:
    return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def compare(old: dict, new: dict, names: tuple[str, str]) -> str:
    a, b = names
    lines = []
    old_speakers = {r["speaker"]: r for r in old.get("per_speaker", [])}
    new_speakers = {r["speaker"]: r for r in new.get("per_speaker", [])}
    keys = [k for k in next(iter(new_speakers.values()), {})
            if k not in ("speaker", "language") + REFERENCE_KEYS]
    lines += ["### similarity per speaker", "",
              "Each cell: " + a + " / " + b + ". Own clips (ceiling), copy-synthesis through each "
              "vocoder and the same-sex floor are the speaker's, measured with each model's "
              "vocoders.", "",
              "| speaker | " + " | ".join(REFERENCE_KEYS) + " | " + " | ".join(keys) + " |",
              "|---" * (1 + len(REFERENCE_KEYS) + len(keys)) + "|"]
    for spk in sorted(set(old_speakers) | set(new_speakers)):
        o, n = old_speakers.get(spk, {}), new_speakers.get(spk, {})
        row = [f"{_fmt(o.get(k))} / {_fmt(n.get(k))}" for k in REFERENCE_KEYS + tuple(keys)]
        lines.append(f"| {spk} | " + " | ".join(row) + " |")
    both = sorted(set(old.get("groups", {}).get(LVO, {}).get("speakers", []))
                  & set(new.get("groups", {}).get(LVO, {}).get("speakers", [])))
    if both:  # the fair line: persons neither model heard
        cells = []
        for k in REFERENCE_KEYS + tuple(keys):
            pair = []
            for table in (old_speakers, new_speakers):
                values = [table[s_][k] for s_ in both if table.get(s_, {}).get(k) is not None]
                pair.append(sum(values) / len(values) if values else None)
            cells.append(f"{_fmt(pair[0])} / {_fmt(pair[1])}")
        lines.append(f"| **mean of {', '.join(both)}** (unheard by both) | " + " | ".join(cells) + " |")
    for group in new.get("groups", {}):
        og, ng = old.get("groups", {}).get(group), new["groups"][group]
        lines += ["", f"### {group}", "",
                  "| mode | reference (s) | similarity " + a + " | similarity " + b + " | EER " + a
                  + " | EER " + b + " | WER " + a + " | WER " + b + " |", "|---" * 8 + "|"]
        old_rows = {(e["mode"], e["seconds"]): e for e in (og or {}).get("table", [])}
        for e in ng["table"]:
            o = old_rows.get((e["mode"], e["seconds"]), {})
            lines.append(f"| {e['mode']} | {e['seconds']:g} | {_fmt(o.get('similarity'))} | "
                         f"{_fmt(e.get('similarity'))} | {_fmt(o.get('eer'))} | {_fmt(e.get('eer'))} | "
                         f"{_fmt(o.get('wer'))} | {_fmt(e.get('wer'))} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True)
    parser.add_argument("--new", required=True)
    parser.add_argument("--names", nargs=2, default=["old", "new"])
    parser.add_argument("--out", help="path prefix for .json and .md")
    args = parser.parse_args(argv)
    old, new = (json.loads(Path(p).read_text()) for p in (args.old, args.new))
    text = compare(old, new, tuple(args.names))
    write_report(args.out, {"old": args.old, "new": args.new, "names": args.names}, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
