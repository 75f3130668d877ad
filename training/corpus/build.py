"""Build a synthetic multi-speaker corpus: plan, synthesize, derive, write the manifest, cache features.

Every output file is written atomically and skipped when it already exists, so a
killed build picks up where it stopped. ``plan.json`` records the configuration; a
folder planned with another configuration is refused rather than mixed.
"""

from __future__ import annotations

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

from training.corpus.derive import transform
from training.corpus.feature_cache import FeatureCache
from training.corpus.manifest import Corpus, Speaker, Utterance, write_corpus
from training.corpus.plan import CorpusConfig, Plan, make_plan
from training.corpus.voices import missing_tools, synthesize_batch, voice_by_name
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


def _synth_job(job: tuple[str, list[tuple[str, str]]]) -> int:
    """Synthesize a batch of (output path, text) pairs with one base voice."""
    voice_name, items = job
    audio = synthesize_batch(voice_by_name(voice_name), [text for _, text in items])
    for (path, _), samples in zip(items, audio, strict=True):
        write_audio(path, samples, SAMPLE_RATE, subtype="FLOAT")
    return len(items)


def _derive_job(job: tuple[str, str, dict[str, float]]) -> int:
    """Resynthesize one base recording as a derived speaker, trimmed and level-normalized."""
    from training.corpus.derive import SpeakerParams

    base_path, out_path, params = job
    samples, rate = decode(base_path)
    y = transform(to_mono(samples), SpeakerParams(**params), rate)
    limits = AudioLimits()
    y = trim_silence(y, rate, limits.silence_dbfs, pad_seconds=0.15)
    y = loudness_normalize(y, rate, limits.target_dbfs, limits.silence_dbfs, limits.peak_limit)
    write_audio(out_path, y, rate)
    return 1


def _features_job(job: tuple[str, str]) -> int:
    cache_root, audio_path = job
    FeatureCache(cache_root).get(audio_path)
    return 1


def _check_plan_file(out: Path, config: CorpusConfig) -> None:
    path = out / PLAN
    if path.exists():
        stored = json.loads(path.read_text())["config"]
        if stored != config.to_dict():
            raise ValueError(
                f"{out} was planned with another configuration ({path}); "
                "use a new --out folder or delete the old one"
            )


def build_corpus(config: CorpusConfig, out: str | Path, workers: int = 2,
                 cache: str | Path | None = None, keep_base: bool = False) -> tuple[Corpus, BuildStats]:
    """Build (or finish building) the corpus in ``out``; returns it with what was done."""
    started = time.perf_counter()
    out = Path(out)
    stats = BuildStats()
    missing = missing_tools([voice_by_name(v) for v in config.voices])
    if missing:
        raise RuntimeError(f"speech synthesizers not installed: {missing} (see .ci/run)")
    _check_plan_file(out, config)
    for stale in out.rglob("*.part"):  # half-written files from a killed build
        stale.unlink()
    plan = make_plan(config)
    atomic_write_text(out / PLAN, json.dumps({
        "config": config.to_dict(),
        "speakers": [{"name": s.name, "voice": s.voice, "split": s.split,
                      "params": s.params.to_dict()} for s in plan.speakers],
    }, indent=1))
    speakers = {s.name: s for s in plan.speakers}

    def base_path(voice: str, sentence: int) -> Path:
        return out / BASE_DIR / voice / f"{sentence:05d}.wav"

    def wav_path(utt_id: str, speaker: str) -> Path:
        return out / WAV_DIR / speaker / f"{utt_id}.wav"

    todo = [u for u in plan.utterances if not wav_path(u.id, u.speaker).exists()]
    stats.skipped = len(plan.utterances) - len(todo)
    needed: dict[str, set[int]] = defaultdict(set)
    for u in todo:
        voice = speakers[u.speaker].voice
        if not base_path(voice, u.sentence).exists():
            needed[voice].add(u.sentence)
    synth_jobs = []
    for voice, sentence_ids in needed.items():
        items = [(str(base_path(voice, i)), plan.sentences.normalized[i]) for i in sorted(sentence_ids)]
        synth_jobs += [(voice, items[k : k + _BATCH]) for k in range(0, len(items), _BATCH)]
    stats.base_synthesized = _parallel(_synth_job, synth_jobs, workers, "base voices",
                                       sum(len(items) for _, items in synth_jobs))

    derive_jobs = [(str(base_path(speakers[u.speaker].voice, u.sentence)),
                    str(wav_path(u.id, u.speaker)), speakers[u.speaker].params.to_dict())
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
    return corpus, stats


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
        utterances.append(Utterance(
            id=u.id, speaker=u.speaker, text=plan.sentences.texts[u.sentence],
            normalized=plan.sentences.normalized[u.sentence],
            phonemes=plan.sentences.phonemes[u.sentence], audio=str(rel),
            duration=round(info.frames / info.samplerate, 4), split=split[u.speaker],
        ))
    covered, fraction = plan.sentences.coverage()
    info = {
        "kind": "synthetic",
        "config": plan.config.to_dict(),
        "sample_rate": SAMPLE_RATE,
        "diphone_coverage": {"covered": covered, "pool": plan.sentences.pool_diphones,
                             "fraction": round(fraction, 4)},
    }
    return write_corpus(out, utterances, speakers, info)
