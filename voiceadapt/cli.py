"""The ``voiceadapt`` command: one entry point, one subcommand per job.

Training-side subcommands (``corpus``) import the ``training`` package only when
run, so serving never loads training code.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from collections.abc import Sequence

from voiceadapt.names import MODE_NAMES, VOCODER_NAMES


def _cmd_frontend(args: argparse.Namespace) -> int:
    from voiceadapt.text import process

    for i, sentence in enumerate(process(args.text), 1):
        print(f"[{i}] {sentence.text}\n    {sentence.phonemes}")
        if args.ids:
            print(f"    {list(sentence.ids)}")
    return 0


def _cmd_audio_info(args: argparse.Namespace) -> int:
    import numpy as np

    from voiceadapt.audio import AudioError, FeatureParams, f0, load_audio

    status = 0
    for path in args.files:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                audio = load_audio(path)
            except AudioError as exc:
                print(f"{path}: error: {exc}")
                status = 1
                continue
        hz, voiced = f0(audio.samples, FeatureParams())
        median = float(np.median(hz[voiced])) if voiced.any() else 0.0
        print(f"{path}: {audio.original_seconds:.2f} s at {audio.original_rate} Hz -> "
              f"{audio.seconds:.2f} s at {audio.rate} Hz, {audio.speech_seconds:.2f} s of speech, "
              f"median F0 {median:.0f} Hz")
        for w in caught:
            print(f"{path}: warning: {w.message}")
    return status


def _cmd_corpus_build(args: argparse.Namespace) -> int:
    from training.corpus.build import build_corpus
    from training.corpus.plan import PRESETS

    if args.preset not in PRESETS:
        print(f"error: no preset {args.preset!r} (presets: {', '.join(PRESETS)})", file=sys.stderr)
        return 2
    config = PRESETS[args.preset]
    cache = None if args.no_features else args.cache
    corpus, stats = build_corpus(config, args.out, workers=args.jobs, cache=cache,
                                 keep_base=args.keep_base)
    print(json.dumps({"summary": corpus.info["summary"],
                      "diphone_coverage": corpus.info.get("diphone_coverage"),
                      "build": vars(stats) | {"seconds": round(stats.seconds, 1)}}, indent=1))
    return 0


def _cmd_corpus_import(args: argparse.Namespace) -> int:
    from training.corpus.importers import import_corpus

    corpus, skipped = import_corpus(args.format, args.src, args.out, dev_speakers=args.dev_speakers,
                                    seed=args.seed)
    print(json.dumps({"summary": corpus.info["summary"], "skipped": skipped}, indent=1))
    return 0


def _cmd_corpus_summary(args: argparse.Namespace) -> int:
    from training.corpus.manifest import read_corpus, summarize

    corpus = read_corpus(args.corpus)
    print(json.dumps(summarize(corpus.utterances, corpus.speakers), indent=1))
    return 0


def _cmd_say(args: argparse.Namespace) -> int:
    from voiceadapt.audio import write_audio
    from voiceadapt.inference import embedding_from_references, load, synthesize

    model = load(args.model)
    if sum(bool(x) for x in (args.speaker, args.ref, args.voice)) > 1:
        raise ValueError("give one of --speaker NAME (see `voiceadapt speakers`), "
                         "--ref CLIP [CLIP ...] or --voice PROFILE_FOLDER, not several")
    speaker = args.speaker
    if not (speaker or args.ref or args.voice):  # the service's default voice ("alloy") too
        speaker = sorted(model.speakers)[0]
        print(f"no voice named: speaking as the bundled speaker {speaker} (--speaker NAME, "
              "--ref CLIP or --voice FOLDER to choose; `voiceadapt speakers` lists them)",
              file=sys.stderr)
    embedding = embedding_from_references(model, args.ref) if args.ref else None
    wav, rate = synthesize(args.text, speaker, embedding=embedding, voice=args.voice,
                           model=model, seed=args.seed, pace=args.pace,
                           temperature=args.temperature, vocoder=args.vocoder,
                           folds=args.folds)
    write_audio(args.output, wav, rate)
    print(f"wrote {args.output}: {len(wav) / rate:.2f} s at {rate} Hz")
    return 0


def _cmd_adapt(args: argparse.Namespace) -> int:
    import time

    from voiceadapt import adapt
    from voiceadapt.inference import load

    model = load(args.model)
    started = time.perf_counter()

    def show(p: adapt.Progress) -> None:
        held = f" held-out {p.heldout_loss:.4f}" if p.heldout_loss is not None else ""
        print(f"\r{p.mode} {p.stage} step {p.step}/{p.steps} loss {p.loss:.4f}{held}",
              end="", file=sys.stderr, flush=True)

    profile = adapt.adapt(model, args.mode, args.ref, args.text or [],
                          cfg=adapt.FitConfig(steps=args.steps), name=args.name or "",
                          progress=show)
    if adapt.MODES[args.mode].iterative:
        print(file=sys.stderr)  # past the progress line
    seconds = time.perf_counter() - started
    adapt.save_profile(profile, args.output)
    held = f", held-out loss {profile.heldout_loss}" if profile.heldout_loss is not None else ""
    print(f"wrote {profile.mode} voice {args.output} from {profile.seconds:.1f} s of reference "
          f"audio in {seconds:.2f} s{held}")
    return 0


def _cmd_speakers(args: argparse.Namespace) -> int:
    from voiceadapt.inference import load

    for name in load(args.model).speakers:
        print(name)
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from training.train import main as train_main

    return train_main(["--run-dir", args.run_dir] + (["--config", args.config] if args.config else []))


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server.auth import keys_exist
    from server.db import Database
    from server.settings import LOOPBACK, Settings

    settings = Settings()
    if args.host not in LOOPBACK and settings.bootstrap_api_key is None:
        db = Database(settings.sqlalchemy_url())
        open_to_all = not keys_exist(db)
        db.close()
        if open_to_all:
            print(f"error: no API key is registered, so the service would be open to anyone "
                  f"who can reach {args.host}. Create one with `voiceadapt keys create NAME` (or "
                  "set VOICEADAPT_BOOTSTRAP_API_KEY), or serve on 127.0.0.1.", file=sys.stderr)
            return 2
    os.environ["VOICEADAPT_BIND_HOST"] = args.host  # the app decides open or closed from it
    uvicorn.run("server.main:create_app", factory=True, host=args.host, port=args.port,
                log_level="warning", access_log=False)
    return 0


def _cmd_worker(args: argparse.Namespace) -> int:
    from server.jobs.celery_app import celery

    argv = ["worker", "--loglevel", "INFO", "--concurrency", str(args.concurrency),
            "--queues", "voiceadapt-adapt"]
    if args.pool:
        argv += ["--pool", args.pool]
    celery.worker_main(argv)
    return 0


def _cmd_keys(args: argparse.Namespace) -> int:
    from server import auth
    from server.db import Database
    from server.settings import Settings

    db = Database(Settings().sqlalchemy_url())
    try:
        if args.keys_command == "create":
            print(auth.create_key(db, args.name))
            print("keep this key: only its hash is stored", file=sys.stderr)
        elif args.keys_command == "list":
            for key_id, name in auth.list_keys(db):
                print(f"{key_id}\t{name}")
        elif not auth.revoke_key(db, args.key_id):
            print(f"error: no key {args.key_id}", file=sys.stderr)
            return 1
    finally:
        db.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voiceadapt", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("frontend", help="show how text is normalized, split and phonemized")
    p.add_argument("text")
    p.add_argument("--ids", action="store_true", help="also print symbol ids")
    p.set_defaults(func=_cmd_frontend)

    p = sub.add_parser("audio-info", help="check reference clips the way the service will")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=_cmd_audio_info)

    p = sub.add_parser("say", help="speak text with a bundled speaker or reference clips")
    p.add_argument("text")
    p.add_argument("--speaker", help="a bundled speaker (see `voiceadapt speakers`)")
    p.add_argument("--ref", nargs="+", help="reference clips of a new voice (SEA-ENC)")
    p.add_argument("--voice", help="a voice profile folder made by `voiceadapt adapt`")
    p.add_argument("-o", "--output", default="out.wav")
    p.add_argument("--model", help="checkpoint (default: the bundled model)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pace", type=float, default=1.0, help="> 1 speaks faster")
    p.add_argument("--temperature", type=float, default=1.0, help="WaveNet sampling temperature")
    p.add_argument("--vocoder", default="auto", choices=VOCODER_NAMES,
                   help="auto: the one the model recommends (see MODEL_CARD.md)")
    p.add_argument("--folds", type=int, help="WaveNet pieces made side by side (1: exact; "
                   "default: one per core)")
    p.set_defaults(func=_cmd_say)

    p = sub.add_parser("adapt", help="fit a new voice from reference clips into a profile folder")
    p.add_argument("--mode", default="sea-enc", choices=MODE_NAMES,
                   help="sea-enc: the encoder's embedding, no transcript needed; sea-emb: fit the "
                        "embedding; sea-all: then every weight; patch: then a small patch")
    p.add_argument("--ref", nargs="+", required=True, help="reference clips of one speaker")
    p.add_argument("--text", nargs="+", help="what is said in each clip, in order (all modes "
                                             "but sea-enc)")
    p.add_argument("--steps", type=int, default=60, help="optimization steps per stage")
    p.add_argument("-o", "--output", required=True, help="profile folder to write")
    p.add_argument("--name", help="a name stored with the voice")
    p.add_argument("--model", help="checkpoint (default: the bundled model)")
    p.set_defaults(func=_cmd_adapt)

    p = sub.add_parser("speakers", help="list the model's bundled speakers")
    p.add_argument("--model", help="checkpoint (default: the bundled model)")
    p.set_defaults(func=_cmd_speakers)

    p = sub.add_parser("train", help="train the backbone (one process; see training/train.py "
                                     "for torchrun)")
    p.add_argument("--config", help="TOML config, e.g. configs/default.toml (stored in the run)")
    p.add_argument("--run-dir", required=True, help="run folder; run again to resume")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("serve", help="run the HTTP service")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("worker", help="run a Celery adaptation worker (VOICEADAPT_JOB_BACKEND=celery)")
    p.add_argument("--concurrency", type=int, default=1, help="jobs at once (each loads the model)")
    p.add_argument("--pool", help="celery pool (prefork, solo, threads)")
    p.set_defaults(func=_cmd_worker)

    keys = sub.add_parser("keys", help="API keys (stored hashed) in the service's database")
    ksub = keys.add_subparsers(dest="keys_command", required=True)
    p = ksub.add_parser("create", help="make a key and print it once")
    p.add_argument("name")
    p.set_defaults(func=_cmd_keys)
    p = ksub.add_parser("list", help="key ids and names")
    p.set_defaults(func=_cmd_keys)
    p = ksub.add_parser("revoke", help="remove a key (its voices stay, unreachable)")
    p.add_argument("key_id")
    p.set_defaults(func=_cmd_keys)

    corpus = sub.add_parser("corpus", help="build, import or summarize a training corpus")
    csub = corpus.add_subparsers(dest="corpus_command", required=True)
    p = csub.add_parser("build", help="synthesize the multi-speaker corpus from Debian's voices")
    p.add_argument("--preset", default="default",
                   help="default, tiny, v2 (1,040 speakers, real people), v2-tiny, leave-voice-out "
                   "(training/corpus/plan.py)")
    p.add_argument("--out", default="data/corpus")
    p.add_argument("--jobs", type=int, default=2, help="worker processes")
    p.add_argument("--cache", default="data/cache", help="feature cache folder")
    p.add_argument("--no-features", action="store_true", help="skip the feature cache step")
    p.add_argument("--keep-base", action="store_true", help="keep the base-voice recordings")
    p.set_defaults(func=_cmd_corpus_build)
    p = csub.add_parser("import", help="write a manifest for a real corpus (VCTK, LibriTTS, LJSpeech)")
    p.add_argument("format", choices=["vctk", "libritts", "ljspeech"])
    p.add_argument("src")
    p.add_argument("--out", required=True)
    p.add_argument("--dev-speakers", type=int, default=0)
    p.add_argument("--seed", type=int, default=1234)
    p.set_defaults(func=_cmd_corpus_import)
    p = csub.add_parser("summary", help="print a corpus's speakers, hours and coverage")
    p.add_argument("corpus")
    p.set_defaults(func=_cmd_corpus_summary)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    from voiceadapt.audio import AudioError
    from voiceadapt.text import TextError

    try:
        return int(args.func(args))
    except (TextError, AudioError, ValueError, KeyError, FileNotFoundError, RuntimeError) as exc:
        # ValueError covers MissingTranscriptError, ProfileMismatch and CheckpointError
        print(f"voiceadapt: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
