"""Pack a corpus split into one compact file a lent GPU machine can train from.

The GPU machine has no speech packages and receives at most 64 MiB, so the audio
travels Opus-coded (about 45 kbit/s, one Ogg stream per utterance) with phoneme ids
and F0 from the feature cache, in a plain ``.npz`` (no pickle). Log-mels are
computed there from the decoded audio, so training sees features consistent with
its audio.

    python -m training.pack --corpus data/corpus --cache data/cache --out gpu/

A corpus larger than the budget (``--max-mib``, 60 by default) is packed as a
speaker-balanced subset: the same number of utterances from every speaker (or all a speaker
has), as many as fit, and one more from as many speakers as the rest of the budget holds.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from training.data import Item
from voiceadapt.audio import FeatureParams, pcm16_to_float
from voiceadapt.files import atomic_path

OPUS_LEVEL = 0.85  # libsndfile's compression level for Opus: about 45 kbit/s on this corpus


def write_pack(items: list[Item], speakers: list[str], out: str | Path,
               params: FeatureParams) -> Path:
    """Write ``items`` (speaker indexes into ``speakers``) Opus-coded into one ``.npz``."""
    import soundfile as sf

    blobs = []
    for it in items:
        buf = io.BytesIO()
        sf.write(buf, pcm16_to_float(it.audio), params.sample_rate, format="OGG",
                 subtype="OPUS", compression_level=OPUS_LEVEL)
        blobs.append(np.frombuffer(buf.getvalue(), dtype=np.uint8))

    def offsets(arrays: list[np.ndarray]) -> np.ndarray:
        return np.cumsum([0] + [len(a) for a in arrays]).astype(np.int64)

    meta = {"speakers": speakers, "params": params.to_dict(),
            "lengths": [len(it.audio) for it in items], "utt_ids": [it.utt_id for it in items],
            "clean": [bool(it.clean) for it in items],
            "languages": [it.language for it in items]}
    out = Path(out)
    with atomic_path(out) as tmp, open(tmp, "wb") as f:
        np.savez(
            f,
            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
            speaker=np.array([it.speaker for it in items], dtype=np.int32),
            audio=np.concatenate(blobs), audio_offsets=offsets(blobs),
            ids=np.concatenate([it.ids for it in items]).astype(np.int16),
            ids_offsets=offsets([it.ids for it in items]),
            f0=np.concatenate([it.f0 for it in items]).astype(np.float16),
            f0_offsets=offsets([it.f0 for it in items]),
        )
    return out


# Opus at OPUS_LEVEL measured about 45 kbit/s; ids and F0 travel as 16-bit values
_OPUS_BYTES_PER_SAMPLE = 45_000 / 8 / 16_000


def estimated_bytes(items: list[Item]) -> float:
    return sum(len(it.audio) * _OPUS_BYTES_PER_SAMPLE + 2 * (len(it.ids) + len(it.f0)) + 200
               for it in items)


def speaker_window(utts: list[Item], k: int, rotation: int, extra: int = 0) -> list[Item]:
    """``k`` of one speaker's utterances for the ``rotation``-th relay: half clean (rounded up:
    for the vocoder) and half channel-degraded (for the encoder) where the speaker has both,
    each kind taken as its own rotating window, so every relay's pack keeps a clean utterance
    of every speaker that has one. ``extra`` utterances more extend the same windows (the next
    ones of the kind that ``k + extra`` would add), so a speaker given one more utterance keeps
    the ``k`` it would have had."""
    clean = [it for it in utts if it.clean]
    degraded = [it for it in utts if not it.clean]

    def split(n: int) -> tuple[int, int]:
        nc = min(len(clean), max((n + 1) // 2 if degraded else n, n - len(degraded)))
        return nc, min(len(degraded), n - nc)

    (kc, kd), (wc, wd) = split(k), split(k + extra)

    def take(xs: list[Item], n: int, width: int) -> list[Item]:
        return [xs[(rotation * n + j) % len(xs)] for j in range(width)]

    return take(clean, kc, wc) + take(degraded, kd, wd)


def balanced_subset(items: list[Item], max_bytes: float, rotation: int = 0) -> list[Item]:
    """``k`` utterances of every speaker (``speaker_window``; fewer for a speaker who has
    fewer), ``k`` as large as fits in ``max_bytes``; then, first fit in an order drawn anew
    for each relay, one more utterance for every speaker whose extra still fits in what is
    left. Successive relays (rotation = relays so far) hear different utterances of the same
    speakers, and different speakers get the extras."""
    by_speaker: dict[int, list[Item]] = {}
    for it in items:
        by_speaker.setdefault(it.speaker, []).append(it)
    if estimated_bytes(items) <= max_bytes:
        return items

    def window(k: int) -> list[Item]:
        return [it for v in by_speaker.values() for it in speaker_window(v, k, rotation)]

    lo, hi = 1, max(len(v) for v in by_speaker.values())
    while lo < hi:  # the largest k whose subset fits
        k = (lo + hi + 1) // 2
        if estimated_bytes(window(k)) <= max_bytes:
            lo = k
        else:
            hi = k - 1
    chosen = {s: speaker_window(v, lo, rotation) for s, v in by_speaker.items()}
    room = max_bytes - sum(estimated_bytes(w) for w in chosen.values())
    order = np.random.default_rng(rotation).permutation(sorted(by_speaker))
    for s in (int(s) for s in order):
        if len(by_speaker[s]) <= lo:
            continue
        more = speaker_window(by_speaker[s], lo, rotation, extra=1)
        cost = estimated_bytes(more) - estimated_bytes(chosen[s])
        if cost <= room:
            chosen[s], room = more, room - cost
    keep = {id(it) for w in chosen.values() for it in w}
    return [it for it in items if id(it) in keep]


def held_out_split(corpus_dir: str | Path, items: list[Item], count: int,
                   max_samples: int = 48_000) -> tuple[list[Item], list[Item]]:
    """Move ``count`` utterances of training speakers out of training, for evaluation.

    Each has a sentence no other training utterance has, is at most ``max_samples`` long,
    and comes from its own speaker; picks go round the base voices so that every
    synthesizer is represented.
    """
    from training.corpus.manifest import read_corpus

    corpus = read_corpus(corpus_dir)
    utts = {u.id: u for u in corpus.utterances}
    uses: dict[str, int] = {}
    for it in items:
        text = utts[it.utt_id].normalized
        uses[text] = uses.get(text, 0) + 1
    by_voice: dict[str, list[Item]] = {}
    for it in items:
        u = utts[it.utt_id]
        if len(it.audio) <= max_samples and uses[u.normalized] == 1:
            by_voice.setdefault(corpus.speakers[u.speaker].source, []).append(it)
    held: list[Item] = []
    seen: set[int] = set()
    while len(held) < count and any(by_voice.values()):
        for queue in by_voice.values():
            while queue and queue[0].speaker in seen:
                queue.pop(0)
            if queue and len(held) < count:
                held.append(queue.pop(0))
                seen.add(held[-1].speaker)
    held_ids = {it.utt_id for it in held}
    return [it for it in items if it.utt_id not in held_ids], held


def read_pack(path: str | Path, params: FeatureParams) -> tuple[list[Item], list[str]]:
    import soundfile as sf

    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(data["meta"].tobytes())
        stored = FeatureParams.from_dict(meta["params"])
        params.check_compatible(stored)
        a, ao = data["audio"], data["audio_offsets"]
        ids, io_ = data["ids"], data["ids_offsets"]
        f0, fo = data["f0"], data["f0_offsets"]
        clean = meta.get("clean") or [True] * len(data["speaker"])  # older packs: as recorded
        languages = meta.get("languages") or [""] * len(data["speaker"])  # older packs: unnamed
        items = []
        for i, spk in enumerate(data["speaker"]):
            samples, rate = sf.read(io.BytesIO(a[ao[i] : ao[i + 1]].tobytes()), dtype="int16")
            if rate != params.sample_rate:
                raise ValueError(f"packed audio is {rate} Hz, expected {params.sample_rate}")
            length = meta["lengths"][i]
            samples = np.pad(samples, (0, max(0, length - len(samples))))[:length]
            items.append(Item(int(spk), ids[io_[i] : io_[i + 1]].astype(np.int64), samples,
                              f0[fo[i] : fo[i + 1]].astype(np.float32), meta["utt_ids"][i],
                              clean=bool(clean[i]), language=str(languages[i])))
    return items, list(meta["speakers"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="pack a corpus's training split for a GPU machine")
    parser.add_argument("--corpus", default="data/corpus")
    parser.add_argument("--cache", default="data/cache")
    parser.add_argument("--out", required=True, help="folder for train.npz (and heldout.npz)")
    parser.add_argument("--held-out", type=int, default=16,
                        help="utterances of training speakers kept out of training, for evaluation")
    parser.add_argument("--held-out-file", help="where they go (default: OUT/heldout.npz)")
    parser.add_argument("--max-mib", type=float, default=60.0,
                        help="size budget of the training pack: a larger corpus is packed as a "
                        "speaker-balanced subset")
    parser.add_argument("--rotation", type=int, default=0,
                        help="which window of each speaker's utterances a subset takes "
                        "(successive relays pass successive numbers)")
    args = parser.parse_args(argv)
    from training.data import load_corpus_items

    params = FeatureParams()
    items, speakers = load_corpus_items(args.corpus, args.cache, params, "train")
    train, held = held_out_split(args.corpus, items, args.held_out)
    budget = args.max_mib * 2**20
    while True:  # the estimate is close; shrink until the written pack fits
        subset = balanced_subset(train, budget, args.rotation)
        path = write_pack(subset, speakers, Path(args.out) / "train.npz", params)
        per_speaker = Counter(it.speaker for it in subset)
        if path.stat().st_size <= args.max_mib * 2**20 or max(per_speaker.values()) <= 1:
            break  # fits, or one utterance a speaker: nothing left to cut
        budget *= 0.95
    print(f"wrote {path}: {len(subset)} of {len(train)} utterances, "
          f"{len({it.speaker for it in subset})} speakers, {path.stat().st_size / 2**20:.1f} MiB")
    if held:
        path = write_pack(held, speakers, args.held_out_file or Path(args.out) / "heldout.npz",
                          params)
        print(f"wrote {path}: {len(held)} utterances, {path.stat().st_size / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
