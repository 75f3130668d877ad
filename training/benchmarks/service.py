"""Service latency benchmark: a real ``python -m server serve`` process, real HTTP requests.

Measures, on this machine, with the bundled model:
- latency to the first audio byte of a streamed one-sentence request (after the WAV header);
- total time of a three-sentence request (whole WAV);
- p50/p95 latency of one-sentence requests at rising concurrency, and the concurrency at
  which p95 first exceeds twice its single-client value.

    python -m training.benchmarks.service --out docs/service_benchmark
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from training.benchmarks.report import write_report

REPO = Path(__file__).resolve().parents[2]  # `python -m server` runs from the checkout
ONE = "The quick brown fox jumps over the lazy dog."
THREE = ("The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore. "
         "A few seconds of speech are enough to make a new voice.")
HEADER = 44


def start_server(data_dir: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "VOICEADAPT_DATA_DIR": str(data_dir), "VOICEADAPT_LOG_JSON": "true"}
    proc = subprocess.Popen([sys.executable, "-m", "server", "serve", "--port", str(port)],
                            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the server did not become ready")


def first_byte(client: httpx.Client, url: str, text: str) -> tuple[float, float]:
    """(seconds to the first audio byte after the header, seconds to the last byte)."""
    start = time.perf_counter()
    got, first = 0, None
    with client.stream("POST", f"{url}/v1/tts", json={"text": text, "voice": "alloy",
                                                      "stream": True}) as r:
        r.raise_for_status()
        for chunk in r.iter_raw():
            got += len(chunk)
            if first is None and got > HEADER:
                first = time.perf_counter() - start
    return first, time.perf_counter() - start


def whole(client: httpx.Client, url: str, text: str) -> float:
    start = time.perf_counter()
    r = client.post(f"{url}/v1/tts", json={"text": text, "voice": "alloy"})
    r.raise_for_status()
    return time.perf_counter() - start


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {"n": len(values), "median_s": statistics.median(values), "p95_s": p95,
            "min_s": ordered[0], "max_s": ordered[-1]}


def concurrency(url: str, clients: int, per_client: int) -> dict[str, float]:
    def one_client(_: int) -> list[float]:
        with httpx.Client(timeout=300) as c:
            return [whole(c, url, ONE) for _ in range(per_client)]

    start = time.perf_counter()
    with cf.ThreadPoolExecutor(clients) as pool:
        latencies = [t for ts in pool.map(one_client, range(clients)) for t in ts]
    elapsed = time.perf_counter() - start
    return {"clients": clients, **summary(latencies),
            "requests_per_s": len(latencies) / elapsed}


def run(repeats: int, levels: list[int], per_client: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp))
        try:
            with httpx.Client(timeout=300) as c:
                for _ in range(3):  # warm up: lazy initializations, allocator
                    whole(c, url, THREE)
                fb = [first_byte(c, url, ONE) for _ in range(repeats)]
                three = [whole(c, url, THREE) for _ in range(repeats)]
                audio = c.post(f"{url}/v1/tts", json={"text": THREE, "voice": "alloy",
                                                      "format": "pcm"}).content
            load = [concurrency(url, n, per_client) for n in levels]
        finally:
            proc.terminate()
            proc.wait(30)
    base = load[0]["p95_s"]
    doubled = next((row["clients"] for row in load if row["p95_s"] > 2 * base), None)
    return {"first_audio_byte_one_sentence": summary([f for f, _ in fb]),
            "one_sentence_streamed_total": summary([t for _, t in fb]),
            "three_sentences_total": summary(three),
            "three_sentences_audio_s": len(audio) / 2 / 16000,
            "concurrency": load, "p95_doubles_at_clients": doubled,
            "cpu_count": os.cpu_count()}


def markdown(r: dict) -> str:
    fb, three = r["first_audio_byte_one_sentence"], r["three_sentences_total"]
    lines = [f"Machine: {r['cpu_count']} CPU cores; bundled model, Griffin-Lim vocoder, voice "
             "`alloy`; server and client on one machine.", "",
             "| measure | median | p95 |", "|---|---|---|",
             f"| first audio byte, 1 sentence, stream | {fb['median_s'] * 1000:.0f} ms | "
             f"{fb['p95_s'] * 1000:.0f} ms |",
             f"| whole response, 3 sentences ({r['three_sentences_audio_s']:.1f} s of audio) | "
             f"{three['median_s'] * 1000:.0f} ms | {three['p95_s'] * 1000:.0f} ms |", "",
             "| concurrent clients | requests | p50 | p95 | requests/s |", "|---|---|---|---|---|"]
    for row in r["concurrency"]:
        lines.append(f"| {row['clients']} | {row['n']} | {row['median_s'] * 1000:.0f} ms | "
                     f"{row['p95_s'] * 1000:.0f} ms | {row['requests_per_s']:.1f} |")
    doubled = r["p95_doubles_at_clients"]
    lines += ["", f"p95 first exceeds twice its single-client value at {doubled} concurrent "
                  "clients." if doubled else "p95 never doubled over the levels tried."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--per-client", type=int, default=10)
    parser.add_argument("--out", help="path prefix for .json and .md")
    args = parser.parse_args(argv)
    result = run(args.repeats, args.levels, args.per_client)
    write_report(args.out, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
