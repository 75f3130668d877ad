"""Build a synthetic multi-speaker corpus: plan, synthesize, derive, write the manifest, cache features.

Every output file is written atomically and skipped when it already exists, so a
killed build picks up where it stopped. ``plan.json`` records the configuration; a
folder planned with another configuration is refused rather than mixed.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import shutil
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import soundfile as sf
from tqdm import tqdm

from training.corpus.channel import Channel, apply_channel
from training.corpus.derive import SpeakerParams, transform
from training.corpus.feature_cache import FeatureCache
from training.corpus.manifest import Corpus, Speaker, Utterance, write_corpus
from training.corpus.plan import CorpusConfig, Plan, make_plan
from training.corpus.voices import (
    debian_packages,
    decode_recording,
    missing_tools,
    recorded_items,
    synthesize_batch,
    voice_by_name,
)
from voiceadapt.audio import SAMPLE_RATE, AudioLimits, decode, write_audio
from voiceadapt.audio.processing import loudness_normalize, to_mono, trim_silence
from voiceadapt.files import atomic_write_text

BASE_DIR, WAV_DIR, PLAN = "_base", "wavs", "plan.json"
_BATCH = 25


@dataclass
class BuildStats:
    base_synthesized: int = 0
    derived: int = 0
    skipped: int = 0
    features: int = 0
    seconds: float = 0.0


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def _parallel(fn: Callable[[Any], int], jobs: list[Any], workers: int, desc: str,
              total: int) -> int:
    """Run ``fn`` over ``jobs`` in ``workers`` processes; each job returns the utterances it did."""
    if not jobs:
        return 0
    done = 0
    with tqdm(total=total, desc=desc, unit="utt", mininterval=1.0) as bar:
        if workers <= 1:
            _init_worker()
            for job in jobs:
                done += fn(job)
                bar.update(done - bar.n)
            return done
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"),
                                 initializer=_init_worker) as pool:
            for future in as_completed([pool.submit(fn, job) for job in jobs]):
                done += future.result()
                bar.update(done - bar.n)
    return done


def _base_job(job: tuple[str, list[tuple[str, str]]]) -> int:
    """Make a batch of base items of one voice: (output path, text to say or recording path)."""
    voice = voice_by_name(job[0])
    items = job[1]
    if voice.engine == "recordings":
        audio = [decode_recording(Path(source)) for _, source in items]
    else:
        audio = synthesize_batch(voice, [text for _, text in items])
    for (path, _), samples in zip(items, audio, strict=True):
        write_audio(path, samples, SAMPLE_RATE, subtype="FLOAT")
    return len(items)


def _derive_job(job: tuple[str, str, dict[str, float], dict[str, Any] | None]) -> int:
    """Resynthesize one base item as a derived speaker, trimmed, through its channel, and
    level-normalized. A speaker with default parameters keeps the base audio as it is."""
    base_path, out_path, params, channel = job
    samples, rate = decode(base_path)
    y = to_mono(samples)
    speaker = SpeakerParams(**params)
    if not speaker.identity:
        y = transform(y, speaker, rate)
    limits = AudioLimits()
    y = trim_silence(y, rate, limits.silence_dbfs, pad_seconds=0.15)
    if len(y) < 0.1 * rate:
        raise RuntimeError(f"{base_path} holds no speech (under 0.1 s above silence)")
    if channel is not None:
        y = apply_channel(y, Channel(**channel), rate)
    y = loudness_normalize(y, rate, limits.target_dbfs, limits.silence_dbfs, limits.peak_limit)
    write_audio(out_path, y, rate)
    return 1


def _features_job(job: tuple[str, str]) -> int:
    cache_root, audio_path = job
    FeatureCache(cache_root).get(audio_path)
    return 1


def plan_digest(plan: Plan) -> str:
    """What every planned file will hold: utterance, voice, parameters, text, channel."""
    h = hashlib.sha256()
    params = {s.name: (s.voice, s.params.to_dict()) for s in plan.speakers}
    for u in plan.utterances:
        said = plan.text_of(u)
        h.update(json.dumps([u.id, params[u.speaker], u.item, said.normalized, said.phonemes,
                             u.channel.to_dict() if u.channel else None]).encode())
    return h.hexdigest()[:16]


def _check_plan_file(out: Path, config: CorpusConfig, digest: str | None = None) -> None:
    """Refuse a folder planned otherwise: another configuration, or (given the new plan's
    ``digest``) the same one whose inputs (sentence lists, transcripts, installed prompts)
    have changed since."""
    path = out / PLAN
    if path.exists():
        stored = json.loads(path.read_text())
        if stored["config"] != config.to_dict():
            raise ValueError(
                f"{out} was planned with another configuration ({path}); "
                "use a new --out folder or delete the old one"
            )
        if digest is not None and stored.get("digest", digest) != digest:
            raise ValueError(
                f"{out} was planned from other inputs (texts, transcripts or installed prompts "
                f"changed since; {path}): use a new --out folder or delete the old one"
            )


def build_corpus(config: CorpusConfig, out: str | Path, workers: int = 2,
                 cache: str | Path | None = None, keep_base: bool = False) -> tuple[Corpus, BuildStats]:
    """Build (or finish building) the corpus in ``out``; returns it with what was done."""
    started = time.perf_counter()
    out = Path(out)
    stats = BuildStats()
    voices = [voice_by_name(v) for v in config.voices]
    missing = missing_tools(voices)
    if missing:
        raise RuntimeError(f"speech synthesizers or recordings not installed: {missing}; as root: "
                           f"apt-get install {' '.join(debian_packages(voices))}")
    _check_plan_file(out, config)
    for stale in out.rglob("*.part"):  # half-written files from a killed build
        stale.unlink()
    plan = make_plan(config)
    digest = plan_digest(plan)
    _check_plan_file(out, config, digest)
    atomic_write_text(out / PLAN, json.dumps({
        "config": config.to_dict(),
        "digest": digest,
        "speakers": [{"name": s.name, "voice": s.voice, "split": s.split,
                      "params": s.params.to_dict()} for s in plan.speakers],
    }, indent=1))
    speakers = {s.name: s for s in plan.speakers}

    def base_path(voice: str, item: str) -> Path:
        return out / BASE_DIR / voice / f"{item}.wav"

    def wav_path(utt_id: str, speaker: str) -> Path:
        return out / WAV_DIR / speaker / f"{utt_id}.wav"

    todo = [u for u in plan.utterances if not wav_path(u.id, u.speaker).exists()]
    stats.skipped = len(plan.utterances) - len(todo)
    needed: dict[str, set[str]] = defaultdict(set)
    for u in todo:
        voice = speakers[u.speaker].voice
        if not base_path(voice, u.item).exists():
            needed[voice].add(u.item)
    synth_jobs = []
    for voice, keys in needed.items():
        if voice_by_name(voice).engine == "recordings":
            paths = {r.key: str(r.path) for r in recorded_items(voice_by_name(voice))}
            items = [(str(base_path(voice, k)), paths[k]) for k in sorted(keys)]
        else:
            items = [(str(base_path(voice, k)), plan.texts[(voice, k)].normalized)
                     for k in sorted(keys)]
        synth_jobs += [(voice, items[k : k + _BATCH]) for k in range(0, len(items), _BATCH)]
    stats.base_synthesized = _parallel(_base_job, synth_jobs, workers, "base voices",
                                       sum(len(items) for _, items in synth_jobs))

    derive_jobs = [(str(base_path(speakers[u.speaker].voice, u.item)),
                    str(wav_path(u.id, u.speaker)), speakers[u.speaker].params.to_dict(),
                    u.channel.to_dict() if u.channel is not None else None)
                   for u in todo]
    stats.derived = _parallel(_derive_job, derive_jobs, workers, "derived speakers",
                              len(derive_jobs))

    corpus = _write_manifest(out, plan)
    if cache is not None:
        feature_jobs = [(str(cache), str(corpus.audio_path(u))) for u in corpus.utterances]
        stats.features = _parallel(_features_job, feature_jobs, workers, "features",
                                   len(feature_jobs))
    if not keep_base and (out / BASE_DIR).exists():
        shutil.rmtree(out / BASE_DIR)
    stats.seconds = time.perf_counter() - started
    _record_build(out, stats)
    return corpus, stats


def _channel_label(channel: Channel | None) -> str:
    """"" for untouched audio, else the codec, or "analog" for room/EQ/noise alone."""
    if channel is None or channel.clean:
        return ""
    return "analog" if channel.codec == "none" else channel.codec


def _record_build(out: Path, stats: BuildStats) -> None:
    """``build.json``: work and wall time summed over every run that built this folder."""
    path = out / "build.json"
    total = json.loads(path.read_text()) if path.exists() else {"runs": 0}
    for key, value in vars(stats).items():
        if key != "skipped":
            total[key] = round(total.get(key, 0) + value, 1)
    total["runs"] += 1
    atomic_write_text(path, json.dumps(total, indent=1))


def _write_manifest(out: Path, plan: Plan) -> Corpus:
    speakers = {
        s.name: Speaker(name=s.name, split=s.split, source=s.voice, params=s.params.to_dict())
        for s in plan.speakers
    }
    split = {s.name: s.split for s in plan.speakers}
    utterances = []
    for u in plan.utterances:
        rel = Path(WAV_DIR) / u.speaker / f"{u.id}.wav"
        info = sf.info(str(out / rel))
        said = plan.text_of(u)
        utterances.append(Utterance(
            id=u.id, speaker=u.speaker, text=said.text, normalized=said.normalized,
            phonemes=said.phonemes, audio=str(rel),
            duration=round(info.frames / info.samplerate, 4), split=split[u.speaker],
            language=said.language,
            channel=_channel_label(u.channel),
        ))
    info = {
        "kind": "synthetic",
        "config": plan.config.to_dict(),
        "sample_rate": SAMPLE_RATE,
        **plan.info,
    }
    if plan.test_sentences:
        info["test_sentences"] = list(plan.test_sentences)
    return write_corpus(out, utterances, speakers, info)
