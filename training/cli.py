"""``python -m training``: the training side's one entry point (corpora, backbone training,
meta-learning and continual learning on speaker tasks).

Run from a checkout of the repository; the installed ``voiceadapt`` package holds only the
library and never imports this package.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from voiceadapt.cli import command_parser, run_command


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


def _cmd_corpus_packages(args: argparse.Namespace) -> int:
    from training.corpus.plan import PRESETS
    from training.corpus.voices import debian_packages, voice_by_name

    if args.preset not in PRESETS:
        raise ValueError(f"unknown preset {args.preset!r} (known: {', '.join(PRESETS)})")
    print(" ".join(debian_packages([voice_by_name(v) for v in PRESETS[args.preset].voices])))
    return 0


def _cmd_corpus_summary(args: argparse.Namespace) -> int:
    from training.corpus.manifest import read_corpus, summarize

    corpus = read_corpus(args.corpus)
    print(json.dumps(summarize(corpus.utterances, corpus.speakers), indent=1))
    return 0


# the run-folder trainers: each takes --config and --run-dir and resumes when run again
RUN_FOLDER_COMMANDS = {
    "train": ("training.train", "train the backbone (one process; torchrun runs "
              "training/train.py on several)", "configs/default.toml"),
    "meta": ("training.meta_speakers", "meta-learn on speaker tasks for the adaptation modes "
             "(Reptile, first- and second-order MAML, Leap, LEO, the joint control; "
             "training/meta_speakers.py)",
             "configs/meta_reptile_patch.toml"),
    "encoder": ("training.train_encoder", "train the SEA-ENC speaker encoder alone on speaker "
                "episodes (ProtoNets, or CACTUs without labels; training/train_encoder.py)",
                "configs/encoder_protonets.toml"),
    "continual": ("training.continual_speakers", "add corpus speakers to a backbone one after "
                  "another and measure forgetting (plain, ER, MER, MOLe; "
                  "training/continual_speakers.py)", "configs/continual_mer_all.toml"),
}


def _cmd_run_folder(args: argparse.Namespace) -> int:
    import importlib

    trainer = importlib.import_module(args.trainer_module)
    return trainer.main(["--run-dir", args.run_dir] + (["--config", args.config] if args.config else []))


def build_parser() -> argparse.ArgumentParser:
    parser, sub = command_parser("python -m training", __doc__)

    for name, (module, text, example) in RUN_FOLDER_COMMANDS.items():
        p = sub.add_parser(name, help=text)
        # the encoder trainer's own flags carry its settings: from this entry point, a config
        p.add_argument("--config", required=name == "encoder",
                       help=f"TOML config, e.g. {example} (stored in the run on first use)")
        p.add_argument("--run-dir", required=True, help="run folder; run again to resume")
        p.set_defaults(func=_cmd_run_folder, trainer_module=module)

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
    p = csub.add_parser("packages", help="print the Debian packages a preset's voices come from "
                        "(for apt-get install on a fresh machine)")
    p.add_argument("--preset", default="default")
    p.set_defaults(func=_cmd_corpus_packages)
    p = csub.add_parser("summary", help="print a corpus's speakers, hours and coverage")
    p.add_argument("corpus")
    p.set_defaults(func=_cmd_corpus_summary)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), argv,
                       lambda: (ValueError, KeyError, FileNotFoundError, RuntimeError))
