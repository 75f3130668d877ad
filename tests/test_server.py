"""The service's front-end endpoints, over real HTTP requests to the ASGI app."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
from helpers import speechlike
from service_helpers import local_client

from server.main import create_app
from server.settings import Settings


@pytest.fixture
def client(tmp_path):
    settings = Settings(data_dir=tmp_path / "service", max_upload_bytes=2_000_000,
                        max_clip_seconds=10.0, max_text_chars=500)
    with local_client(create_app(settings)) as c:
        yield c


def _wav(samples: np.ndarray, rate: int = 16_000) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="WAV")
    return buf.getvalue()


def test_health(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/openapi.json").status_code == 200


def test_text_endpoint(client):
    r = client.post("/v1/frontend/text", json={"text": "It's 7:05. Call 555-123-4567!"})
    assert r.status_code == 200
    body = r.json()
    assert [s["text"] for s in body] == [
        "It's seven oh five.", "Call five five five, one two three, four five six seven!"]
    assert all(s["ids"][0] == 1 and s["ids"][-1] == 2 for s in body)  # BOS ... EOS


@pytest.mark.parametrize(("text", "status"), [("  ", 422), ("word " * 200, 413)])
def test_text_errors(client, text, status):
    r = client.post("/v1/frontend/text", json={"text": text})
    assert r.status_code == status
    assert r.json()["detail"]


def test_audio_endpoint_reports_clip(client):
    r = client.post("/v1/frontend/audio",
                    files={"file": ("me.wav", _wav(speechlike(2.0, 22_050, f0=200.0), 22_050))})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["original_rate"] == 22_050 and body["rate"] == 16_000
    assert 180 < body["median_f0_hz"] < 230
    assert body["warnings"] == []


@pytest.mark.parametrize(
    ("payload", "status", "words"),
    [
        (np.random.default_rng(0).bytes(4000), 415, "not audio"),
        (_wav(np.zeros(32_000)), 422, "silent"),
        (_wav(np.tile(speechlike(2.0), 6)), 413, "limit is 10 s"),
        (b"x" * 2_000_001, 413, "larger than"),
    ],
)
def test_audio_errors(client, payload, status, words):
    r = client.post("/v1/frontend/audio", files={"file": ("clip.wav", payload)})
    assert r.status_code == status
    assert words in r.json()["detail"]


def test_malloc_arena_cap_is_set_on_glibc_and_can_be_left_alone():
    """The server caps glibc's malloc arenas at start-up (its RSS otherwise climbs under
    threaded synthesis, docs/soak.md); 0 leaves the C library's default."""
    import platform

    from server.allocator import limit_malloc_arenas

    assert Settings.model_fields["malloc_arenas"].default == 2
    assert limit_malloc_arenas(0) is False
    if platform.libc_ver()[0] == "glibc":
        assert limit_malloc_arenas(2) is True


def test_malloc_trimmer_hands_free_memory_back():
    """Free memory the allocator holds goes back to the system: RSS falls after a trim
    (glibc keeps freed blocks below the top of a heap until trimmed)."""
    import platform
    import time

    from server.allocator import MallocTrimmer, trim_malloc

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("malloc_trim is glibc's")

    def rss_mb() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 2**20

    trim_malloc()
    keep = [bytearray(64 * 1024) for _ in range(4000)]  # ~250 MB in blocks under mmap's threshold
    pin = [bytearray(16) for _ in range(4000)]  # interleaved, so the heap's top stays in use
    del keep[:-1]
    before = rss_mb()
    trimmer = MallocTrimmer(0.05)
    trimmer.start()
    deadline = time.monotonic() + 5
    while trimmer.trims < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    trimmer.stop()
    assert trimmer.trims >= 2
    assert rss_mb() < before - 100, (before, rss_mb())
    assert pin and keep


def test_tests_read_no_developer_env_file(tmp_path, monkeypatch):
    """A .env in the working directory does not reach the tests' settings."""
    (tmp_path / ".env").write_text("VOICEADAPT_MAX_TEXT_CHARS=7\n")
    monkeypatch.chdir(tmp_path)
    assert Settings().max_text_chars != 7
