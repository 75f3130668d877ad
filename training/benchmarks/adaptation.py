"""The adaptation benchmark: each mode against seconds of reference audio, on unseen speakers.

For every dev speaker of the corpus (never seen in training) and every amount of reference
audio (whole clips of the speaker's own sentences, in order, until the amount is reached):
adapt with each mode, store the profile, and speak ``--sentences`` test sentences that no
training speaker said and that the dev speaker recorded (those recordings are held out of
the reference). The judges (``eval`` extra) then measure:

- similarity: resemblyzer cosine between each synthesized utterance and the speaker's
  enrollment (mean d-vector of its held-out real recordings); ceiling: each real held-out
  recording against the others (leave-one-out); floor: the unadapted average voice;
- EER: synthesized utterances scored against every dev speaker's enrollment;
- WER: pocketsphinx on the synthesized sentences, next to the speaker's own recordings;
- DNSMOS OVRL; adaptation wall time and peak memory on this machine; bytes stored.

    python -m training.benchmarks.adaptation --corpus data/corpus \
        --out docs/adaptation_benchmark_in_distribution
    python -m training.benchmarks.adaptation --corpus data/lvo --seconds 10 30 --sentences 12 \
        --out docs/adaptation_benchmark_lvo

writes ``<out>.json``, ``<out>.md`` and ``<out>.png``.

On a leave-voice-out corpus (``python -m training corpus build --preset leave-voice-out``: whole
persons no training speaker derives from, as they are) every speaker is tested on the
corpus's English test sentences; its enrollment and ceiling are its own held-out clips
(the test sentences where it is an English voice that said them, else clips in its own
language, whose WER is not measured), its reference pool the rest of its transcribed
clips, fitted in its own language. Results are reported per group (held-out persons; the
espeak-ng accent family, in-distribution by nature) and per speaker.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from training.benchmarks.report import write_report
from training.corpus.manifest import Corpus, Utterance, read_corpus
from training.evaluate_model import copy_synthesis
from training.judges import Judges, unit_mean, words
from voiceadapt import adapt
from voiceadapt.audio import load_audio
from voiceadapt.files import atomic_write_text, folder_bytes
from voiceadapt.inference.synthesize import load, synthesize
from voiceadapt.models.backbone import Backbone
from voiceadapt.names import VOCODERS

MODES = adapt.MODE_NAMES
SECONDS = (5.0, 10.0, 30.0, 60.0)
BASELINES = ("average voice", "lookup")
COPY_CLIPS = 4  # held-out recordings per speaker copy-synthesized through each vocoder
LOOKUP_NEAREST = 20


# -- memory: the kernel's peak-RSS counter, reset before each adaptation ------------------
def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def measured(run: Callable[[], adapt.VoiceProfile]) -> tuple[adapt.VoiceProfile, float, float | None]:
    """(profile, wall seconds, peak RSS above the starting RSS in MB, None if unmeasurable)."""
    before = _status_kb("VmRSS")
    can_measure = _reset_peak()
    started = time.perf_counter()
    profile = run()
    seconds = time.perf_counter() - started
    peak = (_status_kb("VmHWM") - before) / 1024 if can_measure else None
    return profile, seconds, peak


# -- speaker verification --------------------------------------------------------------------
def equal_error_rate(scores: np.ndarray, targets: np.ndarray) -> float:
    """EER of a detector: the rate where false acceptances equal false rejections."""
    order = np.argsort(-scores)
    t = targets[order].astype(float)
    n_target, n_impostor = t.sum(), (1 - t).sum()
    if n_target == 0 or n_impostor == 0:
        return float("nan")
    false_reject = 1 - np.cumsum(t) / n_target  # accept the top k
    false_accept = np.cumsum(1 - t) / n_impostor
    i = int(np.argmin(np.abs(false_reject - false_accept)))
    return float((false_reject[i] + false_accept[i]) / 2)


def pooled_eer(enroll: dict[str, np.ndarray], trials: list[tuple[str, np.ndarray]]) -> float:
    """EER of (true speaker, d-vector) trials, each scored against every speaker's enrollment."""
    names = sorted(enroll)
    matrix = np.stack([enroll[s] for s in names])
    scores = np.concatenate([matrix @ vector for _, vector in trials])
    targets = np.concatenate([np.array([s == speaker for s in names]) for speaker, _ in trials])
    return equal_error_rate(scores, targets)


def enrollment(judges: Judges, wavs: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray, list[float]]:
    """A speaker's held-out recordings judged: their d-vectors, the enrollment (their unit
    mean) and each one's similarity to the others' (leave-one-out: the ceiling's terms)."""
    if len(wavs) < 2:
        raise ValueError(f"a leave-one-out ceiling needs 2 held-out recordings or more, got {len(wavs)}")
    vectors = [judges.dvector(w) for w in wavs]
    enroll = unit_mean(vectors)  # the d-vectors above, not embedded a second time
    loo = [float(v @ e) for v, e in zip(vectors, leave_one_out(vectors), strict=True)]
    return vectors, enroll, loo


# -- data ------------------------------------------------------------------------------------
def split_speaker(corpus: Corpus, speaker: str, train_texts: set[str], sentences: int,
                  ) -> tuple[list[Utterance], list[Utterance], list[str]]:
    """(reference pool, held-out real utterances, test texts to synthesize).

    A corpus with ``test_sentences`` (leave-voice-out) tests on those; a speaker that said
    them is enrolled on those recordings, any other on its own held-out clips (untranscribed
    prompts first). Otherwise tests are the speaker's sentences no training speaker said."""
    utts = [u for u in corpus.utterances if u.speaker == speaker]
    fixed = corpus.info.get("test_sentences")
    if not fixed:
        test = [u for u in utts if u.normalized not in train_texts][:sentences]
        return [u for u in utts if u.transcribed and u not in test], test, [u.normalized for u in test]
    texts = list(fixed[:sentences])
    said = [u for u in utts if u.normalized in texts]
    if len(said) == len(texts):
        real = sorted(said, key=lambda u: texts.index(u.normalized))
    else:
        unsaid = [u for u in utts if not u.transcribed]
        real = (unsaid + [u for u in reversed(utts) if u.transcribed])[:sentences]
    pool = [u for u in utts if u.transcribed and u not in real]
    return pool, real, texts


def speaker_group(corpus: Corpus, speaker: str, model_speakers: list[str]) -> str:
    """The line a speaker is reported in. A held-out voice that the model under test was
    trained on (the bundled model heard flite rms) is reported apart: for that model it is
    not leave-voice-out."""
    if not corpus.info.get("test_sentences"):
        return "in-distribution dev speakers (WORLD variants of training voices)"
    source = corpus.speakers[speaker].source
    if any(s.startswith(source + "-") for s in model_speakers):
        return "held out of corpus v2, but heard by this model in training"
    if source.startswith("espeak-"):
        return "espeak-ng accent family held out (in-distribution by nature)"
    return "held-out persons (leave-voice-out)"


def take_seconds(pool: list[Utterance], seconds: float) -> list[Utterance]:
    out, total = [], 0.0
    for u in pool:
        if total >= seconds:
            break
        out.append(u)
        total += u.duration
    return out


# -- the benchmark ---------------------------------------------------------------------------
def run(model: Backbone, corpus: Corpus, speakers: list[str], seconds: tuple[float, ...],
        modes: tuple[str, ...], sentences: int, cfg: adapt.FitConfig, judges: Judges,
        log: Callable[[str], None] = print, parts: Path | None = None) -> dict[str, object]:
    """Benchmark every speaker, the fitting modes fitting by ``cfg``. With ``parts``, each
    finished speaker's results are kept there as JSON, and a rerun (same arguments) skips
    those speakers: resumable."""
    train_texts = {u.normalized for u in corpus.split("train")}
    warm = False
    settings = {"seconds": list(seconds), "modes": list(modes), "sentences": sentences,
                "steps": cfg.steps, "backbone": adapt.backbone_fingerprint(model)}
    if cfg.heldout_voice != adapt.FitConfig.heldout_voice:
        settings["heldout_voice"] = cfg.heldout_voice
    if cfg.refit != adapt.FitConfig.refit:
        settings["refit"] = cfg.refit
    if cfg.mel_offset:  # recorded whenever on, so parts made without it never pass for it
        settings["mel_offset"] = True
    enroll, real, trials, rows = {}, {}, [], []  # trials: (speaker, mode, seconds, d-vector)
    for spk in speakers:
        part_file = parts / f"{spk}.json" if parts is not None else None
        part = _kept(part_file, settings)
        if part is not None:
            log(f"{spk}: kept from {part_file}")
        else:
            if not warm:
                _warm_up(corpus, speakers[0], modes, model)
                warm = True
            part = _run_speaker(model, corpus, spk, train_texts, seconds, modes, sentences, cfg,
                                judges, log)
            part["settings"] = settings
            if part_file is not None:
                part_file.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_text(part_file, json.dumps(part, default=float))
        enroll[spk] = np.asarray(part["enroll"], dtype=np.float32)
        real[spk] = part["real"]
        rows.extend(part["rows"])
        trials.extend((t[0], t[1], t[2], np.asarray(t[3], dtype=np.float32))
                      for t in part["trials"])
    for spk, value in same_sex_floor(corpus, real, enroll).items():
        real[spk]["same_sex_floor"] = value
    result = summarize(rows, real, enroll, trials, modes, seconds)
    groups: dict[str, list[str]] = {}
    for spk in speakers:
        groups.setdefault(speaker_group(corpus, spk, model.speakers), []).append(spk)
    if len(groups) > 1 or corpus.info.get("test_sentences"):
        # each group's trials are still scored against every speaker's enrollment (EER)
        result["groups"] = {
            name: summarize([r for r in rows if r["speaker"] in members],
                            {s: real[s] for s in members}, enroll,
                            [t for t in trials if t[0] in members], modes, seconds)
            | {"speakers": members}
            for name, members in groups.items()}
        result["per_speaker"] = per_speaker(rows, real, seconds)
    # what the fits were given (heldout_voice, refit, mel_offset where not the default)
    result["settings"] = settings
    return result


def _kept(part_file: Path | None, settings: dict) -> dict | None:
    """A speaker's results from an earlier run with the same settings, or None."""
    if part_file is None or not part_file.exists():
        return None
    part = json.loads(part_file.read_text())
    return part if part.get("settings") == settings else None


def _run_speaker(model: Backbone, corpus: Corpus, spk: str, train_texts: set[str],
                 seconds: tuple[float, ...], modes: tuple[str, ...], sentences: int,
                 cfg: adapt.FitConfig, judges: Judges, log: Callable[[str], None]) -> dict:
    average = model.speaker_table.weight.mean(0).detach()
    trials: list = []
    rows = []
    pool, test, texts = split_speaker(corpus, spk, train_texts, sentences)
    language = pool[0].language if pool else "en-us"
    cfg = dataclasses.replace(cfg, language=language)
    real_wavs = [load_audio(corpus.audio_path(u)).samples for u in test]
    vectors, enroll, loo = enrollment(judges, real_wavs)
    said_tests = [u.normalized for u in test] == texts
    wer = judges.wer(texts, real_wavs)[0] if said_tests else None
    real = {"similarity": float(np.mean(loo)), "wer": wer,
            "dnsmos_ovrl": float(np.mean([judges.dnsmos(w) for w in real_wavs])),
            "language": language, "reference_pool_s": round(sum(u.duration for u in pool), 1)}
    real["vectors"] = [np.asarray(v).tolist() for v in vectors]
    # the baselines' reference: the shortest amount, encoded once by the model's encoder
    baseline_refs = take_seconds(pool, seconds[0])
    g_ref = adapt.adapt_sea_enc(model, [corpus.audio_path(u) for u in baseline_refs]).embedding
    real["copy_synthesis"] = copy_synthesis_similarity(model, judges, real_wavs[:COPY_CLIPS],
                                            leave_one_out(vectors)[:COPY_CLIPS], g_ref)
    floor = [synthesize(t, embedding=average, model=model)[0] for t in texts]
    rows.append(_score(judges, spk, "average voice", 0.0, texts, floor, enroll, trials))
    lookup, candidates = lookup_speaker(model, judges, g_ref, texts, enroll)
    wavs = [synthesize(t, embedding=model.speaker_embedding(lookup), model=model)[0] for t in texts]
    row = _score(judges, spk, "lookup", 0.0, texts, wavs, enroll, trials)
    row.update({"lookup_speaker": lookup, "lookup_candidates": candidates,
                "reference_seconds": sum(u.duration for u in baseline_refs)})
    rows.append(row)
    for amount in seconds:
        refs_u = take_seconds(pool, amount)
        refs = [corpus.audio_path(u) for u in refs_u]
        ref_texts = [u.text for u in refs_u]
        for mode in modes:
            profile, wall, peak = measured(functools.partial(fit, model, mode, refs, ref_texts,
                                                             cfg))
            with tempfile.TemporaryDirectory() as tmp:
                stored = folder_bytes(adapt.save_profile(profile, Path(tmp) / "voice"))
            wavs = [synthesize(t, voice=profile, model=model)[0] for t in texts]
            row = _score(judges, spk, mode, amount, texts, wavs, enroll, trials)
            row.update({"reference_seconds": profile.seconds, "adapt_s": wall,
                        "peak_mb": peak, "bytes": stored, "kept_step": profile.steps})
            rows.append(row)
            log(f"{spk} {mode:8s} {amount:4.0f}s: similarity {row['similarity']:.3f} "
                f"WER {row['wer']:.2f} fit {wall:.1f}s")
    return {"enroll": enroll.tolist(), "real": real, "rows": rows,
            "trials": [(t[0], t[1], t[2], np.asarray(t[3]).tolist()) for t in trials]}


def leave_one_out(vectors: list[np.ndarray]) -> list[np.ndarray]:
    """For each d-vector, the unit mean of the others: the enrollment it is scored against."""
    out = []
    for i in range(len(vectors)):
        others = np.mean([v for j, v in enumerate(vectors) if j != i], axis=0)
        out.append(others / np.linalg.norm(others))
    return out


def copy_synthesis_similarity(model: Backbone, judges: Judges, wavs: list[np.ndarray],
                   enrollments: list[np.ndarray], g: torch.Tensor) -> dict[str, float]:
    """The vocoder's ceiling: the speaker's own held-out recordings' log-mels through each
    vocoder (the WaveNet conditioned on ``g``, the SEA-ENC embedding of the reference
    clips), each against its leave-one-out enrollment, as the ceiling is measured."""
    out = {}
    for vocoder in VOCODERS:
        sims = [float(judges.dvector(copy_synthesis(model, wav, g, vocoder)) @ enrollment)
                for wav, enrollment in zip(wavs, enrollments, strict=True)]
        out[vocoder] = float(np.mean(sims))
    return out


def lookup_speaker(model: Backbone, judges: Judges, g: torch.Tensor, texts: list[str],
                   enroll: np.ndarray, nearest: int = LOOKUP_NEAREST, probe: int = 2,
                   ) -> tuple[str, list[str]]:
    """The lookup baseline's speaker: among the ``nearest`` training speakers to ``g`` (the
    reference clips by the model's own encoder; cosine to the table), the one whose unadapted
    voice speaking ``probe`` test sentences is most similar to the enrollment (the judge picks
    it: a baseline no adaptation mode can do better than by choosing)."""
    table = model.speaker_table.weight.detach()
    cos = torch.nn.functional.normalize(table, dim=-1) @ torch.nn.functional.normalize(g, dim=0)
    candidates = [model.speakers[i] for i in cos.topk(min(nearest, len(table))).indices.tolist()]
    best, best_sim = candidates[0], -2.0
    for name in candidates:
        wavs = [synthesize(t, embedding=model.speaker_embedding(name), model=model)[0]
                for t in texts[:probe]]
        sim = float(np.mean([judges.dvector(w) @ enroll for w in wavs]))
        if sim > best_sim:
            best, best_sim = name, sim
    return best, candidates


def same_sex_floor(corpus: Corpus, real: dict, enroll: dict) -> dict[str, float | None]:
    """Per speaker: other same-sex speakers' real held-out recordings against its enrollment
    (None when the set has no other speaker of that sex)."""
    sex = {spk: speaker_sex(corpus, spk) for spk in real}
    out: dict[str, float | None] = {}
    for spk in real:
        others = [np.asarray(v) @ enroll[spk] for o in real if o != spk and sex[o] == sex[spk]
                  and sex[o] is not None for v in real[o].get("vectors", [])]
        out[spk] = float(np.mean(others)) if others else None
    return out


def speaker_sex(corpus: Corpus, speaker: str) -> str | None:
    from training.corpus.voices import voice_by_name

    try:
        return voice_by_name(corpus.speakers[speaker].source).sex
    except (KeyError, ValueError):
        return None


def fit(model: Backbone, mode: str, refs: list, texts: list[str], cfg: adapt.FitConfig,
        ) -> adapt.VoiceProfile:
    return adapt.adapt(model, mode, refs, texts, cfg=cfg)


def _warm_up(corpus: Corpus, speaker: str, modes: tuple[str, ...],
             model: Backbone) -> None:
    """One tiny unmeasured run per mode first: lazy initializations (phonemizer, caches,
    allocator) would otherwise land in the first measured adaptation's time and memory."""
    utt = next(u for u in corpus.utterances if u.speaker == speaker and u.transcribed)
    for mode in modes:
        fit(model, mode, [corpus.audio_path(utt)] * 2, [utt.text] * 2,
            adapt.FitConfig(steps=1, language=utt.language))
    synthesize("Warm up.", embedding=model.speaker_table.weight[0].detach(), model=model)


def _score(judges: Judges, spk: str, mode: str, amount: float, texts: list[str],
           wavs: list[np.ndarray], enrollment: np.ndarray, trials: list) -> dict[str, object]:
    vectors = [judges.dvector(w) for w in wavs]
    trials.extend((spk, mode, amount, v) for v in vectors)
    wer, hyps = judges.wer(texts, wavs)
    return {"speaker": spk, "mode": mode, "seconds": amount,
            "similarity": float(np.mean([v @ enrollment for v in vectors])), "wer": wer,
            "dnsmos_ovrl": float(np.mean([judges.dnsmos(w) for w in wavs])),
            "example": {"ref": words(texts[0]), "hyp": hyps[0]}}


def summarize(rows: list[dict], real: dict, enroll: dict, trials: list, modes: tuple[str, ...],
              seconds: tuple[float, ...]) -> dict[str, object]:
    names = sorted(enroll)
    table = []
    for mode, amount in [(b, 0.0) for b in BASELINES] + [(m, s) for s in seconds for m in modes]:
        sel = [r for r in rows if r["mode"] == mode and r["seconds"] == amount]
        mine = [t for t in trials if t[1] == mode and t[2] == amount]
        if not mine:  # parts from before the lookup baseline existed
            continue
        entry = {"mode": mode, "seconds": amount,
                 "eer": pooled_eer(enroll, [(t[0], t[3]) for t in mine])}
        for key in ("similarity", "wer", "dnsmos_ovrl", "adapt_s", "peak_mb", "bytes",
                    "reference_seconds"):
            values = [r[key] for r in sel if r.get(key) is not None]
            entry[key] = float(np.mean(values)) if values else None
        kept = [r["kept_step"] for r in sel if r.get("kept_step") is not None]
        # a SEA-EMB fit kept at step 0 is SEA-ENC: the share says how often the fit helped
        entry["kept_step0_share"] = (float(np.mean([k == 0 for k in kept]))
                                     if kept and mode == "sea-emb" else None)
        table.append(entry)
    ceiling = {}
    for k in ("similarity", "wer", "dnsmos_ovrl", "same_sex_floor"):
        values = [v[k] for v in real.values() if v.get(k) is not None]
        ceiling[k] = float(np.mean(values)) if values else None
    for vocoder in VOCODERS:
        values = [v["copy_synthesis"][vocoder] for v in real.values() if "copy_synthesis" in v]
        ceiling[f"copy_{vocoder}"] = float(np.mean(values)) if values else None
    return {"speakers": names, "ceiling": ceiling, "table": table, "rows": rows}


def per_speaker(rows: list[dict], real: dict, seconds: tuple[float, ...]) -> list[dict]:
    """Similarity per speaker: its ceiling, the average voice, and each mode at each length."""
    out = []
    for spk in sorted(real):
        copy = real[spk].get("copy_synthesis", {})
        entry: dict[str, object] = {"speaker": spk, "language": real[spk].get("language"),
                                    "ceiling": real[spk]["similarity"],
                                    "copy GL": copy.get("griffin-lim"),
                                    "copy WaveNet": copy.get("wavenet"),
                                    "same-sex floor": real[spk].get("same_sex_floor")}
        for r in rows:
            if r["speaker"] == spk:
                key = r["mode"] if r["mode"] in BASELINES else f"{r['mode']}@{r['seconds']:g}"
                entry[key] = r["similarity"]
        out.append(entry)
    return out


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, spec)


def markdown(result: dict) -> str:
    if "groups" not in result:
        return _table(result)
    parts = []
    for name, group in result["groups"].items():
        parts += [f"### {name}", "", _table(group)]
    rows = result["per_speaker"]
    keys = [k for k in rows[0] if k not in ("speaker", "language")] if rows else []
    parts += ["### similarity per speaker", "",
              "| speaker | language | " + " | ".join(keys) + " |", "|---" * (len(keys) + 2) + "|"]
    parts += [f"| {r['speaker']} | {r['language']} | "
              + " | ".join(_fmt(r.get(k), ".3f") for k in keys) + " |" for r in rows]
    return "\n".join(parts) + "\n"


def _table(result: dict) -> str:
    c = result["ceiling"]
    fmt = _fmt
    lines = [f"Dev speakers: {len(result['speakers'])}. Ceiling (the speakers' own held-out "
             f"recordings): similarity {fmt(c['similarity'], '.3f')}, WER {fmt(c['wer'], '.2f')}, "
             f"DNSMOS {fmt(c['dnsmos_ovrl'], '.2f')}. Copy-synthesis of those recordings (the "
             f"vocoder's ceiling): Griffin-Lim {fmt(c.get('copy_griffin-lim'), '.3f')}, WaveNet "
             f"{fmt(c.get('copy_wavenet'), '.3f')}. Same-sex floor (other speakers' real "
             f"recordings): {fmt(c.get('same_sex_floor'), '.3f')}.", "",
             "| mode | reference (s) | similarity | EER | WER | DNSMOS | adapt (s) | peak MB | "
             "bytes stored |", "|---" * 9 + "|"]

    for e in result["table"]:
        lines.append(f"| {e['mode']} | {fmt(e['reference_seconds'], '.1f')} | "
                     f"{fmt(e['similarity'], '.3f')} | {fmt(e['eer'], '.1%')} | {fmt(e['wer'], '.2f')} | "
                     f"{fmt(e['dnsmos_ovrl'], '.2f')} | {fmt(e['adapt_s'], '.2f')} | "
                     f"{fmt(e['peak_mb'], '.0f')} | {fmt(e['bytes'], ',.0f')} |")
    kept = [(e["seconds"], e["kept_step0_share"]) for e in result["table"]
            if e.get("kept_step0_share") is not None]
    if kept:
        lines += ["", "SEA-EMB fits that early stopping kept at step 0 (= SEA-ENC): "
                  + ", ".join(f"{share:.0%} at {sec:g} s" for sec, share in kept) + "."]
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    modes = sorted({e["mode"] for e in result["table"]} - set(BASELINES), key=MODES.index)
    for mode in modes:
        pts = [(e["seconds"], e["similarity"]) for e in result["table"] if e["mode"] == mode]
        ax.plot(*zip(*pts, strict=True), marker="o", label=mode)
    ax.axhline(result["ceiling"]["similarity"], color="black", linestyle="--", label="ceiling")
    floor = next(e["similarity"] for e in result["table"] if e["mode"] == "average voice")
    ax.axhline(floor, color="gray", linestyle=":", label="average voice")
    ax.set_xscale("log")
    ax.set_xlabel("seconds of reference audio")
    ax.set_ylabel("speaker similarity (resemblyzer cosine)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="checkpoint (default: the bundled model)")
    parser.add_argument("--corpus", default="data/corpus")
    parser.add_argument("--speakers", type=int, default=0,
                        help="N dev speakers spread over the sorted list, so over the base voices "
                        "(0: all)")
    parser.add_argument("--only", nargs="+", default=[],
                        help="these dev speakers by name (e.g. the leave-voice-out persons)")
    parser.add_argument("--seconds", type=float, nargs="+", default=list(SECONDS))
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--sentences", type=int, default=5, help="test sentences per speaker")
    parser.add_argument("--steps", type=int, default=adapt.FitConfig.steps)
    parser.add_argument("--mel-offset", action=argparse.BooleanOptionalAction,
                        default=adapt.FitConfig.mel_offset,
                        help="add the voice's mel offset to every fitted profile "
                        "(FitConfig.mel_offset)")
    parser.add_argument("--refit", action="store_true",
                        help="SEA-ALL/PATCH fit again on every clip for the steps early stopping "
                        "chose (FitConfig.refit)")
    parser.add_argument("--heldout-voice", type=float, default=adapt.FitConfig.heldout_voice,
                        help="weight of the held-out voice distance in early stopping's score "
                        "(FitConfig.heldout_voice)")
    parser.add_argument("--out", required=True, help="path prefix for .json, .md and .png")
    parser.add_argument("--parts", help="where finished speakers are kept so a rerun resumes "
                        "(default: OUT.parts/; delete it to start over)")
    parser.add_argument("--from-parts", action="store_true",
                        help="only summarize the speakers already finished in --parts (a "
                        "partial run's table while it goes on)")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    model = load(args.model)
    if model.recommended_vocoder is None:
        # "auto" would then mean the WaveNet, whose copy-synthesis ceiling (about 0.5) caps
        # every mode: a checkpoint from a run that trained or replaced the WaveNet names none,
        # and so did every trainer checkpoint before 2026-11-27 (a whole run was measured
        # through it by mistake)
        raise SystemExit(f"{args.model} recommends no vocoder: save it with extra "
                         "{'vocoder': 'griffin-lim'} (or 'wavenet') to say which it speaks through")
    corpus = read_corpus(args.corpus)
    speakers = sorted({u.speaker for u in corpus.split("dev")})
    if args.only:
        unknown = sorted(set(args.only) - set(speakers))
        if unknown:
            parser.error(f"not dev speakers of {args.corpus}: {', '.join(unknown)}")
        speakers = [s for s in speakers if s in set(args.only)]
    elif 0 < args.speakers < len(speakers):
        step = len(speakers) / args.speakers
        speakers = [speakers[int(i * step)] for i in range(args.speakers)]
    out = Path(args.out)
    parts = Path(args.parts) if args.parts else out.parent / f"{out.name}.parts"
    if args.from_parts:
        speakers = [s for s in speakers if (parts / f"{s}.json").exists()]
        if not speakers:
            parser.error(f"no finished speakers in {parts}")
    if args.heldout_voice < 0:
        parser.error("--heldout-voice must be >= 0")
    if args.sentences < 2:
        parser.error("--sentences: 2 or more (the ceiling leaves one recording out)")
    cfg = adapt.FitConfig(steps=args.steps, heldout_voice=args.heldout_voice, refit=args.refit,
                          mel_offset=args.mel_offset)
    result = run(model, corpus, speakers, tuple(args.seconds), tuple(args.modes), args.sentences,
                 cfg, Judges(), parts=parts)
    write_report(out, result, markdown(result))
    plot(result, out.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
