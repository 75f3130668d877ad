"""The service's routes over real HTTP requests (TestClient): voices, synthesis, formats,
errors, tenancy, the OpenAI shape, operations."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
import torch
from service_helpers import decode, is_speech, local_client, voice_form

from server import auth
from server.main import create_app


def make_voice(api, clips, **kw) -> dict:
    data, files = voice_form(clips, **kw)
    r = api.post("/v1/voices", data=data, files=files)
    assert r.status_code == 201, r.text
    return r.json()


def test_voice_lifecycle_and_speech(api, spoken_clips, service_settings):
    voice = make_voice(api, spoken_clips[:2], name="alice")
    assert voice["mode"] == "sea-enc" and voice["clips"] == 2 and voice["job"] is None
    assert 3.0 < voice["seconds"] < 15.0 and voice["profile_bytes"] > 0
    assert [v["id"] for v in api.get("/v1/voices").json()] == [voice["id"]]
    assert api.get(f"/v1/voices/{voice['id']}").json()["name"] == "alice"
    folder = service_settings.data_dir / "voices" / voice["id"]
    assert len(list((folder / "clips").glob("*.wav"))) == 2

    r = api.post("/v1/tts", json={"text": "Good morning. How are you today?", "voice": voice["id"]})
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    samples, rate = decode(r.content)
    assert rate == 16000 and is_speech(samples, rate, 1.0)
    # the name works too, and the same seed gives the same audio
    again = api.post("/v1/tts", json={"text": "Good morning. How are you today?", "voice": "alice"})
    assert again.content == r.content

    assert api.delete(f"/v1/voices/{voice['id']}").status_code == 204
    assert api.get(f"/v1/voices/{voice['id']}").status_code == 404
    assert not folder.exists()
    assert api.post("/v1/tts", json={"text": "Hi.", "voice": voice["id"]}).status_code == 404


def test_voices_sound_like_their_references(api, spoken_clips, bundled_model):
    """Two reference voices (one pitched up by a quarter) give two voices, and each one's
    speech is nearer its own reference than the other's, as the model's encoder hears it."""
    from voiceadapt.inference import embedding_from_references

    wav, rate = decode(spoken_clips[0][0])
    shifted = np.interp(np.arange(0, len(wav), 0.8), np.arange(len(wav)), wav)  # pitched up
    buf = io.BytesIO()
    sf.write(buf, shifted.astype(np.float32), rate, format="WAV")
    refs = {"low": spoken_clips[0][0], "high": buf.getvalue()}
    voices = {k: make_voice(api, [(data, spoken_clips[0][1])], name=k) for k, data in refs.items()}
    heard = {}
    for k, voice in voices.items():
        r = api.post("/v1/tts", json={"text": "Testing one two three, four five six.",
                                      "voice": voice["id"]})
        assert r.status_code == 200, r.text
        heard[k] = r.content
    emb = {f"{kind}-{k}": embedding_from_references(bundled_model, [io.BytesIO(data)])
           for kind, group in (("ref", refs), ("tts", heard)) for k, data in group.items()}
    cos = {pair: float(torch.nn.functional.cosine_similarity(emb[pair[0]], emb[pair[1]], dim=0))
           for pair in [("tts-low", "ref-low"), ("tts-low", "ref-high"),
                        ("tts-high", "ref-high"), ("tts-high", "ref-low")]}
    assert cos["tts-low", "ref-low"] > cos["tts-low", "ref-high"], cos
    assert cos["tts-high", "ref-high"] > cos["tts-high", "ref-low"], cos


@pytest.mark.parametrize("fmt,rate,media", [("wav", 24000, "audio/wav"),
                                            ("flac", 16000, "audio/flac"),
                                            ("opus", 48000, "audio/ogg"),
                                            ("mp3", 22050, "audio/mpeg")])
def test_output_formats(api, fmt, rate, media):
    r = api.post("/v1/tts", json={"text": "The weather is fine.", "voice": "alloy",
                                  "format": fmt, "sample_rate": rate})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == media
    samples, got = decode(r.content)
    assert got == rate and is_speech(samples, got)


def test_pcm_and_speed(api):
    slow = api.post("/v1/tts", json={"text": "The weather is fine today.", "voice": "alloy",
                                     "format": "pcm", "speed": 0.5}).content
    fast = api.post("/v1/tts", json={"text": "The weather is fine today.", "voice": "alloy",
                                     "format": "pcm", "speed": 2.0}).content
    assert len(slow) % 2 == 0 and len(slow) > 2.5 * len(fast)
    assert np.abs(np.frombuffer(fast, "<i2")).max() > 1000


def test_oneshot_keeps_nothing_unless_asked(api, spoken_clips):
    data, files = voice_form(spoken_clips[:1])
    form = {"text": "Nice to meet you.", "consent": "true"}
    r = api.post("/v1/tts/oneshot", data=form, files=files)
    assert r.status_code == 200 and is_speech(*decode(r.content))
    assert api.get("/v1/voices").json() == []
    r = api.post("/v1/tts/oneshot", data={**form, "store_as": "kept"}, files=files)
    assert r.status_code == 200
    assert [v["id"] for v in api.get("/v1/voices").json()] == [r.headers["x-voice-id"]]
    r = api.post("/v1/tts/oneshot", data={**form, "consent": "false"}, files=files)
    assert r.status_code == 422 and "consent" in r.text


def test_bad_input_gets_clear_errors(api, spoken_clips, service_settings):
    data, files = voice_form(spoken_clips[:1])
    cases = [
        ({**data, "consent": "false"}, files, 422, "consent"),
        (data, [("files", ("a.wav", b"this is not audio at all" * 10, "audio/wav"))], 415, "a.wav"),
        (data, [("files", ("big.wav", b"\0" * (service_settings.max_upload_bytes + 10),
                           "audio/wav"))], 413, "larger"),
        ({**data, "mode": "sea-all"}, files, 422, "transcript"),
        ({**data, "transcripts": ["one", "two"]}, files, 422, "transcripts for 1 clips"),
    ]
    silent = io.BytesIO()
    sf.write(silent, np.zeros(32000, np.float32), 16000, format="WAV")
    cases.append((data, [("files", ("quiet.wav", silent.getvalue(), "audio/wav"))], 422, "silent"))
    long_clip = io.BytesIO()
    sf.write(long_clip, 0.1 * np.random.default_rng(0).standard_normal(16000 * 25).astype(np.float32),
             16000, format="WAV")
    cases.append((data, [("files", ("long.wav", long_clip.getvalue(), "audio/wav"))], 413, "long"))
    for form, upload, status, words in cases:
        r = api.post("/v1/voices", data=form, files=upload)
        assert r.status_code == status, (status, r.text)
        assert words in r.text, r.text
    assert api.get("/v1/voices").json() == []  # nothing half-made was kept
    assert not any((service_settings.data_dir / "voices").iterdir())

    too_long = "word " * 100
    tts_cases = [({"text": too_long, "voice": "alloy"}, 413),
                 ({"text": "Hi.", "voice": "nobody"}, 404),
                 ({"text": "Hi.", "voice": "alloy", "format": "aiff"}, 422),
                 ({"text": "Hi.", "voice": "alloy", "sample_rate": 12345}, 422),
                 ({"text": "Hi.", "voice": "alloy", "format": "mp3", "stream": True}, 422),
                 ({"text": "Hi.", "voice": "alloy", "speed": 9}, 422),
                 ({"text": "   ", "voice": "alloy"}, 422)]
    for body, status in tts_cases:
        assert api.post("/v1/tts", json=body).status_code == status, body


def test_keys_isolate_tenants(service_settings, bundled_model, spoken_clips):
    app = create_app(service_settings, model=bundled_model)
    with local_client(app) as api:
        db = api.app.state.service.db
        a, b = auth.create_key(db, "a"), auth.create_key(db, "b")
        ha, hb = {"Authorization": f"Bearer {a}"}, {"Authorization": f"Bearer {b}"}
        assert api.get("/v1/voices").status_code == 401
        assert api.get("/v1/voices", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert api.post("/v1/frontend/text", json={"text": "Hi."}).status_code == 401
        assert api.post("/v1/frontend/text", json={"text": "Hi."}, headers=ha).status_code == 200
        data, files = voice_form(spoken_clips[:1], name="mine")
        voice = api.post("/v1/voices", data=data, files=files, headers=ha).json()
        assert api.get("/v1/voices", headers=hb).json() == []
        for method, path in [("get", f"/v1/voices/{voice['id']}"),
                             ("delete", f"/v1/voices/{voice['id']}")]:
            assert getattr(api, method)(path, headers=hb).status_code == 404
        assert api.post(f"/v1/voices/{voice['id']}/adapt", json={"mode": "sea-emb"},
                        headers=hb).status_code == 404
        for body in ({"text": "Hi.", "voice": voice["id"]}, {"text": "Hi.", "voice": "mine"}):
            assert api.post("/v1/tts", json=body, headers=hb).status_code == 404
        speech = {"input": "Hi.", "voice": voice["id"]}
        assert api.post("/v1/audio/speech", json=speech, headers=hb).status_code == 404
        assert api.post("/v1/audio/speech", json=speech, headers=ha).status_code == 200
        assert api.get(f"/v1/voices/{voice['id']}", headers=ha).status_code == 200
        stored = db.engine.connect().exec_driver_sql("SELECT key_hash FROM api_keys").fetchall()
        assert a not in str(stored) and auth.hash_key(a) in str(stored)


def test_openai_shape(api):
    models = api.get("/v1/models").json()
    assert models["object"] == "list" and "tts-1" in [m["id"] for m in models["data"]]
    names = [v["id"] for v in api.get("/v1/audio/voices").json()["voices"]]
    assert {"alloy", "nova", "shimmer"} <= set(names)
    r = api.post("/v1/audio/speech", json={"model": "tts-1", "input": "Hello world.",
                                           "voice": "nova"})
    assert r.status_code == 200 and r.headers["content-type"] == "audio/mpeg"
    samples, rate = decode(r.content)
    assert rate == 24000 and is_speech(samples, rate)
    pcm = api.post("/v1/audio/speech", json={"model": "tts-1", "input": "Hello world.",
                                             "voice": "nova", "response_format": "pcm"})
    assert abs(len(pcm.content) / 2 / 24000 - len(samples) / rate) < 0.05
    assert api.post("/v1/audio/speech", json={"model": "tts-1", "input": "Hi.", "voice": "nova",
                                              "response_format": "aac"}).status_code == 422
    assert api.post("/v1/audio/speech", json={"model": "dall-e", "input": "Hi.",
                                              "voice": "nova"}).status_code == 404


def test_operations(api):
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/readyz").json()["ready"] is True
    api.post("/v1/tts", json={"text": "Count me.", "voice": "alloy"})
    text = api.get("/metrics").text
    assert 'voiceadapt_http_requests_total{method="POST",route="/v1/tts",status="200"}' in text
    assert "voiceadapt_synthesis_real_time_factor_count" in text
    assert "voiceadapt_job_queue_depth 0.0" in text
    assert api.get("/docs").status_code == 200
    assert "/v1/audio/speech" in api.get("/openapi.json").json()["paths"]
    page = api.get("/")
    assert page.status_code == 200 and "voiceadapt" in page.text
    assert api.get("/healthz").headers["x-request-id"]


def test_voice_and_clip_count_limits(service_settings, bundled_model, spoken_clips):
    settings = service_settings.model_copy(update={"max_voice_seconds": 5.0, "max_clips": 2})
    with local_client(create_app(settings, model=bundled_model)) as api:
        data, files = voice_form(spoken_clips)  # three clips, about 9 s
        r = api.post("/v1/voices", data=data, files=files)
        assert r.status_code == 413 and "3 clips; the limit is 2" in r.text
        data, files = voice_form(spoken_clips[:2])
        r = api.post("/v1/voices", data=data, files=files)
        assert r.status_code == 413 and "at most 5 s" in r.text
        half = len(spoken_clips[0][0]) // 2 + 1000  # two uploads that pass the byte limit together
        small = settings.model_copy(update={"max_upload_bytes": 2 * half - 2000})
    with local_client(create_app(small, model=bundled_model)) as api:
        data, files = voice_form([spoken_clips[0], spoken_clips[0]])
        r = api.post("/v1/voices", data=data, files=files)
        assert r.status_code == 413 and "larger than" in r.text


def test_cors(service_settings, bundled_model):
    settings = service_settings.model_copy(update={"cors_origins": ["https://app.example"]})
    with local_client(create_app(settings, model=bundled_model)) as api:
        r = api.options("/v1/tts", headers={"Origin": "https://app.example",
                                            "Access-Control-Request-Method": "POST"})
        assert r.headers["access-control-allow-origin"] == "https://app.example"
        r = api.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers


def test_hostile_or_broken_inputs(api, spoken_clips, service_settings):
    # many channels at a high rate: refused before decoding, however small the file
    buf = io.BytesIO()
    sf.write(buf, np.zeros((1000, 12), np.float32), 16000, format="WAV")
    data, _ = voice_form(spoken_clips[:1])
    r = api.post("/v1/voices", data=data, files=[("files", ("wide.wav", buf.getvalue(),
                                                            "audio/wav"))])
    assert r.status_code == 415 and "channels" in r.text
    # a declared body far over the limit: 413 before it is read
    big = b"\0" * (service_settings.max_upload_bytes + 200_000)
    r = api.post("/v1/voices", data=data, files=[("files", ("big.wav", big, "audio/wav"))])
    assert r.status_code == 413 and "at most" in r.text
    # a stored voice whose profile no longer loads: 409, not a crash
    voice = make_voice(api, spoken_clips[:1], name="broken")
    (service_settings.data_dir / "voices" / voice["id"] / "profile" / "voice.safetensors"
     ).write_bytes(b"not a profile")
    r = api.post("/v1/tts", json={"text": "Hello.", "voice": voice["id"]})
    assert r.status_code == 409 and "adapt it again" in r.text


def test_refused_job_leaves_no_voice(service_settings, bundled_model, spoken_clips):
    settings = service_settings.model_copy(update={"local_workers": 0, "max_jobs_per_key": 1})
    with local_client(create_app(settings, model=bundled_model)) as api:
        first = make_voice(api, spoken_clips[:1], transcripts=True, mode="sea-emb")
        assert first["job"]["state"] == "queued"
        data, files = voice_form(spoken_clips[:1], transcripts=True, mode="sea-emb", name="two")
        r = api.post("/v1/voices", data=data, files=files)
        assert r.status_code == 429
        assert [v["id"] for v in api.get("/v1/voices").json()] == [first["id"]]
        job = api.get(f"/v1/jobs/{first['job']['id']}").json()
        assert job["seconds"] is None and job["created_at"].endswith(("Z", "+00:00"))


def test_a_request_processes_its_text_once(api, monkeypatch):
    """/v1/tts checks the text's sentences and speaks those: the library never processes
    (normalizes, phonemizes) the same text a second time."""
    import importlib

    synth = importlib.import_module("voiceadapt.inference.synthesize")  # the module, not the function

    def again(*args, **kwargs):
        raise AssertionError("the text was processed a second time")

    monkeypatch.setattr(synth, "process", again)
    r = api.post("/v1/tts", json={"text": "Hello there. How are you?", "voice": "alloy"})
    assert r.status_code == 200, r.text
    samples, rate = decode(r.content)
    assert is_speech(samples, rate)
