"""What a built corpus is made of, and whether its speakers spread out.

    python -m training.corpus.makeup --corpus data/corpus_v2 --cache data/cache \\
        --encoder runs/encoder_v2/encoder.safetensors --out docs/corpus_v2_makeup

writes ``<out>.json`` and ``<out>.md``: distinct people and base voices by kind
(synthesizer, real recording), languages, speakers, hours, utterances per speaker, the
channel treatments per kind of source, build time and size; then, with the speaker
encoder of a model (the bundled one by default), the distribution of each training
speaker's nearest-other-speaker cosine, whether that neighbour is the same person, and
how far apart the undistorted recorded people are (pairs as close as two halves of one
speaker's clips typically are, the median, are flagged as possibly one person).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import torch

from training.benchmarks.report import write_report
from training.corpus.manifest import Corpus, Utterance, read_corpus
from training.corpus.voices import BaseVoice, voice_by_name
from voiceadapt.audio import AudioLimits, load_audio
from voiceadapt.files import folder_bytes

CLIPS_PER_SPEAKER = 4
_LIMITS = AudioLimits(min_speech_seconds=0.0, min_clip_speech_seconds=0.05)  # corpus clips as they are


def _speakers(corpus: Corpus) -> tuple[dict[str, BaseVoice], dict[str, list[Utterance]], list[str]]:
    """(each speaker's base voice, its utterances, the training speakers sorted)."""
    voices = {name: voice_by_name(s.source) for name, s in corpus.speakers.items()}
    by_speaker: dict[str, list[Utterance]] = defaultdict(list)
    for u in corpus.utterances:
        by_speaker[u.speaker].append(u)
    return voices, by_speaker, sorted(s for s, spk in corpus.speakers.items() if spk.split == "train")


def composition(corpus: Corpus) -> dict[str, object]:
    """Counts by person, kind, language and split, from the manifest alone."""
    voices, by_speaker, train = _speakers(corpus)
    persons: dict[str, dict[str, object]] = {}
    for s in train:
        v = voices[s]
        entry = persons.setdefault(v.person, {"kind": v.kind, "languages": set(), "voices": set(),
                                              "speakers": 0, "hours": 0.0})
        entry["languages"].add(v.language)
        entry["voices"].add(v.name)
        entry["speakers"] += 1
        entry["hours"] += sum(u.duration for u in by_speaker[s]) / 3600
    for entry in persons.values():
        entry["languages"] = sorted(entry["languages"])
        entry["voices"] = sorted(entry["voices"])
        entry["share"] = entry["speakers"] / max(1, len(train))
        entry["hours"] = round(entry["hours"], 3)
    kinds = Counter(p["kind"] for p in persons.values())
    base_voices = {voices[s].name: voices[s].kind for s in train}
    languages: dict[str, dict[str, float]] = defaultdict(lambda: {"speakers": 0, "hours": 0.0})
    for s in train:
        lang = voices[s].language.split("-")[0]
        languages[lang]["speakers"] += 1
        languages[lang]["hours"] += sum(u.duration for u in by_speaker[s]) / 3600
    utts = [u for u in corpus.utterances if u.split == "train"]
    per_speaker = [len(by_speaker[s]) for s in train]
    said = [sum(1 for u in by_speaker[s] if u.transcribed) for s in train]
    channels: dict[str, Counter] = defaultdict(Counter)
    for u in utts:
        channels[voices[u.speaker].kind][u.channel or "clean"] += 1
    return {
        "people": len(persons), "people_by_kind": dict(kinds),
        "base_voices": len(base_voices), "base_voices_by_kind": dict(Counter(base_voices.values())),
        "training_speakers": len(train),
        "dev_speakers": sum(1 for s in corpus.speakers.values() if s.split == "dev"),
        "utterances": len(utts), "transcribed_utterances": sum(1 for u in utts if u.transcribed),
        "hours": round(sum(u.duration for u in utts) / 3600, 3),
        "transcribed_hours": round(sum(u.duration for u in utts if u.transcribed) / 3600, 3),
        "utterances_per_speaker": {"mean": float(np.mean(per_speaker)), "min": min(per_speaker),
                                   "max": max(per_speaker)},
        "transcribed_per_speaker": {"mean": float(np.mean(said)), "min": min(said), "max": max(said)},
        "largest_person_share": max(p["share"] for p in persons.values()),
        "languages": {k: {"speakers": v["speakers"], "hours": round(v["hours"], 3)}
                      for k, v in sorted(languages.items())},
        "channels_by_kind": {k: {c: round(n / sum(v.values()), 3) for c, n in sorted(v.items())}
                             for k, v in channels.items()},
        "persons": dict(sorted(persons.items())),
    }


@torch.no_grad()
def embed(model, corpus: Corpus, utts: list[Utterance]) -> np.ndarray:
    from voiceadapt.adapt.sea_enc import embedding_from_clips

    clips = [load_audio(corpus.audio_path(u), _LIMITS) for u in utts]
    g = embedding_from_clips(model, clips).float().cpu().numpy()
    return g / (np.linalg.norm(g) + 1e-9)


def spread(corpus: Corpus, model) -> dict[str, object]:
    """Nearest-other-speaker cosines by the model's speaker encoder."""
    voices, by_speaker, train = _speakers(corpus)
    vectors = np.stack([embed(model, corpus, by_speaker[s][:CLIPS_PER_SPEAKER]) for s in train])
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    nearest = sims.argmax(1)
    top = sims.max(1)
    same_person = [voices[train[i]].person == voices[train[j]].person for i, j in enumerate(nearest)]
    # the same speaker twice: its first and second halves of clips (the "one person" level)
    halves = []
    for s in train[:: max(1, len(train) // 200)]:
        clips = by_speaker[s]
        if len(clips) >= 2 * CLIPS_PER_SPEAKER:
            a = embed(model, corpus, clips[:CLIPS_PER_SPEAKER])
            b = embed(model, corpus, clips[CLIPS_PER_SPEAKER: 2 * CLIPS_PER_SPEAKER])
            halves.append(float(a @ b))
    # undistorted recordings of real people (speaker s0 of a recorded voice keeps its voice)
    recorded = [i for i, s in enumerate(train)
                if voices[s].kind == "recording" and corpus.speakers[s].params.get("f0_scale") == 1.0
                and corpus.speakers[s].params.get("warp") == 1.0 and s.endswith("-s0")]
    same_level = float(np.median(halves)) if halves else 1.0
    close_pairs = [(train[i], train[j], round(float(sims[i, j]), 3)) for a, i in enumerate(recorded)
                   for j in recorded[a + 1:] if sims[i, j] >= same_level]

    def pct(x: list[float] | np.ndarray) -> dict[str, float]:
        x = np.asarray(x, dtype=float)
        return {f"p{q}": round(float(np.percentile(x, q)), 3) for q in (5, 25, 50, 75, 95)} | {
            "mean": round(float(x.mean()), 3)}

    return {
        "speakers": len(train),
        "nearest_other": pct(top),
        "nearest_is_same_person": round(float(np.mean(same_person)), 3),
        "nearest_other_same_person": pct(top[np.array(same_person)]) if any(same_person) else None,
        "nearest_other_other_person": pct(top[~np.array(same_person)]) if not all(same_person) else None,
        "same_speaker_two_clip_sets": pct(halves) if halves else None,
        "recorded_people_pairs_at_same_speaker_level": close_pairs,
        "histogram": np.histogram(top, bins=np.linspace(-0.2, 1.0, 13))[0].tolist(),
        "histogram_edges": np.linspace(-0.2, 1.0, 13).round(2).tolist(),
    }


def markdown(result: dict) -> str:
    c = result["composition"]
    people = ", ".join(f"{n} {k}" for k, n in c["people_by_kind"].items())
    bases = ", ".join(f"{n} {k}" for k, n in c["base_voices_by_kind"].items())
    lines = [
        f"# Corpus make-up: `{result['corpus']}`", "",
        "Written by `python -m training.corpus.makeup` (training/corpus/makeup.py); the "
        "people are the base voices' persons (`training/corpus/voices.py`).", "",
        f"Training speakers: **{c['training_speakers']}** (+{c['dev_speakers']} in-distribution "
        f"dev) from **{c['people']} distinct people** ({people}) and {c['base_voices']} base "
        f"voices ({bases}); largest share of one person {c['largest_person_share']:.1%}.",
        f"Utterances: {c['utterances']:,} ({c['transcribed_utterances']:,} transcribed), "
        f"{c['hours']:.2f} h ({c['transcribed_hours']:.2f} h transcribed); per speaker "
        f"{c['utterances_per_speaker']['mean']:.1f} (min {c['utterances_per_speaker']['min']}, "
        f"max {c['utterances_per_speaker']['max']}).",
    ]
    if "build" in result:
        b = result["build"]
        lines.append(f"Build: {b.get('seconds', 0) / 60:.0f} min on this machine's 2 cores; audio "
                     f"{b['audio_mb']:.0f} MB, features {b.get('features_mb', 0):.0f} MB.")
    lines += ["", "| language | speakers | hours |", "|---|---|---|"]
    lines += [f"| {k} | {v['speakers']} | {v['hours']:.2f} |" for k, v in c["languages"].items()]
    lines += ["", "| person | kind | languages | base voices | speakers | share | hours |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {k} | {p['kind']} | {', '.join(p['languages'])} | {len(p['voices'])} | "
              f"{p['speakers']} | {p['share']:.1%} | {p['hours']:.2f} |" for k, p in c["persons"].items()]
    codecs = sorted({ch for v in c["channels_by_kind"].values() for ch in v})
    lines += ["", "Channel treatments by kind of source (share of utterances):", "",
              "| kind | " + " | ".join(codecs) + " |", "|---" * (len(codecs) + 1) + "|"]
    lines += [f"| {k} | " + " | ".join(f"{v.get(ch, 0):.2f}" for ch in codecs) + " |"
              for k, v in c["channels_by_kind"].items()]
    if "spread" in result:
        s = result["spread"]

        def row(name: str, d: dict | None) -> str:
            if not d:
                return f"| {name} | - | - | - | - | - | - |"
            return (f"| {name} | {d['p5']:.3f} | {d['p25']:.3f} | {d['p50']:.3f} | {d['p75']:.3f} | "
                    f"{d['p95']:.3f} | {d['mean']:.3f} |")

        lines += ["", f"Speaker spread by {result.get('encoder', 'the model')}'s speaker encoder "
                  f"({CLIPS_PER_SPEAKER} clips per speaker; cosine):", "",
                  "| cosine | p5 | p25 | p50 | p75 | p95 | mean |", "|---|---|---|---|---|---|---|",
                  row("nearest other speaker", s["nearest_other"]),
                  row("... when it is the same person", s["nearest_other_same_person"]),
                  row("... when it is another person", s["nearest_other_other_person"]),
                  row("one speaker, two sets of clips", s["same_speaker_two_clip_sets"]), "",
                  f"The nearest other speaker is a derivative of the same person for "
                  f"{s['nearest_is_same_person']:.0%} of speakers. Recorded people whose "
                  f"undistorted voices are as close as one speaker's two clip sets (median): "
                  f"{len(s['recorded_people_pairs_at_same_speaker_level'])} pairs"
                  + (": " + ", ".join(f"{a} ~ {b} ({c_:.2f})" for a, b, c_ in
                                      s["recorded_people_pairs_at_same_speaker_level"][:20])
                     if s["recorded_people_pairs_at_same_speaker_level"] else "") + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--cache", help="feature cache folder, to report its size")
    parser.add_argument("--model", help="checkpoint whose speaker encoder measures the spread "
                        "(default: the bundled model)")
    parser.add_argument("--encoder", help="speaker encoder weights to use instead of the model's "
                        "(training/train_encoder.py's encoder.safetensors)")
    parser.add_argument("--no-spread", action="store_true")
    parser.add_argument("--out", help="path prefix for .json and .md (default: print only)")
    args = parser.parse_args(argv)
    corpus = read_corpus(args.corpus)
    result: dict[str, object] = {"corpus": str(args.corpus), "composition": composition(corpus)}
    build_file = Path(args.corpus) / "build.json"
    build = json.loads(build_file.read_text()) if build_file.exists() else {}
    build["audio_mb"] = folder_bytes(Path(args.corpus) / "wavs") / 2**20
    if args.cache:
        build["features_mb"] = folder_bytes(Path(args.cache)) / 2**20
    result["build"] = build
    if not args.no_spread:
        from voiceadapt.inference.synthesize import load

        torch.set_num_threads(max(1, torch.get_num_threads()))
        model = load(args.model).eval()
        result["encoder"] = args.model or "the bundled model"
        if args.encoder:
            from safetensors.torch import load_file

            model.encoder.load_state_dict(load_file(args.encoder))
            result["encoder"] = args.encoder
        result["spread"] = spread(corpus, model)
    write_report(args.out, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
