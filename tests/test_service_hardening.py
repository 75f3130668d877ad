"""Defects found by probing a live server (issue 15), each kept fixed by a test against a
real uvicorn server on loopback, over raw sockets where the client's framing matters."""

from __future__ import annotations

import json
import select
import socket
import time

import httpx
import pytest
from service_helpers import LiveServer

from server import auth
from server.main import create_app


@pytest.fixture
def live(service_settings, bundled_model):
    app = create_app(service_settings, model=bundled_model)
    with LiveServer(app) as server:
        yield server, app


def _response(sock: socket.socket, timeout: float) -> tuple[int, dict]:
    """Status and JSON body of the response on ``sock`` (read until the server closes)."""
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            piece = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not piece:
            break
        data += piece
        head, _, body = data.partition(b"\r\n\r\n")
        length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:")]
        if length and len(body) >= length[0]:
            break
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body or b"{}")


def _send_chunked_until_answered(port: int, path: str, content_type: str, total: int,
                                 prefix: bytes = b"") -> tuple[int, dict, int]:
    """POST a chunked body (``prefix``, then filler) of up to ``total`` bytes, stopping as
    soon as the server answers. Returns (status, body, bytes sent)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n".encode())
    sock.sendall(b"%x\r\n%s\r\n" % (len(prefix), prefix) if prefix else b"")
    chunk = b"x" * 65536
    sent = len(prefix)
    try:
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    status, body = _response(sock, 10)
    sock.close()
    return status, body, sent


def test_chunked_bodies_are_counted_as_they_arrive(live, service_settings):
    server, app = live
    limit = service_settings.max_upload_bytes  # 3 MB in the tests
    status, body, sent = _send_chunked_until_answered(
        server.port, "/v1/voices", "multipart/form-data; boundary=zzz", 20 * limit,
        b'--zzz\r\nContent-Disposition: form-data; name="files"; filename="a.wav"\r\n'
        b"Content-Type: audio/wav\r\n\r\n")
    assert status == 413 and "limit" in body["detail"]
    # refused at the limit, long before the end (what the sockets buffer on the way aside)
    assert sent < 10 * limit
    # a JSON route has its own, smaller limit
    status, body, sent = _send_chunked_until_answered(
        server.port, "/v1/audio/speech", "application/json", 20 * service_settings.max_json_bytes,
        b'{"voice": "alloy", "input": "')
    assert status == 413 and sent < 10 * service_settings.max_json_bytes
    # an honest request still works on the same server
    r = httpx.post(f"{server.url}/v1/frontend/text", json={"text": "Hello."}, timeout=30)
    assert r.status_code == 200


def test_a_trickling_body_times_out(service_settings, bundled_model):
    settings = service_settings.model_copy(update={"body_idle_timeout_s": 0.6,
                                                   "body_timeout_s": 2.0})
    with LiveServer(create_app(settings, model=bundled_model)) as server:
        body = json.dumps({"text": "Hello there, this is slow."}).encode()
        # one byte per 0.3 s: never idle for long, but the whole body takes too long
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(b"POST /v1/frontend/text HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
        start = time.monotonic()
        try:
            for byte in body:
                if select.select([sock], [], [], 0)[0]:
                    break
                sock.sendall(bytes([byte]))
                time.sleep(0.3)
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, answer = _response(sock, 10)
        assert status == 408 and "too slowly" in answer["detail"]
        assert time.monotonic() - start < 5
        # a pause longer than the idle timeout
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(b"POST /v1/frontend/text HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
                     + body[:5])
        status, _ = _response(sock, 10)
        assert status == 408


def test_revoking_the_last_key_does_not_reopen_the_server(service_settings, bundled_model):
    """A server bound beyond loopback needs a key, always; and any server that had a key
    stays closed when the keys are revoked."""
    wide = service_settings.model_copy(update={"bind_host": "0.0.0.0"})
    app = create_app(wide, model=bundled_model)
    with LiveServer(app) as server:
        db = app.state.service.db
        key = auth.create_key(db, "only")
        ok = httpx.get(f"{server.url}/v1/voices", headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200
        (key_id, _), = auth.list_keys(db)
        assert auth.revoke_key(db, key_id)
        for headers in ({}, {"Authorization": "Bearer anything"},
                        {"Authorization": f"Bearer {key}"}):
            assert httpx.get(f"{server.url}/v1/voices", headers=headers).status_code == 401
    # bound beyond loopback with no key at all: closed from the start
    with LiveServer(create_app(wide.model_copy(update={"data_dir": wide.data_dir / "b"}),
                               model=bundled_model)) as server:
        assert httpx.get(f"{server.url}/v1/voices").status_code == 401
    # on loopback, open while no key exists; once one is made, closed for good
    local = service_settings.model_copy(update={"data_dir": service_settings.data_dir / "c"})
    app = create_app(local, model=bundled_model)
    with LiveServer(app) as server:
        assert httpx.get(f"{server.url}/v1/voices").status_code == 200
        db = app.state.service.db
        auth.create_key(db, "k")
        assert httpx.get(f"{server.url}/v1/voices").status_code == 401
        (key_id, _), = auth.list_keys(db)
        auth.revoke_key(db, key_id)
        assert httpx.get(f"{server.url}/v1/voices").status_code == 401
    # ... and across a restart on the same database
    with LiveServer(create_app(local, model=bundled_model)) as server:
        assert httpx.get(f"{server.url}/v1/voices").status_code == 401


def test_an_open_server_answers_only_this_machine(service_settings, bundled_model):
    """A keyless server started by other means than `python -m server serve` (uvicorn --host
    0.0.0.0) still refuses clients from other addresses."""
    from fastapi.testclient import TestClient

    with TestClient(create_app(service_settings, model=bundled_model), base_url="http://localhost",
                    client=("10.1.2.3", 40000)) as remote:
        r = remote.get("/v1/voices")
        assert r.status_code == 403 and "only this machine" in r.json()["detail"]


def test_bad_input_is_a_422_never_a_500(live, spoken_clips):
    """Each of these was a 500: Python's int-string limit in number reading, a lone
    surrogate, non-finite numbers the error handler could not serialize, a seed over 2^63."""
    server, _ = live
    spoken = spoken_clips[0][0]
    raw = [b'{"text": "Hi \\ud800 there.", "voice": "alloy"}',
           b'{"text": "Hi.", "voice": "alloy", "speed": NaN}',
           b'{"text": "Hi.", "voice": "alloy", "speed": Infinity}',
           b'{"text": "Hi.", "voice": "alloy", "seed": 9223372036854775808}',
           b'{"input": "Hi \\udfff.", "voice": "alloy"}',
           b'{"text": "Hi.", "voice": "\\ud800"}']
    paths = ["/v1/tts"] * 4 + ["/v1/audio/speech", "/v1/tts"]
    for path, body in zip(paths, raw, strict=True):
        r = httpx.post(f"{server.url}{path}", content=body, timeout=60,
                       headers={"Content-Type": "application/json"})
        assert r.status_code == 422, (body, r.status_code, r.text)
        assert r.json()["detail"] and r.json()["detail"][0]["msg"]
    # a form field decoded with a charset the client chose can hold a lone surrogate too
    boundary = "b0undary"
    form = (f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\n\\ud800\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="consent"\r\n\r\ntrue\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.wav"\r\n'
            f"Content-Type: audio/wav\r\n\r\n").encode() + spoken + f"\r\n--{boundary}--\r\n".encode()
    r = httpx.post(f"{server.url}/v1/voices", content=form, timeout=60, headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}; charset=unicode_escape"})
    assert r.status_code == 422, r.text
    assert httpx.get(f"{server.url}/v1/voices").json() == []  # and nothing was kept
    # 4,300 digits read as digits, never a crash (the text limit is 400 chars in the tests)
    r = httpx.post(f"{server.url}/v1/frontend/text", json={"text": "7" * 390}, timeout=60)
    assert r.status_code == 200 and "seven seven" in r.json()[0]["text"]
    from voiceadapt.text.normalize import normalize

    assert normalize("7" * 4300).count("seven") == 4300


def test_job_limit_holds_under_concurrent_requests(service_settings, bundled_model, spoken_clips):
    """8 adaptation requests at once with a limit of 2 gave 6 jobs: count and insert are now
    one locked step (the PostgreSQL test runs the same check)."""
    from service_helpers import concurrent_adapts, voice_form

    held = service_settings.model_copy(update={"local_workers": 0})  # jobs stay queued
    app = create_app(held, model=bundled_model)
    with LiveServer(app) as server:
        data, files = voice_form(spoken_clips[:2], transcripts=True)
        voice = httpx.post(f"{server.url}/v1/voices", data=data, files=files, timeout=60).json()
        assert concurrent_adapts(server.url, voice["id"], 8) == [202, 202] + [429] * 6


def _silent_flac(channels: int, rate: int, seconds: int) -> bytes:
    import io

    import numpy as np
    import soundfile as sf

    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", rate, channels, format="FLAC", subtype="PCM_16") as f:
        block = np.zeros((rate, channels), np.float32)
        for _ in range(seconds):
            f.write(block)
    return buf.getvalue()


def test_a_decompression_bomb_is_refused_from_its_header(live):
    """A few KB of FLAC holding 8 channels at 192 kHz decoded into gigabytes before its 422;
    channels x rate x seconds is now budgeted before decoding."""
    from voiceadapt.audio import TooLongError, load_audio

    server, _ = live
    bomb = _silent_flac(8, 192_000, 15)  # 15 s: within the tests' 20 s clip limit
    assert len(bomb) < 100_000
    r = httpx.post(f"{server.url}/v1/voices", data={"name": "bomb", "consent": "true"},
                   files=[("files", ("bomb.flac", bomb, "audio/flac"))], timeout=60)
    assert r.status_code == 413 and "M samples" in r.json()["detail"]
    # the library alone, at its default 300 s limit: refused from the header, nothing decoded
    import tracemalloc

    import soundfile as sf

    bomb = _silent_flac(8, 192_000, 40)

    def no_decoding(*args, **kwargs):
        raise AssertionError("the bomb was decoded")

    original = sf.SoundFile.blocks
    sf.SoundFile.blocks = no_decoding
    tracemalloc.start()
    try:
        with pytest.raises(TooLongError, match="8 channels at 192000 Hz"):
            load_audio(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        sf.SoundFile.blocks = original
    assert peak < 20 * 2**20


def test_an_open_server_refuses_cross_site_writes_and_foreign_hosts(live, spoken_clips):
    """Without keys, any web page could POST a form to a local instance, or reach it under a
    foreign name (DNS rebinding)."""
    from service_helpers import voice_form

    server, _ = live
    data, files = voice_form(spoken_clips[:1])
    evil = httpx.post(f"{server.url}/v1/voices", data=data, files=files, timeout=60,
                      headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403 and "cross-site" in evil.json()["detail"]
    rebound = httpx.get(f"{server.url}/v1/voices", headers={"Host": "evil.example"})
    assert rebound.status_code == 403
    assert httpx.get(f"{server.url}/v1/voices").json() == []  # nothing was created
    own = httpx.post(f"{server.url}/v1/voices", data=data, files=files, timeout=60,
                     headers={"Origin": server.url})
    assert own.status_code == 201
    for host in ("localhost", f"localhost:{server.port}", f"[::1]:{server.port}"):
        assert httpx.get(f"{server.url}/v1/voices", headers={"Host": host}).status_code == 200


def test_metrics_request_ids_head_and_options(service_settings, bundled_model):
    app = create_app(service_settings, model=bundled_model)
    with LiveServer(app) as server:
        url = server.url
        # HEAD answers like GET without a body; OPTIONS says what a route takes
        for path in ("/healthz", "/v1/voices"):
            head, get = httpx.head(f"{url}{path}"), httpx.get(f"{url}{path}")
            assert head.status_code == 200 and head.content == b""
            assert head.headers["content-length"] == get.headers["content-length"]
        options = httpx.options(f"{url}/v1/voices")
        assert options.status_code == 204
        assert set(options.headers["allow"].split(", ")) == {"GET", "HEAD", "POST", "OPTIONS"}
        assert httpx.options(f"{url}/v1/voices/voice_x/adapt").headers["allow"] == "OPTIONS, POST"
        # a request id is echoed only when it is a plain token
        assert httpx.get(f"{url}/healthz", headers={"X-Request-Id": "abc-123"}
                         ).headers["x-request-id"] == "abc-123"
        odd = httpx.get(f"{url}/healthz", headers={"X-Request-Id": "a b\tc" + "x" * 100})
        assert odd.headers["x-request-id"] != "a b\tc" + "x" * 100
        assert len(odd.headers["x-request-id"]) <= 64 and " " not in odd.headers["x-request-id"]
        # with keys, /metrics (every tenant's counts) needs one
        key = auth.create_key(app.state.service.db, "ops")
        assert httpx.get(f"{url}/metrics").status_code == 401
        ok = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200 and "voiceadapt_jobs" in ok.text
    public = service_settings.model_copy(update={"metrics_public": True,
                                                 "data_dir": service_settings.data_dir / "p"})
    app = create_app(public, model=bundled_model)
    with LiveServer(app) as server:
        auth.create_key(app.state.service.db, "ops")
        assert httpx.get(f"{server.url}/metrics").status_code == 200


def _sentences(app) -> float:
    return app.state.service.metrics.sentences._value.get()


@pytest.mark.slow
def test_work_per_request_is_bounded(service_settings, bundled_model):
    """A 4 KB text of digits made 28 minutes of audio in 131 s; a non-streamed request kept
    synthesizing after its client left; nothing capped concurrent syntheses."""
    settings = service_settings.model_copy(update={
        "max_text_phonemes": 300, "max_concurrent_syntheses": 1, "synthesis_queue_s": 0.5,
        "max_audio_seconds": 3.0})
    app = create_app(settings, model=bundled_model)
    story = " ".join(f"Sentence {i} goes on a while." for i in range(1, 9))  # < 300 phonemes
    with LiveServer(app) as server:
        url = f"{server.url}/v1/tts"
        # within the character limit (400), far beyond the phoneme limit once read out
        r = httpx.post(url, json={"text": "7" * 390, "voice": "alloy"}, timeout=60)
        assert r.status_code == 413 and "phonemes" in r.json()["detail"]
        # the audio per request stops at max_audio_seconds
        r = httpx.post(url, json={"text": story, "voice": "alloy", "format": "pcm"}, timeout=120)
        assert r.status_code == 200 and len(r.content) / 2 / 16000 < 3.0 + 3.0  # + a sentence
        # a client that stops reading its stream holds no slot: the slot is taken per piece
        with httpx.stream("POST", url, json={"text": story, "voice": "alloy", "stream": True,
                                             "format": "pcm"}, timeout=60) as stalled:
            next(stalled.iter_raw())
            time.sleep(1.0)
            ok = httpx.post(url, json={"text": "Hi.", "voice": "alloy"}, timeout=60)
            assert ok.status_code == 200

    # one slot, busy with a long synthesis: another request waits, then gets 503
    busy_settings = service_settings.model_copy(update={
        "max_concurrent_syntheses": 1, "synthesis_queue_s": 0.5, "max_text_chars": 2000,
        "data_dir": service_settings.data_dir / "a"})
    long_story = " ".join(f"This is sentence number {i} of a long story." for i in range(1, 30))
    app = create_app(busy_settings, model=bundled_model)
    with LiveServer(app) as server:
        url = f"{server.url}/v1/tts"
        import threading

        long = threading.Thread(target=httpx.post, args=(url,), daemon=True,
                                kwargs={"json": {"text": long_story, "voice": "alloy"},
                                        "timeout": 120})
        before = _sentences(app)
        long.start()
        while _sentences(app) == before:  # it has the slot and is working
            time.sleep(0.05)
        busy = httpx.post(url, json={"text": "Hi.", "voice": "alloy"}, timeout=60)
        assert busy.status_code == 503 and busy.headers["retry-after"] == "2"
        long.join(120)
        assert httpx.post(url, json={"text": "Hi.", "voice": "alloy"}, timeout=60).status_code == 200

    # a client that leaves a non-streamed request stops its synthesis
    long_story = " ".join(f"This is sentence number {i} of a long story." for i in range(1, 30))
    roomy = service_settings.model_copy(update={"max_text_chars": 2000,
                                                "data_dir": service_settings.data_dir / "b"})
    app = create_app(roomy, model=bundled_model)
    with LiveServer(app) as server:
        before = _sentences(app)
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{server.url}/v1/tts", json={"text": long_story, "voice": "alloy"},
                       timeout=httpx.Timeout(60, read=1.0))
        time.sleep(3.0)
        spoken = _sentences(app) - before
        time.sleep(2.0)
        assert _sentences(app) - before == spoken, "it kept synthesizing after the client left"
        assert spoken < 20, f"{spoken} of 29 sentences made for a client that left"


def test_quotas_per_key(service_settings, bundled_model, spoken_clips):
    """200 voices in 7 s and 46 MB of clips went unchecked: voice count, stored bytes and
    request rate now have per-key limits (429 naming the limit)."""
    from service_helpers import voice_form

    settings = service_settings.model_copy(update={"max_voices_per_key": 2,
                                                   "max_stored_bytes_per_key": 10**9})
    app = create_app(settings, model=bundled_model)
    with LiveServer(app) as server:
        db = app.state.service.db
        a, b = auth.create_key(db, "a"), auth.create_key(db, "b")
        ha, hb = {"Authorization": f"Bearer {a}"}, {"Authorization": f"Bearer {b}"}

        def create(headers: dict) -> httpx.Response:
            data, files = voice_form(spoken_clips[:1])
            return httpx.post(f"{server.url}/v1/voices", data=data, files=files,
                              headers=headers, timeout=60)

        assert [create(ha).status_code for _ in range(3)] == [201, 201, 429]
        over = create(ha)
        assert over.status_code == 429 and "limit is 2" in over.json()["detail"]
        assert len(list((settings.data_dir / "voices").iterdir())) == 2  # nothing left behind
        assert create(hb).status_code == 201  # another key has its own quota
        voice = httpx.get(f"{server.url}/v1/voices", headers=ha).json()[0]
        httpx.delete(f"{server.url}/v1/voices/{voice['id']}", headers=ha)
        made = create(ha).json()
        assert made["id"]
        one = app.state.service.storage.voice_bytes(made["id"])  # a one-clip voice on disk

    limit = int(2.5 * one)
    tight = service_settings.model_copy(update={"max_stored_bytes_per_key": limit,
                                                "data_dir": service_settings.data_dir / "b"})
    with LiveServer(create_app(tight, model=bundled_model)) as server:
        data, files = voice_form(spoken_clips[:1])
        codes = [httpx.post(f"{server.url}/v1/voices", data=data, files=files,
                            timeout=60) for _ in range(3)]
        assert [c.status_code for c in codes] == [201, 201, 429]
        assert f"the limit is {limit} bytes" in codes[-1].json()["detail"]

    limited = service_settings.model_copy(update={"requests_per_minute": 30,
                                                  "data_dir": service_settings.data_dir / "c"})
    with LiveServer(create_app(limited, model=bundled_model)) as server:
        codes = [httpx.get(f"{server.url}/v1/voices") for _ in range(12)]
        assert [r.status_code for r in codes[:5]] == [200] * 5
        refused = [r for r in codes if r.status_code == 429]
        assert refused and int(refused[0].headers["retry-after"]) >= 1
        assert httpx.get(f"{server.url}/healthz").status_code == 200  # probes are not limited
