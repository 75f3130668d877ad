"""Voice profiles: what adaptation produced, tied to the backbone it was made for.

A profile folder holds ``voice.safetensors`` (the embedding, plus any patch or weight
delta; JSON metadata in its header) and ``profile.json`` (the same metadata, for
people). Both are written atomically; a profile is refused by any other backbone.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from voiceadapt.files import atomic_path, atomic_write_text
from voiceadapt.models.backbone import Backbone
from voiceadapt.names import MODE_NAMES

WEIGHTS, METADATA = "voice.safetensors", "profile.json"


class ProfileMismatch(ValueError):
    """The profile is damaged, or was made for another backbone."""


@dataclass
class VoiceProfile:
    """A fitted voice: its embedding, any patch or weight delta, and the fingerprint of the
    backbone it was fitted to (any other backbone refuses it)."""

    mode: str
    embedding: torch.Tensor  # (S,)
    backbone: str  # backbone_fingerprint() of the model it was fitted to
    seconds: float  # reference audio used
    steps: int = 0
    heldout_loss: float | None = None
    name: str = ""
    created: float = field(default_factory=time.time)
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)  # patch or weight delta

    def __post_init__(self) -> None:
        if self.mode not in MODE_NAMES:
            raise ValueError(f"unknown adaptation mode {self.mode!r}; one of "
                             f"{', '.join(MODE_NAMES)}")

    def metadata(self) -> dict[str, object]:
        meta = asdict(self)
        del meta["embedding"], meta["tensors"]
        return meta


def backbone_fingerprint(model: Backbone) -> str:
    """sha256 over the backbone's metadata and weights, whatever file it came from."""
    h = hashlib.sha256(json.dumps(model.metadata(), sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def save_profile(profile: VoiceProfile, folder: str | os.PathLike[str]) -> Path:
    """Write the profile folder (weights and metadata, each atomically); returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta = profile.metadata()
    tensors = {"embedding": profile.embedding.detach().cpu().contiguous(),
               **{f"t.{k}": v.detach().cpu().contiguous() for k, v in profile.tensors.items()}}
    with atomic_path(folder / WEIGHTS) as tmp:
        save_file(tensors, tmp, metadata={"profile": json.dumps(meta)})
    atomic_write_text(folder / METADATA, json.dumps(meta, indent=1))
    return folder


def load_profile(folder: str | os.PathLike[str], model: Backbone | None = None) -> VoiceProfile:
    """Read a profile; with ``model``, refuse it unless it was made for that backbone."""
    path = Path(folder) / WEIGHTS
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {})["profile"])
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (OSError, SafetensorError, KeyError, ValueError) as exc:
        raise ProfileMismatch(f"{folder} is not a readable voice profile: {exc}") from exc
    profile = VoiceProfile(embedding=tensors.pop("embedding"),
                           tensors={k[2:]: v for k, v in tensors.items()}, **meta)
    if model is not None:
        if profile.backbone != backbone_fingerprint(model):
            raise ProfileMismatch(f"the voice in {folder} was made for another backbone; "
                                  "adapt it again to this model")
        if profile.embedding.shape != (model.cfg.speaker_channels,):
            raise ProfileMismatch(f"the voice in {folder} has an embedding of the wrong size")
    return profile
