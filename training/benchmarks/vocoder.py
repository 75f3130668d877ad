"""The WaveNet against Griffin-Lim (issue 14): copy-synthesis and TTS, WER, DNSMOS and
speaker similarity, on training speakers and on the leave-voice-out voices.

Systems (same bundled acoustic model unless said):

- ``griffin-lim``: the shipped path;
- ``wavenet-speaker``: a speaker-conditioned WaveNet checkpoint with its own acoustic model
  (``--speaker-wavenet``, e.g. the shared H200 checkpoint);
- ``wavenet-universal``: the vocoder file (``--vocoder-file``, the relays' newest) installed
  into the bundled model: mel frames alone.

Sets and kinds:

- in-distribution: ``tts`` for one training speaker per base voice of ``--corpus`` (table
  embedding, sentences no training speaker said), enrolled on 4 of its recordings;
  ``copy`` for one dev speaker per base voice (WORLD variants never trained on): its
  recordings' log-mels through the vocoder, enrolled on 4 other recordings;
- the leave-voice-out corpus (``--lvo``): ``copy`` of each voice's held-out recordings,
  ``tts`` of the test sentences by SEA-ENC from 10 s of its reference pool, both enrolled on
  that pool; each voice reported in its group (``adaptation.speaker_group``): persons the
  bundled model never heard, a voice it heard in training, the espeak-ng family.

``recordings`` rows score the real clips the same way (the ceiling). WER is left out for
recordings that are not transcribed English. Per-speaker results are kept in OUT.parts/, so a
rerun with the same arguments resumes.

    python -m training.benchmarks.vocoder --corpus data/corpus --lvo data/lvo \\
        --speaker-wavenet ../shared/checkpoints/backbone-wavenet-h200-9.9k.safetensors \\
        --vocoder-file training/relay_weights/vocoder.safetensors --out docs/vocoder_benchmark
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from training.benchmarks.adaptation import speaker_group, split_speaker, take_seconds
from training.benchmarks.report import write_report
from training.corpus.manifest import Corpus, Utterance, read_corpus
from training.evaluate_model import base_voice, copy_synthesis, pick_speakers
from training.judges import Judges, speaker_embedding
from voiceadapt import adapt
from voiceadapt.adapt.profile import backbone_fingerprint
from voiceadapt.audio import load_audio
from voiceadapt.files import atomic_write_text, sha256_file
from voiceadapt.inference.synthesize import load, synthesize
from voiceadapt.models.backbone import Backbone

ENROLL_CLIPS = 4
REFERENCE_S = 10.0


def systems(speaker_wavenet: str | None, vocoder_file: str | None,
            ) -> dict[str, tuple[Backbone, str]]:
    bundled = load()
    out = {"griffin-lim": (bundled, "griffin-lim")}
    if speaker_wavenet:
        out["wavenet-speaker"] = (load(speaker_wavenet), "wavenet")
    if vocoder_file:
        from training.vocoder import install, load_vocoder

        out["wavenet-universal"] = (install(bundled, load_vocoder(vocoder_file)), "wavenet")
    return out


def _wavs(corpus: Corpus, utts: list[Utterance]) -> list[np.ndarray]:
    return [load_audio(corpus.audio_path(u)).samples for u in utts]


def _english_refs(utts: list[Utterance]) -> list[str] | None:
    ok = all(u.transcribed and u.language.startswith("en") for u in utts)
    return [u.normalized for u in utts] if ok else None


def score(judges: Judges, wavs: list[np.ndarray], refs: list[str] | None,
          enrollment: np.ndarray) -> dict[str, float | None]:
    return {"wer": judges.wer(refs, wavs)[0] if refs else None,
            "dnsmos": float(np.mean([judges.dnsmos(w) for w in wavs])),
            "similarity": float(np.mean([judges.dvector(w) @ enrollment for w in wavs]))}


def speaker_jobs(corpus: Corpus | None, lvo: Corpus | None, sentences: int, bundled: Backbone,
                 ) -> list[dict]:
    """Every (set, kind, speaker) with its clips, texts and enrollment clips."""
    jobs: list[dict] = []
    if corpus is not None:
        train = corpus.split("train")
        said = {u.normalized for u in train}
        unseen = sorted({u.normalized for u in corpus.split("dev")} - said)[:sentences]
        for spk in pick_speakers(bundled, {u.speaker for u in train}):
            own = [u for u in train if u.speaker == spk]
            jobs.append({"set": "in-distribution", "kind": "tts", "speaker": spk, "texts": unseen,
                         "enroll": own[:ENROLL_CLIPS], "corpus": corpus})
        dev_by_voice: dict[str, str] = {}
        for u in corpus.split("dev"):
            dev_by_voice.setdefault(base_voice(u.speaker), u.speaker)
        for spk in sorted(dev_by_voice.values()):
            own = [u for u in corpus.utterances if u.speaker == spk]
            jobs.append({"set": "in-distribution", "kind": "copy", "speaker": spk,
                         "clips": own[:sentences], "corpus": corpus,
                         "enroll": own[sentences:sentences + ENROLL_CLIPS]})
    if lvo is not None:
        for spk in sorted(lvo.speakers):
            pool, real, texts = split_speaker(lvo, spk, set(), sentences)
            reference = take_seconds(pool, REFERENCE_S)
            # only persons the model never heard count as leave-voice-out (flite rms was in
            # the bundled model's training; the espeak family is reported apart)
            group = speaker_group(lvo, spk, bundled.speakers)
            jobs.append({"set": group, "kind": "copy", "speaker": spk, "clips": real,
                         "enroll": reference, "corpus": lvo})
            jobs.append({"set": group, "kind": "tts", "speaker": spk, "texts": texts,
                         "enroll": reference, "corpus": lvo})
    return jobs


def run_job(job: dict, systems_: dict[str, tuple[Backbone, str]], judges: Judges,
            log: Callable[[str], None], temperature: float = 1.0) -> list[dict]:
    """Score every system on one job; ``temperature`` is the WaveNets' sampling temperature."""
    corpus: Corpus = job["corpus"]
    enrollment = speaker_embedding(judges, _wavs(corpus, job["enroll"]))
    base = {"set": job["set"], "kind": job["kind"], "speaker": job["speaker"]}
    rows = []
    if job["kind"] == "copy":
        real = _wavs(corpus, job["clips"])
        refs = _english_refs(job["clips"])
        rows.append({**base, "system": "recordings", **score(judges, real, refs, enrollment)})
    for name, (model, vocoder) in systems_.items():
        start = time.perf_counter()
        if job["kind"] == "copy":
            g = adapt.adapt_sea_enc(model, [corpus.audio_path(u) for u in job["enroll"]]).embedding
            wavs = [copy_synthesis(model, w, g, vocoder, temperature) for w in real]
        elif job["set"] != "in-distribution":  # a voice not in the table: SEA-ENC
            voice = adapt.adapt_sea_enc(model, [corpus.audio_path(u) for u in job["enroll"]])
            wavs = [synthesize(t, voice=voice, model=model, vocoder=vocoder,
                               temperature=temperature)[0] for t in job["texts"]]
            refs = job["texts"]
        else:
            g = model.speaker_embedding(job["speaker"])
            wavs = [synthesize(t, embedding=g, model=model, vocoder=vocoder,
                               temperature=temperature)[0] for t in job["texts"]]
            refs = job["texts"]
        seconds = time.perf_counter() - start
        row = {**base, "system": name, **score(judges, wavs, refs, enrollment),
               "audio_s": sum(len(w) for w in wavs) / model.features.sample_rate,
               "compute_s": seconds}
        rows.append(row)
        log(f"{job['set']:16s} {job['kind']:4s} {job['speaker']:34s} {name:18s} "
            f"WER {row['wer'] if row['wer'] is None else round(row['wer'], 2)} "
            f"DNSMOS {row['dnsmos']:.2f} sim {row['similarity']:.3f}")
    return rows


def summarize(rows: list[dict]) -> list[dict]:
    out = []
    keys = sorted({(r["set"], r["kind"], r["system"]) for r in rows},
                  key=lambda k: (k[0], k[1], k[2] != "recordings", k[2]))
    for set_, kind, system in keys:
        chosen = [r for r in rows if (r["set"], r["kind"], r["system"]) == (set_, kind, system)]
        wers = [r["wer"] for r in chosen if r["wer"] is not None]
        out.append({"set": set_, "kind": kind, "system": system, "speakers": len(chosen),
                    "wer": float(np.mean(wers)) if wers else None,
                    "wer_speakers": len(wers),
                    "dnsmos": float(np.mean([r["dnsmos"] for r in chosen])),
                    "similarity": float(np.mean([r["similarity"] for r in chosen]))})
    return out


def markdown(summary: list[dict]) -> str:
    lines = ["| set | kind | system | speakers | WER (speakers with English text) | DNSMOS OVRL | "
             "similarity |", "|---|---|---|---|---|---|---|"]
    for s in summary:
        wer = "n/a" if s["wer"] is None else f"{s['wer']:.2f} ({s['wer_speakers']})"
        lines.append(f"| {s['set']} | {s['kind']} | {s['system']} | {s['speakers']} | {wer} | "
                     f"{s['dnsmos']:.2f} | {s['similarity']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", help="a corpus of the bundled model's speakers (default preset)")
    parser.add_argument("--lvo", help="the leave-voice-out corpus")
    parser.add_argument("--speaker-wavenet", help="a backbone whose WaveNet hears g")
    parser.add_argument("--vocoder-file", help="a universal vocoder file")
    parser.add_argument("--sentences", type=int, default=3, help="utterances per speaker and kind")
    parser.add_argument("--temperature", type=float, default=1.0,
                        help="the WaveNets' sampling temperature (vocoder_temperature chooses it)")
    parser.add_argument("--out", required=True, help="path prefix for .json/.md (+ .parts/)")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    systems_ = systems(args.speaker_wavenet, args.vocoder_file)
    corpus = read_corpus(args.corpus) if args.corpus else None
    lvo = read_corpus(args.lvo) if args.lvo else None
    judges = Judges()
    parts = Path(args.out + ".parts")
    parts.mkdir(parents=True, exist_ok=True)
    # the files' digests, not only their paths: a relay replaces the vocoder file in place
    settings = {k: v for k, v in vars(args).items() if k != "out"}
    settings["sha256"] = {"bundled": backbone_fingerprint(systems_["griffin-lim"][0]),
                          **{k: sha256_file(v) for k, v in (("speaker_wavenet", args.speaker_wavenet),
                                                             ("vocoder_file", args.vocoder_file)) if v}}
    rows: list[dict] = []
    for job in speaker_jobs(corpus, lvo, args.sentences, systems_["griffin-lim"][0]):
        part = parts / f"{job['set']}_{job['kind']}_{job['speaker']}.json"
        kept = json.loads(part.read_text()) if part.exists() else None
        if kept is None or kept["settings"] != settings:
            kept = {"settings": settings,
                    "rows": run_job(job, systems_, judges, print, args.temperature)}
            atomic_write_text(part, json.dumps(kept))
        rows += kept["rows"]
    summary = summarize(rows)
    result = {"settings": settings, "summary": summary, "rows": rows}
    write_report(args.out, result, markdown(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
