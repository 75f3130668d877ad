"""The ``voiceadapt`` command: the library's tools, one subcommand per job.

The service and training have their own entry points in a checkout of the repository
(``python -m server``, ``python -m training``); this package imports neither.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

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


def _cmd_say(args: argparse.Namespace) -> int:
    from voiceadapt.audio import write_audio
    from voiceadapt.inference import embedding_from_references, load, synthesize

    model = load(args.model)
    if sum(bool(x) for x in (args.speaker, args.ref, args.voice)) > 1:
        raise ValueError("give one of --speaker NAME (see `voiceadapt speakers`), "
                         "--ref CLIP [CLIP ...] or --voice PROFILE_FOLDER, not several")
    speaker = args.speaker
    if not (speaker or args.ref or args.voice):  # the service's default voice ("alloy") too
        speaker = model.default_speaker
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


def command_parser(prog: str, doc: str) -> tuple[argparse.ArgumentParser, Any]:
    """A command's parser (``-v``, one subcommand per job) and its subparsers: the one shape of
    ``voiceadapt``, ``python -m server`` and ``python -m training``."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser, parser.add_subparsers(dest="command", required=True)


def run_command(parser: argparse.ArgumentParser, argv: Sequence[str] | None,
                errors: Callable[[], tuple[type[Exception], ...]] = tuple) -> int:
    """Parse, set up logging and run the chosen subcommand; the exceptions ``errors()`` names
    (asked for after parsing, so ``--help`` imports nothing heavy) become one line and exit 2."""
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except errors() as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2


def _library_errors() -> tuple[type[Exception], ...]:
    from voiceadapt.audio import AudioError
    from voiceadapt.text import TextError

    # ValueError covers MissingTranscriptError, ProfileMismatch and CheckpointError
    return TextError, AudioError, ValueError, KeyError, FileNotFoundError, RuntimeError


def _model_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=os.environ.get("VOICEADAPT_MODEL") or None,
                   help="checkpoint (default: $VOICEADAPT_MODEL, else the bundled model)")


def build_parser() -> argparse.ArgumentParser:
    parser, sub = command_parser("voiceadapt", __doc__)

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
    _model_option(p)
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
    _model_option(p)
    p.set_defaults(func=_cmd_adapt)

    p = sub.add_parser("speakers", help="list the model's bundled speakers")
    _model_option(p)
    p.set_defaults(func=_cmd_speakers)

    return parser


#: subcommands that moved to the service's and training's own entry points
MOVED = {"serve": "python -m server serve", "worker": "python -m server worker",
         "keys": "python -m server keys", "train": "python -m training train",
         "corpus": "python -m training corpus"}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    if command in MOVED:
        rest = argv[argv.index(command) + 1:]
        print(f"voiceadapt: `voiceadapt {command}` moved: run `{MOVED[command]}"
              f"{' ' + ' '.join(rest) if rest else ''}` from a checkout of the repository "
              "(see README.md)", file=sys.stderr)
        return 2
    return run_command(build_parser(), argv, _library_errors)


if __name__ == "__main__":
    sys.exit(main())
