"""Train the SEA-ENC speaker encoder alone, on speaker episodes (angular prototypical).

Each step draws an episode of ``speakers`` speakers x ``clips`` random crops: half the
speakers come in pairs of the same person (a derivative and another derivative, or the
recording itself), so the hardest negatives are always present. For each speaker one crop
is the query and the mean of the other crops' embeddings its prototype
(:func:`voiceadapt.meta.protonets.prototypes`); the loss is cross-entropy over the scaled
cosine of every query to every prototype (Chung et al. 2020, "In defence of metric
learning"; Snell et al. 2017). All audio counts, untranscribed recordings included.

Verification on held-out persons (a leave-voice-out corpus, ``--eval``) and on the training
corpus's in-distribution dev speakers (``dev_*``) is measured before training and at every
checkpoint: equal error rate of one clip against every speaker's enrollment (the mean of
other clips). It is reported, never
used to choose anything: the run keeps its last step.

    python -m training encoder --config configs/encoder_protonets.toml --run-dir runs/encoder_v2

(or ``python -m training.train_encoder`` with the options as flags; a flag given beside
``--config`` wins). Resumable: run again with the same arguments and it continues from
``latest.pt``.

``--labels cactus`` trains without speaker labels (CACTUs, Hsu et al. 2019): the starting
encoder embeds every clip, k-means partitions those embeddings several times (each on a
randomly rescaled copy), and the episodes' speakers are one partition's clusters; the
partitions' purity against the true speakers and persons is reported, never used.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torch.nn.functional as F

from training.benchmarks.adaptation import equal_error_rate
from training.corpus.manifest import read_corpus
from training.corpus.voices import HELD_OUT_PERSONS, voice_by_name
from voiceadapt.audio import FeatureParams, log_mel
from voiceadapt.audio.processing import resample, to_mono
from voiceadapt.files import atomic_path, atomic_write_text
from voiceadapt.meta.cactus import partitions, purity
from voiceadapt.meta.protonets import prototypes
from voiceadapt.models.backbone import NormStats
from voiceadapt.models.encoder import EncoderConfig, SpeakerEncoder


@dataclass
class Speakers:
    """Normalized log-mels (float16, (M, T)) per speaker, and each speaker's person."""

    mels: dict[str, list[np.ndarray]]
    person: dict[str, str]


def load_speakers(corpus_dir: str, stats: NormStats, split: str | None,
                  min_frames: int = 40) -> Speakers:
    """Log-mels computed from the audio (cheap next to the F0 the feature cache also holds)."""
    corpus = read_corpus(corpus_dir)
    params = FeatureParams()
    mean = np.asarray(stats.mel_mean, np.float32)[:, None]
    std = np.asarray(stats.mel_std, np.float32)[:, None]
    mels: dict[str, list[np.ndarray]] = defaultdict(list)
    for u in corpus.utterances:
        if split is not None and u.split != split:
            continue
        samples, rate = sf.read(str(corpus.audio_path(u)), dtype="float32")
        mel = log_mel(resample(to_mono(samples), rate, params.sample_rate), params).numpy()
        if mel.shape[1] >= min_frames:
            mels[u.speaker].append(((mel - mean) / std).astype(np.float16))
    person = {s: voice_by_name(corpus.speakers[s].source).person for s in mels}
    return Speakers(dict(mels), person)


def refuse_held_out(data: Speakers, corpus_dir: str) -> None:
    """Training speakers must not be persons kept for leave-voice-out evaluation."""
    held = sorted({p for p in data.person.values() if p in HELD_OUT_PERSONS})
    if held:
        raise SystemExit(f"{corpus_dir} has training speakers of held-out persons ({', '.join(held)}): "
                         "train the encoder on a corpus without them (corpus v2)")


def crop(mel: np.ndarray, frames: int, rng: random.Random) -> np.ndarray:
    if mel.shape[1] <= frames:
        return np.pad(mel, ((0, 0), (0, frames - mel.shape[1])), mode="wrap")
    start = rng.randrange(mel.shape[1] - frames + 1)
    return mel[:, start : start + frames]


def episode(data: Speakers, speakers: int, clips: int, frames: int, rng: random.Random,
            ) -> torch.Tensor:
    """(speakers * clips, M, frames): half the speakers in same-person pairs."""
    by_person: dict[str, list[str]] = defaultdict(list)
    for s in data.mels:
        by_person[data.person[s]].append(s)
    paired = [p for p, ss in by_person.items() if len(ss) >= 2]
    chosen: list[str] = []
    for p in rng.sample(paired, min(len(paired), speakers // 4)):
        chosen += rng.sample(by_person[p], 2)
    rest = [s for s in data.mels if s not in set(chosen)]
    chosen += rng.sample(rest, speakers - len(chosen))
    batch = [crop(data.mels[s][rng.randrange(len(data.mels[s]))], frames, rng)
             for s in chosen for _ in range(clips)]
    return torch.from_numpy(np.stack(batch).astype(np.float32))


def embed(encoder: SpeakerEncoder, mels: torch.Tensor) -> torch.Tensor:
    mask = torch.ones(mels.shape[0], mels.shape[2], dtype=torch.bool)
    return F.normalize(encoder(mels, mask), dim=-1)


def episode_loss(encoder: SpeakerEncoder, mels: torch.Tensor, speakers: int, clips: int,
                 scale: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, float]:
    e = embed(encoder, mels).view(speakers, clips, -1)
    query = e[:, 0]
    support = e[:, 1:].reshape(speakers * (clips - 1), -1)
    labels = torch.arange(speakers).repeat_interleave(clips - 1)
    protos = F.normalize(prototypes(support, labels, speakers), dim=-1)
    logits = scale * (query @ protos.T) + bias
    target = torch.arange(speakers)
    return F.cross_entropy(logits, target), float((logits.argmax(1) == target).float().mean())


@torch.no_grad()
def cactus_speakers(encoder: SpeakerEncoder, data: Speakers, clusters: int, count: int,
                    seed: int, frames: int = 300, min_clips: int = 2,
                    ) -> tuple[list[Speakers], dict[str, float]]:
    """CACTUs' pseudo-speakers: ``count`` k-means partitions of the clips' embeddings by
    ``encoder`` (labels unused), each a Speakers of its clusters with two clips or more (each
    cluster its own person: no same-person pairs without labels); and the partitions' mean
    purity against the true speakers and persons (reported only). A cluster needs
    ``min_clips`` clips, so an episode's crops of one pseudo-speaker come from as many
    recordings. (The starting encoder may itself have been trained with another corpus's
    labels: the bundled one was.)"""
    encoder.eval()
    clips = [(s, m) for s in sorted(data.mels) for m in data.mels[s]]
    random.Random(seed).shuffle(clips)  # k-means' first centres: not the speakers' name order
    vectors = torch.stack([embed(encoder, torch.from_numpy(m[None, :, :frames].astype(np.float32)))[0]
                           for _, m in clips])
    names = sorted(data.mels)
    persons = sorted(set(data.person.values()))
    speaker_of = torch.tensor([names.index(s) for s, _ in clips])
    person_of = torch.tensor([persons.index(data.person[s]) for s, _ in clips])
    out, purities = [], {"speakers": [], "persons": []}
    for i, part in enumerate(partitions(vectors, clusters, count, min_size=min_clips, seed=seed)):
        mels: dict[str, list[np.ndarray]] = defaultdict(list)
        for (_, mel), label in zip(clips, part.labels.tolist(), strict=True):
            if label >= 0:
                mels[f"p{i}-c{label}"].append(mel)
        out.append(Speakers(dict(mels), {c: c for c in mels}))
        purities["speakers"].append(purity(part.labels, speaker_of))
        purities["persons"].append(purity(part.labels, person_of))
    return out, {f"cactus_purity_{k}": float(np.mean(v)) for k, v in purities.items()}


@torch.no_grad()
def verification(encoder: SpeakerEncoder, data: Speakers, frames: int = 300,
                 enroll_clips: int = 6) -> dict[str, float]:
    """EER of a single clip (up to ``frames`` frames) against each speaker's enrollment
    (mean of up to ``enroll_clips`` other clips, at most half of its clips), over every
    speaker of ``data`` with two clips or more."""
    encoder.eval()
    names = sorted(s for s, clips in data.mels.items() if len(clips) >= 2)
    if len(names) < 2:
        return {}  # verification needs a speaker to tell apart
    enroll, tests = [], []
    for s in names:
        clips = data.mels[s]
        vecs = [embed(encoder, torch.from_numpy(m[None, :, :frames].astype(np.float32)))[0]
                for m in clips]
        k = min(enroll_clips, len(clips) // 2)
        enroll.append(F.normalize(torch.stack(vecs[:k]).mean(0), dim=-1))
        tests += [(names.index(s), v) for v in vecs[k:]]
    matrix = torch.stack(enroll)
    scores = np.concatenate([(matrix @ v).numpy() for _, v in tests])
    targets = np.concatenate([np.arange(len(names)) == i for i, _ in tests])
    same = scores[targets].mean()
    other = scores[~targets].mean()
    return {"eer": equal_error_rate(scores, targets), "target_cos": float(same),
            "nontarget_cos": float(other), "speakers": len(names), "trials": int(len(scores))}


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """The command line, over the ``[encoder]`` section of ``--config`` (a TOML file whose keys
    are the options' names, e.g. ``steps = 1000``): flags given on the line win."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="TOML file with an [encoder] section of these options "
                        "(e.g. configs/encoder_protonets.toml)")
    parser.add_argument("--corpus", help="training corpus (train split, all audio)")
    parser.add_argument("--eval", help="leave-voice-out corpus: EER reported at each checkpoint")
    parser.add_argument("--model", help="backbone whose encoder starts training and whose mel "
                        "statistics normalize the input (default: the bundled model)")
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--speakers", type=int, default=48, help="speakers per episode")
    parser.add_argument("--clips", type=int, default=4, help="crops per speaker per episode")
    parser.add_argument("--frames", type=int, default=160, help="frames per crop (80 per second)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--every", type=int, default=250, help="checkpoint and evaluate every N steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--labels", choices=["speakers", "cactus"], default="speakers",
                        help="episodes of the true speakers, or of CACTUs' k-means clusters of "
                        "the starting encoder's embeddings (no labels)")
    parser.add_argument("--clusters", type=int, default=500, help="k of CACTUs' k-means")
    parser.add_argument("--partitions", type=int, default=5, help="CACTUs' partitions")
    first, _ = parser.parse_known_args(argv)
    if first.config:
        with open(first.config, "rb") as f:
            settings = tomllib.load(f)
        unknown = set(settings) - {"encoder"}
        section = settings.get("encoder", {})
        names = {a.dest for a in parser._actions} - {"help", "config", "run_dir"}
        unknown |= {f"encoder.{k}" for k in section if k not in names}
        if unknown:
            parser.error(f"{first.config}: unknown setting(s) {', '.join(sorted(unknown))}")
        for action in parser._actions:  # a setting of the wrong type is refused as a flag would be
            if action.dest in section and action.type is not None:
                try:
                    section[action.dest] = action.type(section[action.dest])
                except (TypeError, ValueError):
                    parser.error(f"{first.config}: encoder.{action.dest} must be "
                                 f"{action.type.__name__}, got {section[action.dest]!r}")
            if action.dest in section and action.choices and section[action.dest] not in action.choices:
                parser.error(f"{first.config}: encoder.{action.dest} must be one of "
                             f"{', '.join(action.choices)}")
        parser.set_defaults(**section)
    args = parser.parse_args(argv)
    if not args.corpus:
        parser.error("the training corpus is needed: --corpus, or corpus in the config")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    from voiceadapt.inference.synthesize import load

    torch.manual_seed(args.seed)
    base = load(args.model)
    encoder = SpeakerEncoder(EncoderConfig(**base.cfg.encoder.to_dict()))
    encoder.load_state_dict(base.encoder.state_dict())
    scale = torch.nn.Parameter(torch.tensor(10.0))
    bias = torch.nn.Parameter(torch.tensor(-5.0))
    opt = torch.optim.Adam([*encoder.parameters(), scale, bias], lr=args.lr)
    run = Path(args.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run / "args.json", json.dumps(vars(args), indent=1))
    step, log = 0, []
    if (run / "latest.pt").exists():
        state = torch.load(run / "latest.pt", weights_only=False)
        encoder.load_state_dict(state["encoder"])
        opt.load_state_dict(state["opt"])
        with torch.no_grad():
            scale.copy_(state["scale"])
            bias.copy_(state["bias"])
        step, log = state["step"], state["log"]
        print(f"resumed at step {step}")
    train = load_speakers(args.corpus, base.stats, "train")
    refuse_held_out(train, args.corpus)
    pseudo: list[Speakers] = []
    if args.labels == "cactus":  # clustered once, by the encoder the run starts from
        start = SpeakerEncoder(EncoderConfig(**base.cfg.encoder.to_dict()))
        start.load_state_dict(base.encoder.state_dict())
        pseudo, found = cactus_speakers(start, train, args.clusters, args.partitions, args.seed,
                                        min_clips=max(2, args.clips))
        if min(len(p.mels) for p in pseudo) < args.speakers:
            raise SystemExit(f"a CACTUs partition kept {min(len(p.mels) for p in pseudo)} clusters "
                             f"of {max(2, args.clips)} clips or more, fewer than --speakers "
                             f"{args.speakers}: lower --speakers or --clusters")
        print(json.dumps({"cactus_pseudo_speakers": [len(p.mels) for p in pseudo], **found}))
    held = load_speakers(args.eval, base.stats, None) if args.eval else None
    dev = load_speakers(args.corpus, base.stats, "dev")  # in-distribution speakers

    def measure() -> dict[str, float]:
        out = {f"dev_{k}": v for k, v in verification(encoder, dev).items()}
        return out | (verification(encoder, held) if held is not None else {})

    print(f"{len(train.mels)} training speakers from {len(set(train.person.values()))} people, "
          f"{sum(len(v) for v in train.mels.values())} clips")
    if step == 0:
        log.append({"step": 0, **measure(), **(found if pseudo else {})})
        print(json.dumps(log[-1]))
    rng = random.Random(args.seed * 100_003 + step)
    started, losses, accs = time.perf_counter(), [], []
    while step < args.steps:
        encoder.train()
        source = pseudo[rng.randrange(len(pseudo))] if pseudo else train
        mels = episode(source, args.speakers, args.clips, args.frames, rng)
        loss, acc = episode_loss(encoder, mels, args.speakers, args.clips, scale, bias)
        lr = args.lr * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(encoder.parameters(), 3.0)
        opt.step()
        with torch.no_grad():
            scale.clamp_(min=1.0)
        step += 1
        losses.append(loss.item())
        accs.append(acc)
        if step % args.every == 0 or step == args.steps:
            entry = {"step": step, "loss": float(np.mean(losses)), "episode_acc": float(np.mean(accs)),
                     "s_per_step": (time.perf_counter() - started) / len(losses)}
            entry |= measure()
            log.append(entry)
            print(json.dumps(entry), flush=True)
            losses, accs, started = [], [], time.perf_counter()
            with atomic_path(run / "latest.pt") as tmp:
                torch.save({"encoder": encoder.state_dict(), "opt": opt.state_dict(), "scale": scale.detach(),
                            "bias": bias.detach(), "step": step, "log": log}, tmp)
            atomic_write_text(run / "log.json", json.dumps(log, indent=1))
    from safetensors.torch import save_file

    with atomic_path(run / "encoder.safetensors") as tmp:
        save_file(encoder.state_dict(), str(tmp), metadata={
            "config": json.dumps(encoder.cfg.to_dict()), "steps": str(step),
            "mel_stats_from": args.model or "bundled"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
