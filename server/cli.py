"""``python -m server``: the service's one entry point (serve, Celery worker, API keys).

Run from a checkout of the repository or the service image; the installed ``voiceadapt``
package holds only the library and never imports this package.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from voiceadapt.cli import command_parser, run_command


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
                  f"who can reach {args.host}. Create one with `python -m server keys create NAME` "
                  "(or set VOICEADAPT_BOOTSTRAP_API_KEY), or serve on 127.0.0.1.", file=sys.stderr)
            return 2
    os.environ["VOICEADAPT_BIND_HOST"] = args.host  # the app decides open or closed from it
    uvicorn.run("server.main:create_app", factory=True, host=args.host, port=args.port,
                log_level="warning", access_log=False)
    return 0


def _cmd_worker(args: argparse.Namespace) -> int:
    from server.jobs.celery_app import worker_main

    argv = ["worker", "--loglevel", "INFO", "--concurrency", str(args.concurrency),
            "--queues", "voiceadapt-adapt"]
    if args.pool:
        argv += ["--pool", args.pool]
    worker_main(argv)
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
    parser, sub = command_parser("python -m server", __doc__)

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), argv)
