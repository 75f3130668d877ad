"""Helpers for the service tests: uploads, polling, audio checks."""

from __future__ import annotations

import io
import time

import numpy as np
import soundfile as sf


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
