"""Start a model on a new corpus from an older backbone and a separately trained encoder.

A new corpus brings new speakers (a new table) and possibly a larger symbol table, so
``model.init`` (same speakers, same table) does not apply. :func:`warm_start` copies every
tensor whose shape still fits, the old symbol rows into the larger embedding, loads the
speaker encoder trained on episodes (``training/train_encoder.py``), and places each new
speaker's table row where that encoder puts the speaker: the mean encoder embedding of a few
of its utterances, with the speaker's measured pitch in the last two channels when the model
carries pitch in the embedding. The table and the encoder so start in one space, which is
what SEA-ENC needs.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from training.data import Item
from voiceadapt.adapt.sea_enc import encode_mels
from voiceadapt.audio import log_mel, pcm16_to_float
from voiceadapt.models.backbone import Backbone


def copy_fitting_weights(model: Backbone, source: Backbone) -> tuple[list[str], list[str]]:
    """Copy ``source``'s tensors into ``model`` where names and shapes fit; the symbol
    embedding's old rows go into the larger table. Returns (copied, skipped) names."""
    own = model.state_dict()
    copied, skipped = [], []
    with torch.no_grad():
        for name, tensor in source.state_dict().items():
            if name.startswith("speaker_table") or name not in own:
                skipped.append(name)
                continue
            target = own[name]
            if target.shape == tensor.shape:
                target.copy_(tensor)
                copied.append(name)
            elif (name == "acoustic.embed.weight" and target.shape[1:] == tensor.shape[1:]
                  and target.shape[0] >= tensor.shape[0]):
                if model.symbols.to_dict()["symbols"][: len(source.symbols)] != \
                        source.symbols.to_dict()["symbols"]:
                    raise ValueError("the new symbol table does not extend the old one")
                target[: tensor.shape[0]] = tensor
                copied.append(name)
            else:
                skipped.append(name)
    return copied, skipped


@torch.no_grad()
def speaker_means(model: Backbone, items: list[Item], n_speakers: int, per_speaker: int = 6,
                  seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(encoder mean (N, S), measured pitch (N, 2)) per speaker from up to ``per_speaker``
    of its utterances (pitch from all of them)."""
    rng = np.random.default_rng(seed)
    by_speaker: dict[int, list[Item]] = defaultdict(list)
    for item in items:
        by_speaker[item.speaker].append(item)
    means = torch.zeros(n_speakers, model.cfg.speaker_channels)
    pitch = torch.tensor([[0.0, 1.0]]).repeat(n_speakers, 1)
    model.encoder.eval()
    for spk, own in by_speaker.items():
        chosen = [own[i] for i in rng.permutation(len(own))[:per_speaker]]
        means[spk] = encode_mels(model, [model.stats.normalize_mel(log_mel(
            torch.from_numpy(pcm16_to_float(it.audio)), model.features)) for it in chosen])
        f0 = torch.from_numpy(np.concatenate([it.f0 for it in own]))
        pitch[spk] = model.stats.voice_pitch(f0[None])[0]
    return means, pitch


def warm_start(model: Backbone, source_path: str, encoder_path: str, items: list[Item],
               log=print) -> None:
    """Fill a freshly built ``model`` from the backbone at ``source_path`` and the encoder at
    ``encoder_path`` (either may be empty), then place the speaker table (see module doc)."""
    from voiceadapt.models.checkpoint import load

    reference_norm = 2.4  # a row of N(0, 0.3^2) in 64 channels: what a fresh table holds
    if source_path:
        source = load(source_path)
        copied, skipped = copy_fitting_weights(model, source)
        log(f"warm start from {source_path}: {len(copied)} tensors copied, "
            f"{len(skipped)} left as initialized ({', '.join(s for s in skipped[:6])}...)")
        reference_norm = float(source.speaker_table.weight.detach().norm(dim=-1).mean())
    if encoder_path:
        state = load_file(str(Path(encoder_path)))
        model.encoder.load_state_dict(state)
        log(f"speaker encoder from {encoder_path}")
    means, pitch = speaker_means(model, items, len(model.speakers))
    learned = slice(0, -2) if model.cfg.acoustic.pitch_in_speaker else slice(None)
    scale = reference_norm / float(means[:, learned].norm(dim=-1).mean().clamp(min=1e-6))
    last = model.encoder.proj[-1]
    with torch.no_grad():
        last.weight.mul_(scale)  # the encoder now lands on the table's scale
        last.bias.mul_(scale)
        rows = means * scale
        if model.cfg.acoustic.pitch_in_speaker:
            rows[:, -2:] = pitch
        model.speaker_table.weight.copy_(rows)
    log(f"speaker table placed at the encoder's means (x{scale:.3f}) for {len(model.speakers)} speakers")
