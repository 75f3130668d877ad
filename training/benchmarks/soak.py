"""Soak test: minutes of mixed traffic from several clients against a live server.

Starts ``python -m server serve`` (the bundled model, a fresh data folder, two API keys) as its own
process, then runs ``--clients`` threads for ``--minutes``: voices uploaded, SEA-EMB jobs
queued and polled, speech made whole and streamed (some streams dropped half-way), OpenAI
requests, voices deleted, and bad input of every kind the service must refuse cleanly
(garbage audio, a decompression bomb, bad JSON, NaN, text over the limits, foreign keys).
At the end every client deletes its voices and the server is stopped.

Reports requests, answers by status, p50/p95 latency per kind of request, the server's RSS
and open file descriptors at start and end, and files left in the data folder once every
voice is deleted (there should be none). Run it with nothing else on the machine, or the
figures mean little:

    python -m training.benchmarks.soak --minutes 10 --clients 4 --out docs/soak
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf

from server.db import ACTIVE_STATES
from training.benchmarks.report import write_report

TEXTS = ["The quick brown fox jumps over the lazy dog.",
         "She sells sea shells by the sea shore every summer morning.",
         "A few seconds of speech are enough to make a new voice.",
         "Please call me back at five thirty tomorrow afternoon."]


def spoken_clips(folder: Path, texts: list[str] = TEXTS) -> list[tuple[bytes, str]]:
    """Real speech from flite's kal (a training voice) as WAV bytes, with what each says
    (the service tests' reference clips too)."""
    out = []
    for i, text in enumerate(texts):
        path = folder / f"clip{i}.wav"
        subprocess.run(["flite", "-voice", "kal", "-t", text, "-o", str(path)], check=True)
        out.append((path.read_bytes(), text))
    return out


def bomb() -> bytes:
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", 192_000, 8, format="FLAC", subtype="PCM_16") as f:
        for _ in range(60):
            f.write(np.zeros((192_000, 8), np.float32))
    return buf.getvalue()


def process_stats(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    return {"rss_mb": rss / 1024, "open_fds": len(os.listdir(f"/proc/{pid}/fd"))}


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.status: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self.errors: list[str] = []

    def call(self, kind: str, fn, *args, **kwargs) -> httpx.Response | None:
        start = time.perf_counter()
        try:
            r = fn(*args, **kwargs)
        except httpx.HTTPError as exc:
            with self.lock:
                self.status[kind][-1] += 1
                self.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
            return None
        with self.lock:
            self.latency[kind].append(time.perf_counter() - start)
            self.status[kind][r.status_code] += 1
            if r.status_code >= 500:
                self.errors.append(f"{kind}: {r.status_code} {r.text[:200]}")
        return r


ACTIONS = ("upload", "upload+text", "adapt", "speak", "stream", "openai", "delete", "bad", "list")

# the server under diagnosis: with tracemalloc (argv[1] == "trace"), SIGUSR1 dumps a snapshot
# to <argv[2]>.<n>; SIGUSR2 hands the C allocator's free memory back (malloc_trim), so RSS
# before and after tells memory in use from memory the allocator holds
DIAGNOSED_SERVER = """
import signal, sys, tracemalloc
if sys.argv[1] == "trace":
    tracemalloc.start(12)
prefix, count = sys.argv[2], [0]
def dump(signum, frame):
    tracemalloc.take_snapshot().dump(f"{prefix}.{count[0]}")
    count[0] += 1
signal.signal(signal.SIGUSR1, dump)
from server.allocator import trim_malloc
signal.signal(signal.SIGUSR2, lambda signum, frame: trim_malloc())
from server.cli import main
sys.argv = ["python -m server", *sys.argv[3:]]
sys.exit(main())
"""


def client(url: str, key: str, clips: list[tuple[bytes, str]], big: bytes, stop: float,
           rec: Recorder, seed: int, only: tuple[str, ...] = ACTIONS) -> None:
    rng = random.Random(seed)
    h = {"Authorization": f"Bearer {key}"}
    http = httpx.Client(base_url=url, headers=h, timeout=300)
    mine: list[str] = []

    def upload(transcripts: bool = False) -> None:
        chosen = rng.sample(clips, 2)
        data = {"name": f"v{rng.randrange(10**6)}", "consent": "true"}
        if transcripts:
            data["transcripts"] = [t for _, t in chosen]
        files = [("files", (f"c{i}.wav", wav, "audio/wav")) for i, (wav, _) in enumerate(chosen)]
        r = rec.call("create voice", http.post, "/v1/voices", data=data, files=files)
        if r is not None and r.status_code == 201:
            mine.append(r.json()["id"])

    def adapt() -> None:
        if not mine:
            return
        r = rec.call("adapt job", http.post, f"/v1/voices/{rng.choice(mine)}/adapt",
                     json={"mode": "sea-emb"})
        if r is not None and r.status_code == 202:
            job = r.json()["id"]
            for _ in range(600):
                j = rec.call("poll job", http.get, f"/v1/jobs/{job}")
                if j is None or j.json().get("state") not in ACTIVE_STATES:
                    break
                time.sleep(1.0)

    def speak() -> None:
        voice = rng.choice(mine) if mine and rng.random() < 0.7 else "alloy"
        rec.call("tts", http.post, "/v1/tts", json={"text": rng.choice(TEXTS), "voice": voice,
                                                     "format": rng.choice(["wav", "mp3", "opus"])})

    def stream() -> None:
        drop = rng.random() < 0.5
        body = {"text": " ".join(TEXTS), "voice": "alloy", "stream": True, "format": "pcm"}
        start = time.perf_counter()
        try:
            with http.stream("POST", "/v1/tts", json=body) as r:
                got = 0
                for chunk in r.iter_raw():
                    got += len(chunk)
                    if drop and got > 32000:
                        break
            with rec.lock:
                rec.latency["stream" + (" (dropped)" if drop else "")].append(
                    time.perf_counter() - start)
                rec.status["stream" + (" (dropped)" if drop else "")][r.status_code] += 1
        except httpx.HTTPError as exc:
            with rec.lock:
                rec.errors.append(f"stream: {exc}")

    def openai() -> None:
        rec.call("openai speech", http.post, "/v1/audio/speech",
                 json={"model": "tts-1", "input": rng.choice(TEXTS), "voice": "nova"})

    def delete() -> None:
        if mine:
            rec.call("delete voice", http.delete, f"/v1/voices/{mine.pop(rng.randrange(len(mine)))}")

    def bad() -> None:
        kind = rng.randrange(7)
        if kind == 0:
            rec.call("bad input", http.post, "/v1/voices", data={"name": "x", "consent": "true"},
                     files=[("files", ("x.wav", os.urandom(5000), "audio/wav"))])
        elif kind == 1:
            rec.call("bad input", http.post, "/v1/voices", data={"name": "x", "consent": "true"},
                     files=[("files", ("x.flac", big, "audio/flac"))])
        elif kind == 2:
            rec.call("bad input", http.post, "/v1/tts", content=b'{"text": "Hi", "voice": ',
                     headers={"Content-Type": "application/json"})
        elif kind == 3:
            rec.call("bad input", http.post, "/v1/tts", content=b'{"text": "Hi.", "voice": '
                     b'"alloy", "speed": NaN}', headers={"Content-Type": "application/json"})
        elif kind == 4:
            rec.call("bad input", http.post, "/v1/tts", json={"text": "7" * 4900, "voice": "alloy"})
        elif kind == 5:
            rec.call("bad input", http.get, "/v1/voices", headers={"Authorization": "Bearer nope"})
        else:
            rec.call("bad input", http.get, f"/v1/voices/voice_{rng.randrange(10**9):x}")

    weighted = [(upload, 3), (lambda: upload(True), 2), (adapt, 1), (speak, 6), (stream, 2),
                (openai, 2), (delete, 2), (bad, 4),
                (lambda: rec.call("list voices", http.get, "/v1/voices"), 2)]
    actions = [a for name, a in zip(ACTIONS, weighted, strict=True) if name in only]
    weights = [w for _, w in actions]
    while time.monotonic() < stop:
        try:
            rng.choices(actions, weights)[0][0]()
        except Exception as exc:  # a client-side surprise is reported, and the client goes on
            with rec.lock:
                rec.errors.append(f"client: {type(exc).__name__}: {exc}")
    for voice in mine:
        rec.call("delete voice", http.delete, f"/v1/voices/{voice}")
    http.close()


def traced_growth(server: subprocess.Popen, prefix: Path, top: int = 12) -> dict[str, object]:
    """Ask the traced server for its second snapshot and compare it with the first."""
    import tracemalloc

    server.send_signal(signal.SIGUSR1)
    for _ in range(600):
        if Path(f"{prefix}.1").exists():
            break
        time.sleep(0.5)
    time.sleep(2.0)  # let the dump finish
    first, last = (tracemalloc.Snapshot.load(f"{prefix}.{i}") for i in (0, 1))
    diff = last.compare_to(first, "traceback")
    sites = [{"size_kb": d.size_diff / 1024, "blocks": d.count_diff,
              "where": " <- ".join(f"{Path(f.filename).name}:{f.lineno}"
                                   for f in reversed(list(d.traceback)[-6:]))}
             for d in diff[:top]]
    return {"total_mb": sum(d.size_diff for d in diff) / 2**20, "sites": sites}


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds of unrecorded traffic first")
    parser.add_argument("--only", default=",".join(ACTIONS),
                        help=f"comma-separated kinds of traffic (of {', '.join(ACTIONS)})")
    parser.add_argument("--trace", action="store_true",
                        help="run the server under tracemalloc and report where Python memory grew")
    parser.add_argument("--out", required=True, help="path prefix for .json and .md")
    args = parser.parse_args(argv)
    only = tuple(args.only.split(","))
    if not set(only) <= set(ACTIONS):
        parser.error(f"--only takes {', '.join(ACTIONS)}")
    work = Path(tempfile.mkdtemp(prefix="voiceadapt-soak-"))
    data_dir = work / "service"
    env = {**os.environ, "VOICEADAPT_DATA_DIR": str(data_dir), "VOICEADAPT_ADAPT_STEPS": "20",
           "VOICEADAPT_LOG_JSON": "false", "VOICEADAPT_BOOTSTRAP_API_KEY": "va_soak_bootstrap"}
    from server import auth
    from server.db import Database

    db = Database(f"sqlite:///{data_dir / 'voiceadapt.db'}")
    keys = [auth.create_key(db, f"soak{i}") for i in range(2)]
    db.close()
    serve = ["serve", "--host", "127.0.0.1", "--port", str(args.port)]
    launch = [sys.executable, "-c", DIAGNOSED_SERVER, "trace" if args.trace else "plain",
              str(work / "snapshot"), *serve]
    server = subprocess.Popen(launch, env=env, cwd=Path(__file__).resolve().parents[2],
                              stdout=subprocess.DEVNULL,
                              stderr=open(work / "server.log", "w"))
    url = f"http://127.0.0.1:{args.port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not start; see " + str(work / "server.log"))
            time.sleep(0.5)
        clips = spoken_clips(work)
        big = bomb()
        # warm up every path (model caches, encoders, numba, the job worker) with the same
        # traffic, unrecorded, before the first measurement
        client(url, keys[0], clips, big, time.monotonic() + args.warmup, Recorder(), 99, only)
        time.sleep(2.0)
        start_stats = process_stats(server.pid)
        if args.trace:
            server.send_signal(signal.SIGUSR1)
        rec = Recorder()
        stop = time.monotonic() + 60 * args.minutes
        threads = [threading.Thread(target=client, args=(url, keys[i % 2], clips, big, stop, rec, i,
                                                         only))
                   for i in range(args.clients)]
        began = time.monotonic()
        for t in threads:
            t.start()
        trend = []  # (minute, RSS MB) every 30 s: a plateau and a leak look alike at two points
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(timeout=30.0 / len(threads))
            trend.append((round((time.monotonic() - began) / 60, 2),
                          round(process_stats(server.pid)["rss_mb"], 1)))
        elapsed = time.monotonic() - began
        time.sleep(2.0)
        end_stats = process_stats(server.pid)
        growth = traced_growth(server, work / "snapshot") if args.trace else None
        server.send_signal(signal.SIGUSR2)  # malloc_trim: what RSS is memory still in use?
        time.sleep(3.0)
        trimmed = process_stats(server.pid)["rss_mb"]
        voices_left = sorted(p.name for p in (data_dir / "voices").iterdir())
        stray = sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*")
                       if p.is_file() and p.parent == data_dir and not p.name.startswith("voiceadapt.db"))
    finally:
        server.terminate()
        server.wait(30)
    statuses: dict[int, int] = defaultdict(int)
    for kind in rec.status.values():
        for code, n in kind.items():
            statuses[code] += n
    result = {
        "minutes": round(elapsed / 60, 2), "clients": args.clients,
        "requests": sum(statuses.values()),
        "statuses": dict(sorted(statuses.items())),
        "server_errors": sum(n for code, n in statuses.items() if code >= 500 or code < 0),
        "client_errors": len(rec.errors),
        "by_kind": {k: {"requests": sum(v.values()), "statuses": dict(sorted(v.items())),
                        "p50_s": percentile(rec.latency[k], 50),
                        "p95_s": percentile(rec.latency[k], 95)}
                    for k, v in sorted(rec.status.items())},
        "rss_mb": {"start": start_stats["rss_mb"], "end": end_stats["rss_mb"],
                   "growth": end_stats["rss_mb"] / start_stats["rss_mb"] - 1,
                   "after_malloc_trim": trimmed},
        "rss_trend_mb": trend, "traffic": list(only), "python_growth": growth,
        "open_fds": {"start": start_stats["open_fds"], "end": end_stats["open_fds"]},
        "voice_folders_left": voices_left, "stray_files": stray, "errors": rec.errors[:20],
        "machine": f"{os.cpu_count()} CPU cores",
    }
    lines = [f"# Soak: {result['minutes']} min, {args.clients} clients, {result['requests']} "
             "requests", "",
             f"Reproduce: `python -m training.benchmarks.soak --minutes {args.minutes:g} "
             f"--clients {args.clients} --warmup {args.warmup:g}"
             + (f" --only {args.only}" if only != ACTIONS else "") + (" --trace" if args.trace else "")
             + f" --out {args.out}` ({result['machine']}, nothing else running).", "",
             f"- answers by status: {json.dumps(result['statuses'])}; 5xx or transport errors: "
             f"{result['server_errors']}",
             f"- server RSS: {start_stats['rss_mb']:.0f} MB after {args.warmup:g} s of warm-up "
             f"traffic, {end_stats['rss_mb']:.0f} MB "
             f"at the end ({100 * result['rss_mb']['growth']:+.1f}%), {trimmed:.0f} MB once the "
             "C allocator handed its free memory back (malloc_trim)",
             f"- open file descriptors: {start_stats['open_fds']} -> {end_stats['open_fds']}",
             f"- voice folders left after every client deleted its voices: {len(voices_left)}; "
             f"stray files in the data folder: {len(stray)}", "",
             "| request | n | statuses | p50 (s) | p95 (s) |", "|---|---|---|---|---|"]
    for kind, v in result["by_kind"].items():
        p50, p95 = v["p50_s"], v["p95_s"]
        lines.append(f"| {kind} | {v['requests']} | {json.dumps(v['statuses'])} | "
                     f"{'-' if p50 is None else f'{p50:.2f}'} | {'-' if p95 is None else f'{p95:.2f}'} |")
    lines += ["", f"RSS every 30 s (minute, MB): {trend}"]
    if only != ACTIONS:
        lines.append(f"Traffic: {', '.join(only)} only.")
    if growth is not None:
        lines += ["", f"Python heap (tracemalloc): {growth['total_mb']:+.1f} MB over the run; "
                  "largest growth by allocation site:", ""]
        lines += [f"- {site['size_kb']:+.0f} KB in {site['blocks']:+d} blocks: {site['where']}"
                  for site in growth["sites"]]
    write_report(Path(args.out), result, "\n".join(lines) + "\n")
    return 0 if result["server_errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
