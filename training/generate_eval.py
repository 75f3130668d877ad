"""Generate evaluation audio for held-out utterances, batched (the GPU's strength).

For each held-out utterance of a training speaker: (a) copy-synthesis, the WaveNet
on the ground-truth log-mel, and (b) full text-to-speech from its phonemes. The
waveforms go into one ``.npz`` that ``training/evaluate_backbone.py`` scores here
with the evaluation judges.

    python -m training.generate_eval --model run/step_X.safetensors --items gpu/heldout.npz \\
        --out eval_audio.npz
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from training.data import Item
from training.pack import read_pack
from voiceadapt.audio import log_mel, mu_law_decode, pcm16_to_float
from voiceadapt.models.backbone import Backbone
from voiceadapt.models.checkpoint import load
from voiceadapt.models.padding import pad_right
from voiceadapt.models.wavenet import generate


@torch.no_grad()
def generate_batch(model: Backbone, mels: torch.Tensor, g: torch.Tensor, seed: int,
                   ) -> torch.Tensor:
    """(B, M, T) normalized mels -> (B, T * hop) float waveforms, all streams at once."""
    gen = torch.Generator(device=mels.device).manual_seed(seed)
    classes, _ = generate(model.wavenet, mels, g, generator=gen)
    return mu_law_decode(classes, model.cfg.wavenet.n_classes)


@torch.no_grad()
def run(model: Backbone, items: list[Item], device: torch.device, seed: int = 0,
        ) -> dict[str, np.ndarray]:
    """Copy-synthesis and TTS of every item, generated as one batch of 2 x len(items) streams."""
    hop = model.features.hop_length
    g = model.speaker_table(torch.tensor([it.speaker for it in items], device=device))
    gt_mels = [model.stats.normalize_mel(log_mel(torch.from_numpy(pcm16_to_float(it.audio)),
                                                 model.features)).to(device) for it in items]
    n = torch.tensor([len(it.ids) for it in items], device=device)
    ids = torch.zeros(len(items), int(n.max()), dtype=torch.long, device=device)
    for i, it in enumerate(items):
        ids[i, : len(it.ids)] = torch.from_numpy(it.ids)
    tts_mels, frames = model.acoustic.infer(ids, g, lengths=n,
                                            lang=model.language_ids([it.language for it in items]))
    mels = gt_mels + [tts_mels[i, :, : int(frames[i])] for i in range(len(items))]
    wavs = generate_batch(model, pad_right(mels)[0].to(device), torch.cat([g, g]), seed)
    lens = [m.shape[-1] * hop for m in mels]

    def ragged(rows: range) -> tuple[np.ndarray, np.ndarray]:
        parts = [wavs[i, : lens[i]].float().cpu().numpy() for i in rows]
        return (np.concatenate(parts).astype(np.float32),
                np.cumsum([0] + [len(p) for p in parts]).astype(np.int64))

    copy_audio, copy_off = ragged(range(len(items)))
    tts_audio, tts_off = ragged(range(len(items), 2 * len(items)))
    return {"copy": copy_audio, "copy_offsets": copy_off, "tts": tts_audio,
            "tts_offsets": tts_off, "utt_ids": np.array([it.utt_id for it in items])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--items", required=True, help="a pack of held-out utterances")
    parser.add_argument("--out", required=True)
    parser.add_argument("--limit", type=int, default=0, help="use only the first N items")
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = load(args.model, device=device)
    items, speakers = read_pack(args.items, model.features)
    if speakers != model.speakers:
        raise ValueError("the held-out pack's speaker list differs from the model's")
    items = items[: args.limit or None]
    started = time.perf_counter()
    result = run(model, items, device)
    seconds = time.perf_counter() - started
    total = (len(result["copy"]) + len(result["tts"])) / model.features.sample_rate
    print(f"generated {total:.1f} s of audio in {seconds:.1f} s on {device} "
          f"({len(items)} utterances x 2, batched)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
