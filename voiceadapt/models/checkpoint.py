"""Self-describing backbone checkpoints: safetensors weights + JSON metadata in the header.

``load(path)`` rebuilds the whole backbone from the file alone, and refuses a file
whose format, config, symbol table or weights do not fit this code, with a message
that says which.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from voiceadapt.audio import FeatureParams
from voiceadapt.files import atomic_path, sha256_file
from voiceadapt.models.backbone import Backbone, BackboneConfig, NormStats
from voiceadapt.text import SymbolTable
from voiceadapt.text.symbols import registered_table

FORMAT = "voiceadapt-backbone"
FORMAT_VERSION = "1"


class CheckpointError(ValueError):
    """The file is not a usable backbone checkpoint for this code."""


def save(model: Backbone, path: str | os.PathLike[str], extra: dict[str, object] | None = None,
         state: dict[str, torch.Tensor] | None = None) -> Path:
    """Write atomically. ``state`` overrides the weights (e.g. EMA weights of the same model)."""
    path = Path(path)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in (state or model.state_dict()).items()}
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION,
            **{k: json.dumps(v) for k, v in model.metadata().items()},
            "extra": json.dumps(extra or {})}
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata=meta)
    return path


def read_metadata(path: str | os.PathLike[str]) -> dict[str, object]:
    """A checkpoint's header (config, symbols, features, stats, speakers, extra), no weights."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable safetensors checkpoint: {exc}") from exc
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a voiceadapt backbone checkpoint")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format {meta.get('format_version')}; "
                              f"this code reads format {FORMAT_VERSION}")
    return {k: json.loads(v) for k, v in meta.items() if k not in ("format", "format_version")}


def load(path: str | os.PathLike[str], expected_sha256: str | None = None,
         device: str | torch.device = "cpu") -> Backbone:
    """Rebuild a :class:`Backbone` from a checkpoint file alone."""
    if expected_sha256 is not None:
        actual = sha256_file(path)
        if actual != expected_sha256:
            raise CheckpointError(f"{path} is damaged or not the expected model: sha256 {actual} "
                                  f"!= {expected_sha256}")
    meta = read_metadata(path)
    cfg = BackboneConfig.from_dict(meta["config"])
    stored_symbols = SymbolTable.from_dict(meta["symbols"])
    registered_table(stored_symbols.version).check_compatible(stored_symbols)
    features = FeatureParams.from_dict(meta["features"])
    stats = NormStats.from_dict(meta["stats"])
    model = Backbone(cfg, list(meta["speakers"]), stored_symbols, features, stats,
                     list(meta.get("languages", [])))  # older checkpoints name none
    with safe_open(str(path), framework="pt", device=str(device)) as f:
        state = {k: f.get_tensor(k) for k in f.keys()}
    missing, unexpected = set(model.state_dict()) - set(state), set(state) - set(model.state_dict())
    if missing or unexpected:
        raise CheckpointError(f"{path} does not fit its own config: missing {sorted(missing)[:5]}, "
                              f"unexpected {sorted(unexpected)[:5]}")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"{path} has weights of the wrong shape: {exc}") from exc
    model.extra = dict(meta.get("extra") or {})
    return model.to(device).eval()
