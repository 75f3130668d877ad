"""Benchmark output: the result as JSON and its table as markdown beside it, then printed."""

from __future__ import annotations

import json
from pathlib import Path

from voiceadapt.files import atomic_write_text


def write_report(out: str | Path | None, result: dict, text: str) -> None:
    """``out``: a path prefix for OUT.json and OUT.md (None: print only)."""
    if out:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out.with_suffix(".json"), json.dumps(result, indent=1, default=float))
        atomic_write_text(out.with_suffix(".md"), text)
    print(text)
