"""Benchmark input and output: NAME=VALUE options read into a dict; the result as JSON and its
table as markdown beside it, then printed."""

from __future__ import annotations

import argparse
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


def named_values(parser: argparse.ArgumentParser, specs: list[str], flag: str, metavar: str,
                 empty_value: bool = False) -> dict[str, str]:
    """``--flag NAME=VALUE`` options, in the order given, as {NAME: VALUE}; a spec without "=",
    an empty name, a repeated name or (unless ``empty_value``) an empty value is a usage
    error that names ``metavar``."""
    out: dict[str, str] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep or not name or not (value or empty_value):
            parser.error(f"--{flag} takes {metavar}, got {spec!r}")
        if name in out:
            parser.error(f"--{flag}: {name!r} is given twice")
        out[name] = value
    return out
