"""The universal vocoder: a WaveNet conditioned on mel frames alone, kept in a file of its own
so that a new acoustic model or speaker table does not invalidate it (issue 14).

A vocoder file is safetensors with the WaveNet's weights and, in its header, the WaveNet
config, the feature parameters and the mel normalization the weights expect, plus an
``extra`` ledger (updates, samples, GPU minutes). The GPU relays continue from the newest
committed one (``training/relay_weights/vocoder.safetensors``).

    # a speaker-free WaveNet from a backbone (its speaker bias folded in at the table's mean)
    python -m training.vocoder extract --model ../shared/checkpoints/X.safetensors --out V
    # a backbone that speaks through it (the mel normalization is converted if it differs)
    python -m training.vocoder install --model voiceadapt/assets/default.safetensors \\
        --vocoder V --out M
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from voiceadapt.audio import FeatureParams
from voiceadapt.files import atomic_path
from voiceadapt.models.backbone import Backbone, BackboneConfig, NormStats
from voiceadapt.models.checkpoint import CheckpointError, load, save
from voiceadapt.models.wavenet import WaveNet, WaveNetConfig
from voiceadapt.names import VOCODERS

FORMAT = "voiceadapt-vocoder"
FORMAT_VERSION = "1"


@dataclass
class Vocoder:
    net: WaveNet
    features: FeatureParams
    stats: NormStats  # the mel normalization its input frames are expected in
    extra: dict[str, object] = field(default_factory=dict)


def speaker_free(net: WaveNet, g: torch.Tensor) -> WaveNet:
    """A copy of ``net`` without global conditioning: each layer's speaker bias at the mean of
    the embeddings ``g`` (N, S) is folded into its conv bias, so the copy starts as ``net``
    speaking the average voice and learns from the mel frames alone."""
    if not net.cfg.speaker_channels:
        return copy.deepcopy(net)
    free = WaveNet(dataclasses.replace(net.cfg, speaker_channels=0))
    state = {k: v for k, v in net.state_dict().items() if ".spk." not in k}
    mean = g.float().mean(0)
    with torch.no_grad():
        for i, layer in enumerate(net.layers):
            state[f"layers.{i}.conv.bias"] = layer.conv.bias + layer.spk(mean)
    free.load_state_dict(state)
    return free


def renormalize(net: WaveNet, source: NormStats, target: NormStats) -> None:
    """Make ``net``, trained on mels normalized with ``source``, read mels normalized with
    ``target``: the affine change of units is folded into the first (frame) convolution, in
    place. Exact but for the first and last frame, where the convolution pads with zeros."""
    s_old = torch.tensor(source.mel_std)
    s_new, shift = torch.tensor(target.mel_std), torch.tensor(target.mel_mean) - torch.tensor(source.mel_mean)
    conv = net.frame_conv
    with torch.no_grad():
        w = conv.weight.double()  # (out, in, k)
        conv.bias.add_(torch.einsum("oik,i->o", w, (shift / s_old).double()).float())
        conv.weight.mul_((s_new / s_old)[None, :, None])


def save_vocoder(vocoder: Vocoder, path: str | os.PathLike[str]) -> Path:
    """Write atomically; the weights in float32."""
    path = Path(path)
    tensors = {k: v.detach().float().cpu().contiguous() for k, v in vocoder.net.state_dict().items()}
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION,
            "wavenet": json.dumps(vocoder.net.cfg.to_dict()),
            "features": json.dumps(vocoder.features.to_dict()),
            "stats": json.dumps(vocoder.stats.to_dict()), "extra": json.dumps(vocoder.extra)}
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata=meta)
    return path


def load_vocoder(path: str | os.PathLike[str]) -> Vocoder:
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable safetensors file: {exc}") from exc
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} is not a voiceadapt vocoder file of format {FORMAT_VERSION}")
    net = WaveNet(WaveNetConfig(**json.loads(meta["wavenet"])))
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"{path} does not fit its own WaveNet config: {exc}") from exc
    return Vocoder(net.eval(), FeatureParams.from_dict(json.loads(meta["features"])),
                   NormStats.from_dict(json.loads(meta["stats"])), json.loads(meta["extra"]))


def extract(model: Backbone, extra: dict[str, object] | None = None) -> Vocoder:
    """The model's WaveNet as a speaker-free vocoder (the table's mean voice folded in)."""
    net = speaker_free(copy.deepcopy(model.wavenet).cpu(), model.speaker_table.weight.detach().cpu())
    return Vocoder(net, model.features, model.stats, dict(extra or {}))


def load_into(model: Backbone, vocoder: Vocoder) -> None:
    """Put ``vocoder``'s weights into ``model``'s WaveNet (same config), converted to the
    model's mel normalization."""
    model.features.check_compatible(vocoder.features)
    if vocoder.net.cfg != model.cfg.wavenet:
        raise ValueError(f"the vocoder's WaveNet config {vocoder.net.cfg} is not the model's "
                         f"{model.cfg.wavenet}")
    net = copy.deepcopy(vocoder.net).cpu()
    if vocoder.stats.mel_mean != model.stats.mel_mean or vocoder.stats.mel_std != model.stats.mel_std:
        renormalize(net, vocoder.stats, model.stats)
    model.wavenet.load_state_dict(net.state_dict())


def install(model: Backbone, vocoder: Vocoder) -> Backbone:
    """A copy of ``model`` that speaks through ``vocoder``'s WaveNet (converted to the model's
    mel normalization); everything else is the model's own."""
    if vocoder.net.cfg.cond_channels != model.cfg.wavenet.cond_channels or \
            vocoder.net.cfg.hop_length != model.cfg.wavenet.hop_length:
        raise ValueError("the vocoder's mel frames differ from the model's (n_mels / hop_length)")
    cfg = BackboneConfig(acoustic=model.cfg.acoustic, wavenet=vocoder.net.cfg, encoder=model.cfg.encoder)
    out = Backbone(cfg, model.speakers, model.symbols, model.features, model.stats, model.languages)
    result = out.load_state_dict(
        {k: v for k, v in model.state_dict().items() if not k.startswith("wavenet.")}, strict=False)
    if result.unexpected_keys or any(not k.startswith("wavenet.") for k in result.missing_keys):
        raise ValueError(f"the model does not fit its own config: {result}")
    load_into(out, vocoder)
    out.extra = dict(model.extra)
    return out.to(next(model.parameters()).device).eval()


@torch.no_grad()
def held_out_loss(model: Backbone, corpus: str, cache: str, split: str = "dev",
                  segments: int = 64, segment: int = 8000, seed: int = 0,
                  speakers: list[str] | None = None) -> float:
    """The WaveNet's cross-entropy (nats per sample) on ``segments`` random segments of a
    corpus split, conditioned on their recorded mels; a speaker WaveNet hears g from the
    model's encoder on another utterance of the speaker, with its measured pitch (SEA-ENC's
    view of a new voice). The same seed draws the same segments for every model."""
    from training.data import BatchSampler, load_corpus_items
    from training.step import reference_embedding
    from voiceadapt.models import losses as L

    if segments < 1:
        raise ValueError("segments must be at least 1")
    model.eval()
    items, names = load_corpus_items(corpus, cache, model.features, split)
    if speakers:  # e.g. only the persons neither model heard
        items = [it for it in items if names[it.speaker] in speakers]
        if not items:
            raise ValueError(f"none of {speakers} has {split} utterances in {corpus}")
    sampler = BatchSampler(items, model.features, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    hop = model.features.hop_length
    total, done = 0.0, 0
    while done < segments:
        n = min(8, segments - done)
        a = sampler.acoustic(n)
        segs, ctx = L.cut_segments(a.audio, (a.mel_lens - 1) * hop, model.features, segment, generator)
        g = reference_embedding(model, a) if model.cfg.wavenet.speaker_channels else None
        total += float(L.wavenet_loss(model, segs, ctx, g)) * n
        done += n
    return total / segments


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("extract", help="a backbone's WaveNet as a speaker-free vocoder file")
    ex.add_argument("--model", required=True)
    ex.add_argument("--out", required=True)
    ex.add_argument("--ledger", default="{}",
                    help='JSON the file starts its ledger with, e.g. {"updates": 9900, '
                         '"samples": 2.5e9, "gpu_minutes": 10.4} for a model trained elsewhere')
    ins = sub.add_parser("install", help="a backbone that speaks through a vocoder file")
    ins.add_argument("--model", required=True)
    ins.add_argument("--vocoder", required=True)
    ins.add_argument("--out", required=True)
    ins.add_argument("--recommend", choices=VOCODERS,
                     help="the vocoder the new checkpoint recommends (extra['vocoder'])")
    ho = sub.add_parser("loss", help="cross-entropy on held-out recordings (nats per sample)")
    ho.add_argument("--model", required=True, help="a backbone (its own WaveNet)")
    ho.add_argument("--vocoder", help="a vocoder file to install into the backbone first")
    ho.add_argument("--corpus", default="data/corpus")
    ho.add_argument("--cache", default="data/cache")
    ho.add_argument("--split", default="dev")
    ho.add_argument("--segments", type=int, default=64)
    ho.add_argument("--speakers", nargs="+", help="only these speakers' utterances")
    args = parser.parse_args(argv)
    model = load(args.model)
    if args.command == "loss":
        if args.vocoder:
            model = install(model, load_vocoder(args.vocoder))
        loss = held_out_loss(model, args.corpus, args.cache, args.split, args.segments,
                             speakers=args.speakers)
        print(f"{loss:.4f}")
        return 0
    if args.command == "extract":
        source = {k: model.extra.get(k) for k in ("step", "git") if k in model.extra}
        ledger = {"source": Path(args.model).name, **source, **json.loads(args.ledger)}
        save_vocoder(extract(model, ledger), args.out)
    else:
        vocoder = load_vocoder(args.vocoder)
        out = install(model, vocoder)
        extra = dict(out.extra)
        extra["vocoder_file"] = {"name": Path(args.vocoder).name, **vocoder.extra}
        if args.recommend:
            extra["vocoder"] = args.recommend
        save(out, args.out, extra=extra)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
