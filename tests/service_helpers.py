"""Helpers for the service tests: uploads, polling, audio checks."""

from __future__ import annotations

import io
import time

import numpy as np
import soundfile as sf


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(ready, what: str, timeout: float, errors: tuple = (Exception,),
             poll: float = 0.1) -> None:
    """Call ``ready()`` until it stops raising ``errors`` (a server answering), or fail."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            ready()
            return
        except errors:
            assert time.monotonic() < deadline, f"{what} did not start"
            time.sleep(poll)


def voice_form(clips: list[tuple[bytes, str]], name: str = "test voice", consent: bool = True,
               transcripts: bool = False, mode: str = "sea-enc") -> tuple[dict, list]:
    data = {"name": name, "consent": "true" if consent else "false", "mode": mode}
    if transcripts:
        data["transcripts"] = [t for _, t in clips]
    files = [("files", (f"clip{i}.wav", wav, "audio/wav")) for i, (wav, _) in enumerate(clips)]
    return data, files


def wait_job(client, job_id: str, timeout: float = 180.0, headers: dict | None = None) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}", headers=headers or {}).json()
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {job['state']} after {timeout} s")


def decode(data: bytes) -> tuple[np.ndarray, int]:
    samples, rate = sf.read(io.BytesIO(data), dtype="float32")
    return samples, rate


def is_speech(samples: np.ndarray, rate: int, min_seconds: float = 0.5) -> bool:
    """Long enough, not silent, not clipped flat."""
    return (len(samples) / rate >= min_seconds and float(np.sqrt(np.mean(samples ** 2))) > 0.01
            and float(np.max(np.abs(samples))) <= 1.0)


class LiveServer:
    """The app under a real uvicorn server on a free loopback port, in a thread."""

    def __init__(self, app) -> None:
        import threading

        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def concurrent_adapts(server_url: str, voice_id: str, n: int) -> list[int]:
    """Statuses of ``n`` POST /adapt requests for one voice sent at the same moment."""
    import threading

    import httpx

    barrier = threading.Barrier(n)
    statuses: list[int] = []

    def one() -> None:
        barrier.wait()
        r = httpx.post(f"{server_url}/v1/voices/{voice_id}/adapt", json={"mode": "sea-emb"},
                       timeout=60)
        statuses.append(r.status_code)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(statuses)


def local_client(app):
    """A TestClient that looks like a browser or script on this machine: loopback address
    and ``localhost`` as the host, as an open (keyless) server requires."""
    from fastapi.testclient import TestClient

    return TestClient(app, base_url="http://localhost", client=("127.0.0.1", 50000))
