"""Turn a training checkpoint into a shippable model: recommended vocoder, provenance, sha256.

    python -m training.export_model --checkpoint runs/acoustic/step_0003500.safetensors \\
        --vocoder griffin-lim --note "acoustic model sharpened on CPU" \\
        --out voiceadapt/assets/default.safetensors

Writes the model and ``<name>.sha256`` beside it (the checksum ``voiceadapt.load`` checks
the bundled model against), both atomically.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from voiceadapt.files import atomic_write_text, sha256_file
from voiceadapt.models.checkpoint import load, save
from voiceadapt.names import VOCODERS

MAX_BYTES = 30 * 1024 * 1024  # the repository's budget for the bundled model


def export(checkpoint: str | Path, out: str | Path, vocoder: str, note: str = "") -> str:
    """Write ``out`` and ``out.sha256``; returns the sha256."""
    if vocoder not in VOCODERS:
        raise ValueError(f"vocoder must be one of {', '.join(VOCODERS)}")
    model = load(checkpoint)
    extra = dict(model.extra)
    extra.update({"vocoder": vocoder, "source": Path(checkpoint).name})
    if note:
        extra["note"] = note
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save(model, out, extra=extra)
    size = out.stat().st_size
    if size > MAX_BYTES:
        out.unlink()
        raise ValueError(f"the model is {size / 1e6:.1f} MB; the budget is {MAX_BYTES / 1e6:.0f} MB")
    digest = sha256_file(out)
    atomic_write_text(out.with_suffix(".sha256"), f"{digest}  {out.name}\n")
    return digest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--vocoder", required=True, choices=list(VOCODERS))
    parser.add_argument("--note", default="")
    args = parser.parse_args(argv)
    digest = export(args.checkpoint, args.out, args.vocoder, args.note)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1e6:.1f} MB), sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
