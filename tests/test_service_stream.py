"""Against a real uvicorn server: streaming (header first, sentences in order, generation
stops when the client leaves) and the official OpenAI client, unchanged."""

from __future__ import annotations

import struct
import time

import httpx
import numpy as np
import pytest
from service_helpers import LiveServer, decode, is_speech

from server.main import create_app

SENTENCES = ["The first sentence is short.", "Here comes the second one.",
             "And a third to finish."]


@pytest.fixture
def live(service_settings, bundled_model):
    app = create_app(service_settings, model=bundled_model)
    with LiveServer(app) as server:
        yield server, app


def _sentence_count(app) -> float:
    return app.state.service.metrics.sentences._value.get()


def test_stream_sends_header_then_each_sentence(live):
    server, app = live
    body = {"text": " ".join(SENTENCES), "voice": "alloy", "stream": True}
    whole = httpx.post(f"{server.url}/v1/tts", json={**body, "stream": False}, timeout=60)
    chunks = []
    with httpx.stream("POST", f"{server.url}/v1/tts", json=body, timeout=60) as r:
        assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
        chunks = list(r.iter_raw())
    data = b"".join(chunks)
    assert data[:4] == b"RIFF" and data[8:16] == b"WAVEfmt "
    assert struct.unpack("<I", data[24:28])[0] == 16000 and data[36:40] == b"data"
    streamed = np.frombuffer(data[44:], "<i2")
    reference, _ = decode(whole.content)
    # the same samples as the one-piece response, sentence by sentence
    assert len(streamed) == len(reference)
    assert np.abs(streamed / 32767 - reference).max() < 2e-4


def test_stream_stops_when_the_client_leaves(live):
    server, app = live
    text = " ".join(f"This is sentence number {i} of a long story." for i in range(1, 30))
    before = _sentence_count(app)
    with httpx.stream("POST", f"{server.url}/v1/tts", timeout=60,
                      json={"text": text, "voice": "alloy", "stream": True,
                            "format": "pcm"}) as r:
        got = 0
        for chunk in r.iter_raw():
            got += len(chunk)
            if got > 16000:  # half a second of audio, then hang up
                break
    time.sleep(3.0)  # let the server notice and finish the sentence in hand
    spoken = _sentence_count(app) - before
    time.sleep(2.0)
    assert _sentence_count(app) - before == spoken, "it kept generating after the client left"
    assert spoken < 10, f"{spoken} of 29 sentences made for a client that left"


def test_official_openai_client(live, tmp_path):
    openai = pytest.importorskip("openai")
    server, _ = live
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="not-needed-on-loopback")
    assert "tts-1" in [m.id for m in client.models.list()]
    out = tmp_path / "speech.mp3"
    with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="alloy", input="Hello from an OpenAI client.") as response:
        response.stream_to_file(out)
    samples, rate = decode(out.read_bytes())
    assert rate == 24000 and is_speech(samples, rate)
    wav = client.audio.speech.create(model="tts-1", voice="nova", input="And in WAV.",
                                     response_format="wav", speed=1.5)
    assert is_speech(*decode(wav.content), min_seconds=0.3)


def test_wavenet_streams_within_a_sentence(live):
    """With the WaveNet vocoder (compiled kernel) audio arrives in several pieces per
    sentence, the first long before the sentence is done."""
    server, _ = live
    body = {"text": "A single sentence for the WaveNet.", "voice": "alloy", "stream": True,
            "format": "pcm", "vocoder": "wavenet"}
    sizes, stamps = [], []
    start = time.perf_counter()
    with httpx.stream("POST", f"{server.url}/v1/tts", json=body, timeout=300) as r:
        assert r.status_code == 200
        for chunk in r.iter_raw():
            sizes.append(len(chunk))
            stamps.append(time.perf_counter() - start)
    total = sum(sizes)
    assert total > 16000 and total % 2 == 0
    assert len(sizes) >= 3, sizes
    assert stamps[0] < 0.5 * stamps[-1], stamps
