"""Before and after a GPU relay (``training/device_train.sh``, issue 14).

``prepare`` makes what the relay carries: ``relay/train.npz``, the packed corpus (a
speaker-balanced subset, as large as the device call's 64 MiB allows beside the tracked files,
the init and the wheels), and ``relay/init.safetensors``, the acoustic model the relay
continues in float16 (kept from the previous relay unless ``--init`` names another).

``land`` takes the relay's files back: the vocoder goes to ``training/relay_weights/vocoder.safetensors``
with its sha256 (committed, so every relay continues from the newest), a line goes to
``training/relay_weights/ledger.jsonl`` (cumulative updates, samples and GPU minutes, the loss at the
end), and the backbone becomes the next relay's ``relay/init.safetensors``.

    python -m training.relay prepare --corpus data/corpus_v2 --init runs/v2/step_0002844.safetensors
    python -m training.relay land /path/to/relay/files
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

from training.vocoder import load_vocoder
from voiceadapt.files import atomic_path, atomic_write_text, sha256_file

COMMITTED = Path("training/relay_weights")
CARRIED = Path("relay")
# utterances of training speakers kept out of every relay's pack, for `land`'s check; they
# stay on this machine (the device never needs them, and the pack gets their room)
HELDOUT = Path("data/relay_heldout.npz")
HELDOUT_COUNT = 96
TREE_LIMIT_MIB = 64.0  # what travels: the tracked files, plus the carried paths
WHEELS_MIB = 2.0  # room left for .whl/ (soundfile, cffi, pycparser: 1.6 MiB)
MARGIN_MIB = 1.0


def tracked_mib(root: Path = Path(".")) -> float:
    """Size of the files git tracks in ``root`` (they travel with every device call)."""
    import subprocess

    names = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True,
                           ).stdout.decode().split("\0")
    return sum((root / n).stat().st_size for n in names if n and (root / n).is_file()) / 2**20


def write_half(source: str | Path, target: Path) -> None:
    """A backbone checkpoint with its floating-point weights in float16 (half the bytes to
    carry); loading it casts them back into the model's float32 parameters."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(source), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    tensors = {k: v.half() if v.dtype == torch.float32 else v for k, v in tensors.items()}
    with atomic_path(target) as tmp:
        save_file(tensors, tmp, metadata=meta)


def ledger_rows(folder: Path = COMMITTED) -> list[dict[str, object]]:
    path = folder / "ledger.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] \
        if path.exists() else []


def loss_at_end(metrics: Path, last: int = 10) -> dict[str, float]:
    """Mean of each loss over the last ``last`` logged steps (the curve is noisy)."""
    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    tail = rows[-last:]
    keys = [k for k in ("wavenet", "mel", "total") if all(k in r for r in tail)]
    return {k: round(float(np.mean([r[k] for r in tail])), 4) for k in keys} if tail else {}


def heldout_mels(model_paths: list[Path], heldout: Path) -> list[dict[str, float]]:
    """Each acoustic model's mel L1 (teacher-forced, eval mode) on the utterances ``prepare``
    kept out of the pack, with the table's embeddings (``table``) and with SEA-ENC's, the
    encoder on the held-out utterance itself (``encoder``): a relay that fits its training
    speakers' rows while the encoder's path to new voices gets worse shows in the second.
    The held-out pack is read and batched once for all the models."""
    import torch

    from training.data import BatchSampler
    from training.pack import read_pack
    from training.step import batch_languages, reference_embedding
    from voiceadapt.models import losses as L
    from voiceadapt.models.checkpoint import load

    models = [load(path).eval() for path in model_paths]
    items, speakers = read_pack(heldout, models[0].features)
    a = BatchSampler(items, models[0].features, seed=0).acoustic(len(items))
    scores = []
    for path, model in zip(model_paths, models, strict=True):
        model.features.check_compatible(models[0].features)
        if speakers != model.speakers:
            raise ValueError(f"{heldout} was packed from other speakers than {path}'s")
        lang = batch_languages(model, a)
        out = {}
        with torch.no_grad():
            for name, g in (("table", model.speaker_table(a.speakers)),
                            ("encoder", reference_embedding(model, a))):
                out[name] = float(L.acoustic_losses(model, a.ids, a.text_lens, a.audio,
                                                    a.mel_lens, a.f0, g, lang=lang)["mel"])
        scores.append(out)
    return scores


def land(folder: Path, committed: Path = COMMITTED, carried: Path = CARRIED,
         heldout: Path = HELDOUT) -> dict[str, object]:
    """Check and take in a relay's files; returns the ledger row it appended.

    The backbone becomes the next relay's init only if the relay trained the acoustic model
    and, where ``prepare`` kept held-out utterances, made their mel loss no worse with either
    kind of embedding (:func:`heldout_mels`)."""
    vocoder_file, backbone = folder / "vocoder.safetensors", folder / "backbone.safetensors"
    for path in (vocoder_file, backbone, folder / "metrics.jsonl", folder / "config.toml"):
        if not path.exists():
            raise FileNotFoundError(f"the relay left no {path.name} in {folder}")
    vocoder = load_vocoder(vocoder_file)  # refuses a damaged file before anything is replaced
    from training.config import load_config
    from training.train import git_hash
    from voiceadapt.models.checkpoint import load

    load(backbone)
    target = committed / "vocoder.safetensors"
    if target.exists() and sha256_file(target) == sha256_file(vocoder_file):
        raise ValueError(f"{vocoder_file} is the committed vocoder already: this relay has landed")
    previous: list[dict[str, Any]] = ledger_rows(committed)
    last = previous[-1] if previous else {"cumulative_updates": 0, "gpu_minutes": 0.0}
    extra: dict[str, Any] = vocoder.extra
    git = str(extra.get("git", "unknown"))
    if git == "unknown":  # the device's copy has no .git: the code sent was this HEAD
        git = git_hash()
    row: dict[str, object] = {
        "relay": len(previous) + 1,
        "date": datetime.date.today().isoformat(),
        "git": git,
        "minutes": round(float(extra.get("gpu_minutes", 0.0)) - float(last["gpu_minutes"]), 2),
        "updates": int(extra.get("updates", 0)) - int(last["cumulative_updates"]),
        "cumulative_updates": int(extra.get("updates", 0)),
        "cumulative_samples": int(extra.get("samples", 0)),
        "gpu_minutes": float(extra.get("gpu_minutes", 0.0)),
        "loss_at_end": loss_at_end(folder / "metrics.jsonl"),
    }
    trained_acoustic = load_config(folder / "config.toml").train.acoustic
    replace_init = trained_acoustic
    init = carried / "init.safetensors"
    if trained_acoustic and heldout.exists() and init.exists():
        before, after = heldout_mels([init, backbone], heldout)
        row["heldout_mel"] = {k: {"before": round(before[k], 4), "after": round(after[k], 4)}
                              for k in before}
        replace_init = all(after[k] <= before[k] for k in before)
    row["next_init"] = "this relay's backbone" if replace_init else "kept"
    committed.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        shutil.copyfile(vocoder_file, tmp)
    atomic_write_text(committed / "vocoder.sha256", f"{sha256_file(target)}  vocoder.safetensors\n")
    with open(committed / "ledger.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")
    if replace_init:
        carried.mkdir(parents=True, exist_ok=True)
        write_half(backbone, init)
    return row


def relays_landed(committed: Path = COMMITTED) -> int:
    """How many relays the ledger records (the next relay's pack rotation)."""
    return len(ledger_rows(committed))


def prepare(corpus: str, cache: str, init: str | None, carried: Path = CARRIED,
            rotation: int | None = None, heldout: Path = HELDOUT) -> None:
    """Pack the corpus and the acoustic start into ``carried``. The pack takes the next window
    of each speaker's utterances (``rotation``, default: the relays landed so far), so
    successive relays do not hear the same few utterances over and over."""
    from training.pack import main as pack

    carried.mkdir(parents=True, exist_ok=True)
    if init:
        write_half(init, carried / "init.safetensors")
    init_mib = ((carried / "init.safetensors").stat().st_size / 2**20
                if (carried / "init.safetensors").exists() else 0.0)
    budget = TREE_LIMIT_MIB - tracked_mib() - init_mib - WHEELS_MIB - MARGIN_MIB
    if budget < 5:
        raise ValueError(f"only {budget:.1f} MiB are left for the corpus pack; the tracked files "
                         "and the init leave too little of the device call's 64 MiB")
    # held-out utterances let `land` check that a relay did not make the acoustic model worse
    # before it becomes the next one's init; they are written beside, not into, what travels
    (carried / "heldout.npz").unlink(missing_ok=True)  # where older preparations put them
    heldout.parent.mkdir(parents=True, exist_ok=True)
    rotation = relays_landed() if rotation is None else rotation
    pack(["--corpus", corpus, "--cache", cache, "--out", str(carried),
          "--held-out", str(HELDOUT_COUNT), "--held-out-file", str(heldout),
          "--max-mib", f"{budget:.1f}", "--rotation", str(rotation)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    pre = sub.add_parser("prepare", help="pack the corpus and the acoustic start into relay/")
    pre.add_argument("--corpus", default="data/corpus_v2")
    pre.add_argument("--cache", default="data/cache")
    pre.add_argument("--init", help="backbone the relay continues (default: keep relay/init)")
    back = sub.add_parser("land", help="take a relay's weights and metrics in")
    back.add_argument("folder")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        prepare(args.corpus, args.cache, args.init)
    else:
        print(json.dumps(land(Path(args.folder))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
