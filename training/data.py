"""Training data: utterances held in memory, sampled into acoustic and WaveNet batches.

Each item keeps phoneme ids, 16-bit audio and frame F0. Log-mels are computed on the
training device from the audio (a batched STFT costs little next to a training step),
so the only precomputed feature is F0, which comes from the hash-keyed feature cache.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from voiceadapt.audio import FeatureParams, pcm16_to_float
from voiceadapt.models import losses as L
from voiceadapt.models.padding import pad_right
from voiceadapt.text import SymbolTable


@dataclass
class Item:
    speaker: int
    ids: np.ndarray  # (N,) int64 symbol ids with BOS/EOS
    audio: np.ndarray  # (L,) int16 at the feature sample rate
    f0: np.ndarray  # (T,) float32 Hz, 0 where unvoiced; T = num_frames(L)
    utt_id: str = ""
    # heard as recorded: corpus v2 puts most utterances through a simulated channel (codecs,
    # the telephone band, room noise), which the encoder should hear but a vocoder must not
    # learn to make
    clean: bool = True
    language: str = ""  # the espeak-ng language of the transcript ("" where unknown)


def load_corpus_items(corpus_dir: str | Path, cache_dir: str | Path, params: FeatureParams,
                      split: str = "train", max_frames: int = 600,
                      ) -> tuple[list[Item], list[str]]:
    """Items of one split from a corpus folder, F0 from (or into) the feature cache."""
    import soundfile as sf

    from training.corpus.feature_cache import FeatureCache
    from training.corpus.manifest import read_corpus

    corpus = read_corpus(corpus_dir)
    cache = FeatureCache(cache_dir, params)
    table = SymbolTable()  # the newest table: older tables' ids are its prefix
    # untranscribed recordings serve the speaker encoder only
    utts = [u for u in corpus.utterances if u.split == split and u.transcribed]
    speakers = sorted({u.speaker for u in utts})
    index = {s: i for i, s in enumerate(speakers)}
    items = []
    for u in utts:
        path = corpus.audio_path(u)
        audio, rate = sf.read(str(path), dtype="int16")
        if rate != params.sample_rate:
            raise ValueError(f"{path} is {rate} Hz; the features want {params.sample_rate} Hz")
        if params.num_frames(len(audio)) > max_frames:
            continue
        f0 = cache.get(path)["f0"].astype(np.float32)
        items.append(Item(index[u.speaker], np.asarray(table.encode(u.phonemes), np.int64),
                          audio, f0, u.id, clean=not u.channel, language=u.language))
    return items, speakers


@dataclass
class AcousticBatch:
    ids: torch.Tensor  # (B, N)
    text_lens: torch.Tensor  # (B,)
    audio: torch.Tensor  # (B, L) float in [-1, 1]
    mel_lens: torch.Tensor  # (B,)
    f0: torch.Tensor  # (B, T) Hz
    speakers: torch.Tensor  # (B,)
    ref_audio: torch.Tensor  # (B, L') another utterance of the same speaker, for the encoder
    ref_lens: torch.Tensor  # (B,) frames
    ref_f0: torch.Tensor  # (B, T') the reference utterance's F0 in Hz, for its measured pitch
    languages: tuple[str, ...] = ()  # each row's transcript language


@dataclass
class WaveNetBatch:
    audio: torch.Tensor  # (B, S) float segments
    frame_audio: torch.Tensor  # (B, S + 2 * pad) the segment with context for its mel frames
    speakers: torch.Tensor  # (B,)
    # (B, M, S / hop) normalized mels to hear instead of the segments' own (the acoustic
    # model's teacher-forced ones)
    frames: torch.Tensor | None = None


class BatchSampler:
    """Seeded random batches over the items (each rank passes its own seed)."""

    def __init__(self, items: list[Item], params: FeatureParams, seed: int,
                 wavenet_clean_only: bool = True):
        if not items:
            raise ValueError("no training utterances")
        self.items = items
        # WaveNet segments come from clean recordings when there are any
        clean = [it for it in items if it.clean] if wavenet_clean_only else []
        self.wavenet_items = clean or items
        self.params = params
        self.rng = np.random.default_rng(seed)
        by_speaker: dict[int, list[int]] = defaultdict(list)
        for i, item in enumerate(items):
            by_speaker[item.speaker].append(i)
        self.by_speaker = dict(by_speaker)

    def acoustic(self, batch_size: int) -> AcousticBatch:
        picks = self.rng.choice(len(self.items), size=batch_size, replace=len(self.items) < batch_size)
        items = [self.items[i] for i in picks]
        refs = []
        for i, item in zip(picks, items, strict=True):
            same = self.by_speaker[item.speaker]
            others = [j for j in same if j != i] or same
            refs.append(self.items[int(self.rng.choice(others))])
        hop = self.params.hop_length
        return AcousticBatch(
            ids=pad_right([it.ids.astype(np.int64) for it in items])[0],
            text_lens=torch.tensor([len(it.ids) for it in items]),
            audio=pad_right([pcm16_to_float(it.audio) for it in items])[0],
            mel_lens=torch.tensor([len(it.audio) // hop + 1 for it in items]),
            f0=pad_right([it.f0.astype(np.float32) for it in items])[0],
            speakers=torch.tensor([it.speaker for it in items]),
            ref_audio=pad_right([pcm16_to_float(r.audio) for r in refs])[0],
            ref_lens=torch.tensor([len(r.audio) // hop + 1 for r in refs]),
            ref_f0=pad_right([r.f0.astype(np.float32) for r in refs])[0],
            languages=tuple(it.language for it in items),
        )

    def wavenet(self, batch_size: int, segment: int) -> WaveNetBatch:
        """Random segments starting on frame boundaries, with the audio their mel frames need."""
        hop = self.params.hop_length
        picked, starts = [], []
        for _ in range(batch_size):
            item = self.wavenet_items[int(self.rng.integers(len(self.wavenet_items)))]
            picked.append(item)
            starts.append(int(self.rng.integers(0, L.segment_room(len(item.audio), segment, hop))))
        # only each segment's window is cut and converted, not whole utterances
        cuts = [L.cut_segment(torch.from_numpy(it.audio), start * hop, self.params, segment)
                for it, start in zip(picked, starts, strict=True)]
        segs = pcm16_to_float(torch.stack([seg for seg, _ in cuts]).numpy())
        ctx = pcm16_to_float(torch.stack([c for _, c in cuts]).numpy())
        return WaveNetBatch(torch.from_numpy(segs), torch.from_numpy(ctx),
                            torch.tensor([it.speaker for it in picked]))
